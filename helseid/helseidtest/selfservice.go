package helseidtest

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/helseid-go/sdk/helseid"
)

// The self-service (Selvbetjening) API, as far as key rotation needs it.
const (
	// ClientSecretPath is the self-service endpoint that registers a client's new public key,
	// relative to SelfServiceURL.
	ClientSecretPath = "/v1/client-secret"
	// SelfServiceAudience is the self-service API's audience.
	SelfServiceAudience = "nhn:selvbetjening"
	// SelfServiceScope is the scope a client needs to register its keys; add it to the
	// client's ClientRegistration.Scopes.
	SelfServiceScope = SelfServiceAudience + "/client"
)

// maxClientSecretBody bounds the public JWK a client registers.
const maxClientSecretBody = 64 << 10

// SelfServiceURL returns the base URL of the self-service API, to use in place of
// HelseID's (selfservice.TestBaseURL): the server's own URL.
func (s *Server) SelfServiceURL() string { return s.issuer }

// serveClientSecret registers a client's new public key: POST ClientSecretPath with a
// DPoP-bound token for SelfServiceScope and the public JWK (alg, kid and use "sig") as an
// application/json body. The new key replaces the client's keys at once: assertions signed by
// the old key are refused with invalid_client from this answer on. The answer is
// {"expiration": RFC 3339}; errors are RFC 9457 problem+json, as the real API sends them.
func (s *Server) serveClientSecret(w http.ResponseWriter, r *http.Request) {
	s.stats.selfServiceRequests.Add(1)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeProblem(w, http.StatusMethodNotAllowed, "Method not allowed", "use POST")
		return
	}
	guard, _, err := s.guardOf(&s.selfService, SelfServiceAudience)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "Internal server error", "helseidtest: "+err.Error())
		return
	}
	claims, err := guard.Authenticate(r)
	if err != nil {
		var aerr *helseid.AuthError
		if !errors.As(err, &aerr) || aerr.Status >= http.StatusInternalServerError {
			writeProblem(w, http.StatusServiceUnavailable, "Service unavailable", "helseidtest: "+err.Error())
			return
		}
		if aerr.Code == "" {
			w.Header().Set("WWW-Authenticate", `DPoP algs="`+apiAlgs+`"`)
		} else {
			w.Header().Set("WWW-Authenticate", challenge(aerr.Code, aerr.Err.Error()))
		}
		writeProblem(w, aerr.Status, "Unauthorized", aerr.Err.Error())
		return
	}
	if !claims.HasScope(SelfServiceScope) {
		w.Header().Set("WWW-Authenticate", challenge("insufficient_scope", "the token lacks scope "+SelfServiceScope))
		writeProblem(w, http.StatusForbidden, "Forbidden", "the access token lacks scope "+SelfServiceScope)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, "Unsupported media type", "the body must be application/json")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxClientSecretBody+1))
	if err != nil || len(body) > maxClientSecretBody {
		writeProblem(w, http.StatusBadRequest, "Bad request", "the body cannot be read or is larger than 64 KiB")
		return
	}
	key, err := parseRegisteredJWK(body)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "Invalid public key", err.Error())
		return
	}
	expiration := s.now().Add(s.opts.ClientKeyLifetime).UTC().Truncate(time.Second)
	if !s.replaceKeys(claims.ClientID, key, expiration) {
		writeProblem(w, http.StatusNotFound, "Not found", "unknown client")
		return
	}
	s.stats.keysRegistered.Add(1)
	writeJSON(w, http.StatusOK, struct {
		Expiration string `json:"expiration"`
	}{expiration.Format(time.RFC3339)})
}

// parseRegisteredJWK checks a public JWK as self-service takes it: one key (not a set) with
// kid, alg and use "sig", fitting its algorithm, and no private material.
func parseRegisteredJWK(body []byte) (*publicKey, error) {
	m, err := decodeObject(body)
	if err != nil {
		return nil, errors.New("the body is not a JWK JSON object")
	}
	if _, ok := m["keys"]; ok {
		return nil, errors.New("register one JWK, not a JWK set")
	}
	var use string
	if raw, ok := m["use"]; !ok || json.Unmarshal(raw, &use) != nil || use != "sig" {
		return nil, errors.New(`the JWK must carry "use":"sig"`)
	}
	if _, ok := m["alg"]; !ok {
		return nil, errors.New(`the JWK must carry "alg"`)
	}
	keys, err := parseClientKeys(body)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		return k, nil
	}
	return nil, errors.New("no key")
}

// replaceKeys makes key, expiring at expires, the client's only key. It reports false for an
// unknown client.
func (s *Server) replaceKeys(clientID string, key *publicKey, expires time.Time) bool {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	old, ok := s.clients[clientID]
	if !ok {
		return false
	}
	next := *old
	next.keys = map[string]*publicKey{key.kid: key}
	next.expires = expires
	s.clients[clientID] = &next
	return true
}

// ClientKeyIDs returns the kids of the client's registered keys, sorted, and when they expire
// (zero: never). It reports false for an unknown client.
func (s *Server) ClientKeyIDs(clientID string) (kids []string, expires time.Time, ok bool) {
	c := s.client(clientID)
	if c == nil {
		return nil, time.Time{}, false
	}
	return slices.Sorted(maps.Keys(c.keys)), c.expires, true
}

// writeProblem writes an RFC 9457 problem+json error, as the self-service API does. detail
// names what was wrong and never quotes a token or key.
func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	body, _ := json.Marshal(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail,omitempty"`
	}{"about:blank", title, status, detail})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
