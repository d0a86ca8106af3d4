package helseidtest

import (
	"net/http"
	"strings"
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

// serveAPI is a DPoP-protected resource (RFC 9449 §7): Authorization: DPoP <token> plus a
// proof with ath, checked against the token's cnf.jkt. Order: Authorization header; token;
// proof (jti recorded when otherwise valid); key binding; RS nonce when required.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	s.stats.apiRequests.Add(1)
	if r.URL.Query().Has("access_token") {
		s.apiReject(w, http.StatusBadRequest, errInvalidRequest, "access tokens are not accepted in the URL")
		return
	}
	auths := r.Header.Values("Authorization")
	switch {
	case len(auths) == 0:
		// RFC 6750 §3.1: no error information when the request carries no authentication.
		s.stats.apiRejections.Add(1)
		w.Header().Set("WWW-Authenticate", `DPoP algs="`+apiAlgs+`"`)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusUnauthorized)
		return
	case len(auths) > 1:
		s.apiReject(w, http.StatusBadRequest, errInvalidRequest, "more than one Authorization header")
		return
	}
	scheme, token, _ := strings.Cut(auths[0], " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		s.apiReject(w, http.StatusUnauthorized, errInvalidToken, "DPoP-bound access tokens must use the DPoP scheme, not Bearer")
		return
	case !strings.EqualFold(scheme, "DPoP"):
		s.apiReject(w, http.StatusUnauthorized, errInvalidToken, "the authorization scheme must be DPoP")
		return
	case token == "" || strings.ContainsAny(token, " \t"):
		s.apiReject(w, http.StatusUnauthorized, errInvalidToken, "malformed DPoP authorization header")
		return
	}
	claims, err := s.verifyAccessToken(token, s.now())
	if err != nil {
		s.apiReject(w, http.StatusUnauthorized, errInvalidToken, err.Error())
		return
	}
	pc := proofCheck{method: r.Method, htu: requestURL(r), accessToken: token}
	if s.apiNonce.Load() {
		pc.nonce = s.rsNonce
	}
	key, perr := s.checkProof(r, pc)
	if perr != nil {
		switch perr.kind {
		case proofNeedsNonce:
			s.stats.apiNonceChallenges.Add(1)
			w.Header().Set("DPoP-Nonce", s.rsNonce.value())
			w.Header().Set("WWW-Authenticate", challenge(errUseDPoPNonce, "Resource server requires nonce in DPoP proof"))
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": errUseDPoPNonce, "error_description": "Resource server requires nonce in DPoP proof"})
		case proofUnavailable:
			s.apiReject(w, http.StatusServiceUnavailable, errTemporarilyUnavail, perr.desc)
		default:
			s.apiReject(w, http.StatusUnauthorized, errInvalidDPoPProof, perr.desc)
		}
		return
	}
	if key.jkt != claims.Confirmation.JKT {
		s.apiReject(w, http.StatusUnauthorized, errInvalidToken, "Invalid DPoP key binding")
		return
	}
	if s.apiNonce.Load() {
		w.Header().Set("DPoP-Nonce", s.rsNonce.value())
	}
	writeJSON(w, http.StatusOK, APIResponse{
		Method:        r.Method,
		Path:          r.URL.Path,
		ClientID:      claims.ClientID,
		Subject:       claims.Subject,
		Scope:         claims.Scope,
		Audience:      claims.Audience,
		Confirmation:  claims.Confirmation,
		OrgNrParent:   claims.OrgNrParent,
		OrgNrChild:    claims.OrgNrChild,
		OrgNrSupplier: claims.OrgNrSupplier,
		ClientTenancy: claims.ClientTenancy,
	})
}

// apiReject writes an error with a DPoP challenge (RFC 9449 §7.1, RFC 6750 §3).
func (s *Server) apiReject(w http.ResponseWriter, status int, code, desc string) {
	s.stats.apiRejections.Add(1)
	w.Header().Set("WWW-Authenticate", challenge(code, desc))
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

// requestURL is the URL the request was made to as the server sees it, without query or
// fragment: the value a proof's htu must equal. No normalisation is applied.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}
