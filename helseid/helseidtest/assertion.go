package helseidtest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

const (
	// ClientAssertionType is the only accepted client_assertion_type (RFC 7523 §2.2).
	ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// ClientAssertionTyp is the required typ header of client assertions, as NHN's libraries
	// and samples send it (and rfc7523bis names it).
	ClientAssertionTyp = "client-authentication+jwt"
	// maxJTILength bounds stored jti values.
	maxJTILength = 256
)

// clientAssertion is a validated private_key_jwt client assertion whose jti is not yet consumed.
type clientAssertion struct {
	client *registeredClient
	jti    string
	exp    time.Time
	claims members
}

func (a *clientAssertion) replayKey() string { return a.client.reg.ID + "\x00" + a.jti }

// authenticateClient performs private_key_jwt client authentication (RFC 7523 §2.2, FAPI 2.0
// §5.3.3.1, HelseID §1) on a parsed token-endpoint form. Every failure is invalid_client.
// It checks, but does not record, the assertion's jti: see consumeAssertion.
func (s *Server) authenticateClient(r *http.Request, form url.Values) (*clientAssertion, *oauthError) {
	if r.Header.Get("Authorization") != "" {
		return nil, newError(errInvalidClient, "client authentication must be private_key_jwt only; an Authorization header is not accepted")
	}
	if _, ok := form["client_secret"]; ok {
		return nil, newError(errInvalidClient, "client secrets are not accepted; use private_key_jwt")
	}
	switch t := form.Get("client_assertion_type"); t {
	case ClientAssertionType:
	case "":
		return nil, newError(errInvalidClient, "client_assertion_type is missing")
	default:
		return nil, newError(errInvalidClient, "client_assertion_type must be "+ClientAssertionType)
	}
	raw := form.Get("client_assertion")
	if raw == "" {
		return nil, newError(errInvalidClient, "client_assertion is missing")
	}
	a, err := s.validateAssertion(raw, form.Get("client_id"))
	if err != nil {
		return nil, newError(errInvalidClient, "client assertion: "+err.Error())
	}
	return a, nil
}

// validateAssertion checks a client assertion. Order: JWS structure, header (typ, alg, kid),
// issuer and client, key and signature, then aud, exp, iat, nbf and jti. Error texts name the
// failed check and never contain the assertion.
func (s *Server) validateAssertion(raw, formClientID string) (*clientAssertion, error) {
	j, err := parseCompactJWS(raw)
	if err != nil {
		return nil, fmt.Errorf("malformed JWS: %w", err)
	}
	typ, ok, err := j.header.str("typ")
	if err != nil || !ok || typ != ClientAssertionTyp {
		return nil, errors.New(`typ header must be "` + ClientAssertionTyp + `"`)
	}
	if !algAllowed(assertionAlgs, j.alg) {
		return nil, fmt.Errorf("alg %s is not allowed (RS/PS/ES 256/384/512 only)", short(j.alg))
	}
	for _, p := range []string{"jwk", "jku", "x5u"} {
		if _, ok := j.header[p]; ok {
			return nil, fmt.Errorf("header parameter %q is not allowed; the key is the registered one", p)
		}
	}
	kid, err := j.header.requiredStr("kid")
	if err != nil {
		return nil, errors.New("kid header is missing")
	}
	iss, err := j.payload.requiredStr("iss")
	if err != nil {
		return nil, err
	}
	sub, err := j.payload.requiredStr("sub")
	if err != nil {
		return nil, err
	}
	if iss != sub {
		return nil, errors.New("iss and sub must both be the client_id")
	}
	if formClientID != "" && formClientID != iss {
		return nil, errors.New("the client_id parameter does not match iss")
	}
	client := s.client(iss)
	if client == nil {
		return nil, errors.New("unknown client")
	}
	key := client.keys[kid]
	if key == nil {
		return nil, errors.New("kid does not name a registered key of the client")
	}
	if j.alg != key.alg {
		return nil, fmt.Errorf("alg must be the registered key's alg %s", key.alg)
	}
	if err := j.verify(key); err != nil {
		return nil, errors.New("signature does not verify")
	}
	if !client.expires.IsZero() && !s.now().Before(client.expires) {
		// The key itself has expired (or was replaced through self-service, which drops it
		// from the client above): HelseID stops the integration until a new key is registered.
		return nil, errors.New("the client's key has expired; register a new one through self-service")
	}

	audRaw, ok := j.payload["aud"]
	if !ok {
		return nil, errors.New("aud is missing")
	}
	if len(audRaw) == 0 || audRaw[0] != '"' {
		return nil, errors.New("aud must be the issuer as a single JSON string, not an array")
	}
	aud, _, err := j.payload.str("aud")
	if err != nil {
		return nil, err
	}
	if aud != s.issuer {
		if aud == s.TokenEndpoint() {
			return nil, errors.New("aud is the token endpoint; it must be the issuer " + s.issuer)
		}
		return nil, errors.New("aud must be exactly the issuer " + s.issuer)
	}

	now, leeway := s.now(), s.opts.Leeway
	exp, err := j.payload.requiredDate("exp")
	if err != nil {
		return nil, err
	}
	if !now.Before(exp.Add(leeway)) {
		return nil, errors.New("expired (exp is in the past)")
	}
	if exp.After(now.Add(MaxAssertionLifetime + leeway)) {
		return nil, errors.New("exp is more than 60 seconds in the future")
	}
	iat, err := j.payload.requiredDate("iat")
	if err != nil {
		return nil, err
	}
	if iat.After(now.Add(leeway)) {
		return nil, errors.New("iat is in the future")
	}
	if nbf, ok, err := j.payload.date("nbf"); err != nil {
		return nil, err
	} else if ok && nbf.After(now.Add(leeway)) {
		return nil, errors.New("not yet valid (nbf is in the future)")
	}
	jti, err := j.payload.requiredStr("jti")
	if err != nil {
		return nil, err
	}
	if len(jti) > maxJTILength {
		return nil, errors.New("jti is too long")
	}
	a := &clientAssertion{client: client, jti: jti, exp: exp, claims: j.payload}
	if s.assertionJTIs.used(a.replayKey(), now) {
		return nil, errors.New("jti has already been used")
	}
	return a, nil
}

// consumeAssertion records the assertion's jti (atomically: of concurrent requests with one
// assertion, one wins). It is kept until exp plus leeway, after which exp refuses it anyway.
func (s *Server) consumeAssertion(a *clientAssertion) *oauthError {
	switch err := s.assertionJTIs.record(a.replayKey(), a.exp.Add(s.opts.Leeway), s.now()); {
	case err == nil:
		return nil
	case errors.Is(err, errReplayFull):
		return newError(errTemporarilyUnavail, "helseidtest: replay cache full")
	default:
		return newError(errInvalidClient, "client assertion: jti has already been used")
	}
}

// short quotes an untrusted header value for an error text, cut to a few characters.
func short(s string) string {
	if len(s) > 16 {
		s = s[:16] + "…"
	}
	return fmt.Sprintf("%q", s)
}
