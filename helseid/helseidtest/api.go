package helseidtest

import (
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
)

// APIResponse is the demo API's success body: the request it saw and the claims of the
// validated access token.
type APIResponse struct {
	Method        string   `json:"method"`
	Path          string   `json:"path"`
	ClientID      string   `json:"client_id"`
	Subject       string   `json:"sub"`
	Scope         []string `json:"scope"`
	Audience      string   `json:"aud"`
	Confirmation  Cnf      `json:"cnf"`
	OrgNrParent   string   `json:"orgnr_parent,omitempty"`
	OrgNrChild    string   `json:"orgnr_child,omitempty"`
	OrgNrSupplier string   `json:"orgnr_supplier,omitempty"`
	ClientTenancy string   `json:"client_tenancy"`
}

// apiAlgs is the algs parameter of the demo API's WWW-Authenticate challenges.
var apiAlgs = strings.Join(proofAlgs, " ")

// demoAPI protects the demo API with the SDK's own helseid.Guard, so the checks an API
// provider gets are the ones every SDK test meets. The guard is rebuilt when the API's nonce
// setting or the server's signing keys change, so it sees them at once; the replay store
// outlives the rebuilds, so a proof is accepted once whatever happened in between.
type demoAPI struct {
	mu       sync.Mutex
	guard    *helseid.Guard
	nonces   *dpop.NonceSource // nil while no nonce is required
	required bool
	replay   dpop.ReplayStore
}

// apiGuard returns the demo API's current guard and nonce source, building them on first use.
func (s *Server) apiGuard() (*helseid.Guard, *dpop.NonceSource, error) {
	return s.guardOf(&s.api, s.opts.APIAudience)
}

// guardOf returns a's current guard for tokens to audience, and its nonce source.
func (s *Server) guardOf(a *demoAPI, audience string) (*helseid.Guard, *dpop.NonceSource, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.guard != nil {
		return a.guard, a.nonces, nil
	}
	if a.replay == nil {
		a.replay = dpop.NewMemoryReplayStore(dpop.MemoryReplayStoreConfig{Now: s.opts.Now})
	}
	a.nonces = nil
	if a.required {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		ns, err := dpop.NewNonceSource(secret, 0, s.opts.Now)
		if err != nil {
			return nil, nil, err
		}
		a.nonces = ns
	}
	leeway := s.opts.Leeway
	if leeway == 0 {
		leeway = -1 // the options' zero is "none" once Start has applied defaults
	}
	g, err := helseid.NewGuard(helseid.GuardConfig{
		AccessTokenConfig: helseid.AccessTokenConfig{
			Issuer: s.issuer, Audience: audience, HTTPClient: s.ts.Client(), Now: s.opts.Now,
			Algorithms: []string{"RS256"}, Leeway: -1, // its own tokens: RS256, exp, nbf and iat exact
		},
		DPoP: dpop.VerifierConfig{
			Algorithms: proofAlgs, MaxAge: s.opts.ProofWindow, Leeway: leeway, Replay: a.replay, Nonces: a.nonces,
		},
	})
	if err != nil {
		return nil, nil, err
	}
	a.guard = g
	return g, a.nonces, nil
}

// resetAPIGuard makes the next API request build a new guard.
func (s *Server) resetAPIGuard(change func(*demoAPI)) { resetGuard(&s.api, change) }

// resetGuard makes a's next request build a new guard.
func resetGuard(a *demoAPI, change func(*demoAPI)) {
	a.mu.Lock()
	old := a.guard
	if change != nil {
		change(a)
	}
	a.guard = nil
	a.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// serveAPI is a DPoP-protected resource (RFC 9449 §7) behind helseid.Guard. Unlike a
// production API it says in error_description which check failed, to help debug clients.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	s.stats.apiRequests.Add(1)
	guard, nonces, err := s.apiGuard()
	if err != nil {
		s.apiReject(w, http.StatusInternalServerError, errServerError, "helseidtest: "+err.Error())
		return
	}
	if nonces != nil {
		w.Header().Set("DPoP-Nonce", nonces.Nonce())
	}
	claims, err := guard.Authenticate(r)
	if err != nil {
		var aerr *helseid.AuthError
		if !errors.As(err, &aerr) {
			s.apiReject(w, http.StatusInternalServerError, errServerError, "helseidtest: "+err.Error())
			return
		}
		switch {
		case aerr.Code == "" && aerr.Status == http.StatusUnauthorized:
			// RFC 6750 §3.1: no error information when the request carries no authentication.
			s.stats.apiRejections.Add(1)
			w.Header().Set("WWW-Authenticate", `DPoP algs="`+apiAlgs+`"`)
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusUnauthorized)
		case aerr.Code == errUseDPoPNonce:
			s.stats.apiNonceChallenges.Add(1)
			w.Header().Set("WWW-Authenticate", challenge(errUseDPoPNonce, "Resource server requires nonce in DPoP proof"))
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": errUseDPoPNonce, "error_description": "Resource server requires nonce in DPoP proof"})
		case aerr.Code == "":
			s.apiReject(w, aerr.Status, errTemporarilyUnavail, aerr.Err.Error())
		default:
			s.apiReject(w, aerr.Status, aerr.Code, aerr.Err.Error())
		}
		return
	}
	writeJSON(w, http.StatusOK, APIResponse{
		Method:        r.Method,
		Path:          r.URL.Path,
		ClientID:      claims.ClientID,
		Subject:       claims.Subject,
		Scope:         claims.Scopes,
		Audience:      claims.Audience,
		Confirmation:  Cnf{JKT: claims.JKT},
		OrgNrParent:   claims.OrgNrParent,
		OrgNrChild:    claims.OrgNrChild,
		OrgNrSupplier: claims.OrgNrSupplier,
		ClientTenancy: claims.ClientTenancy,
	})
}

// apiReject writes an error with a DPoP challenge (RFC 9449 §7.1, RFC 6750 §3).
func (s *Server) apiReject(w http.ResponseWriter, status int, code, desc string) {
	s.stats.apiRejections.Add(1)
	if status < http.StatusInternalServerError { // the server's own trouble is no challenge to the client
		w.Header().Set("WWW-Authenticate", challenge(code, desc))
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func challenge(code, desc string) string {
	desc = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return '\''
		}
		return r
	}, desc)
	return `DPoP error="` + code + `", error_description="` + desc + `", algs="` + apiAlgs + `"`
}
