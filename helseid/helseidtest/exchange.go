package helseidtest

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"
)

// Token-exchange identifiers (RFC 8693).
const (
	GrantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// TestUser is the person a user token is issued for.
type TestUser struct {
	// PID is the national identity number (fødselsnummer), a synthetic one in tests.
	PID string
	// SecurityLevel is "3" or "4" (as a string, like HelseID's claim).
	SecurityLevel string
	// HPRNumber is the health professional's HPR number; empty for other users.
	HPRNumber string
	// Name is the display name.
	Name string
}

// DefaultTestUser is the user of IssueUserToken when none is given: a synthetic test person
// at security level 4 with an HPR number.
func DefaultTestUser() TestUser {
	return TestUser{PID: "06828399789", SecurityLevel: "4", HPRNumber: "565501872", Name: "Grønn Vits"}
}

// UserTokenRequest asks IssueUserToken for an access token issued to a client for a user.
type UserTokenRequest struct {
	// ClientID is a registered client; the token is issued to it.
	ClientID string
	// Scopes are scopes of one API, each registered for the client; the API is the audience.
	Scopes []string
	// JKT is the thumbprint of the DPoP key the token is bound to (dpop.Proofer.Thumbprint).
	JKT string
	// User is the person; the zero value means DefaultTestUser.
	User TestUser
}

// IssueUserToken issues an access token for a logged-in user directly, as HelseID's Test Token
// Service does for test environments: signed like every token of the server, DPoP-bound to
// req.JKT, with the user's claims and a pseudonymous sub. It stands in for a login when a
// test needs a user's token, for example the subject token of a token exchange.
func (s *Server) IssueUserToken(req UserTokenRequest) (string, error) {
	c := s.client(req.ClientID)
	if c == nil {
		return "", errors.New("helseidtest: IssueUserToken: unknown client")
	}
	if req.JKT == "" {
		return "", errors.New("helseidtest: IssueUserToken: JKT is required (tokens are DPoP-bound)")
	}
	form := url.Values{"scope": {strings.Join(req.Scopes, " ")}}
	scopes, api, oerr := checkScopes(c, form)
	if oerr != nil {
		return "", errors.New("helseidtest: IssueUserToken: " + oerr.desc)
	}
	user := req.User
	if user == (TestUser{}) {
		user = DefaultTestUser()
	}
	org, oerr := resolveOrg(c, nil)
	if oerr != nil {
		return "", errors.New("helseidtest: IssueUserToken: " + oerr.desc)
	}
	claims := s.accessTokenClaims(c, scopes, api, req.JKT, org, s.now())
	claims.Subject = pseudonym(user.PID)
	claims.PID, claims.SecurityLevel, claims.HPRNumber, claims.Name = user.PID, user.SecurityLevel, user.HPRNumber, user.Name
	return s.signAccessToken(claims)
}

// pseudonym is the user's sub: stable per person, and not the PID itself (HelseID's
// pid_pseudonym is an HMAC of it).
func pseudonym(pid string) string {
	sum := sha256.Sum256([]byte("helseidtest-pseudonym:" + pid))
	return b64.EncodeToString(sum[:])
}

// exchange handles the token-exchange grant (RFC 8693): the actor client, already
// authenticated with a DPoP proof by proofJKT's key, exchanges a user's access token issued
// for the API the actor serves (ClientRegistration.ExchangeAudience) for a token to another
// API. The new token keeps the subject's user and organisation claims, names the actor in act
// (nesting any earlier act), and is bound to the actor's DPoP key.
func (s *Server) exchange(c *registeredClient, form url.Values, proofJKT string, now time.Time) (*TokenResponse, *oauthError) {
	if c.reg.ExchangeAudience == "" {
		return nil, newError(errUnauthorizedClient, "the client may not use token exchange")
	}
	if t := form.Get("subject_token_type"); t != TokenTypeAccessToken {
		return nil, newError(errInvalidRequest, "subject_token_type must be "+TokenTypeAccessToken)
	}
	if _, ok := form["actor_token"]; ok {
		return nil, newError(errInvalidRequest, "actor_token is not supported: the actor is the authenticated client")
	}
	if t, ok := form["requested_token_type"]; ok && t[0] != TokenTypeAccessToken {
		return nil, newError(errInvalidRequest, "only access tokens can be requested")
	}
	if _, ok := form["audience"]; ok {
		return nil, newError(errInvalidTarget, "audience is not supported: name the API with scope or resource")
	}
	subject, err := s.verifySubjectToken(form.Get("subject_token"), c.reg.ExchangeAudience, now)
	if err != nil {
		return nil, newError(errInvalidGrant, "subject_token: "+err.Error())
	}
	scopes, api, oerr := checkScopes(c, form)
	if oerr != nil {
		return nil, oerr
	}
	claims := s.accessTokenClaims(c, scopes, api, proofJKT, orgClaims{
		parent: subject.OrgNrParent, child: subject.OrgNrChild, supplier: subject.OrgNrSupplier, tenancy: subject.ClientTenancy,
	}, now)
	claims.Subject = subject.Subject
	claims.PID, claims.SecurityLevel, claims.HPRNumber, claims.Name = subject.PID, subject.SecurityLevel, subject.HPRNumber, subject.Name
	claims.Actor = &Actor{Issuer: s.issuer, Subject: c.reg.ID, ClientID: c.reg.ID, Actor: subject.Actor}
	at, err := s.signAccessToken(claims)
	if err != nil {
		return nil, newError(errServerError, "helseidtest: cannot sign the access token")
	}
	return &TokenResponse{
		AccessToken:     at,
		TokenType:       "DPoP",
		ExpiresIn:       int64(s.opts.AccessTokenLifetime / time.Second),
		Scope:           strings.Join(scopes, " "),
		IssuedTokenType: TokenTypeAccessToken,
	}, nil
}

// verifySubjectToken checks a token presented for exchange: RS256 signed by a published key,
// typ at+jwt, iss, aud exactly audience, exp and nbf without leeway, DPoP-bound.
func (s *Server) verifySubjectToken(token, audience string, now time.Time) (*AccessTokenClaims, error) {
	j, err := parseCompactJWS(token)
	if err != nil {
		return nil, errors.New("malformed access token")
	}
	if j.alg != "RS256" {
		return nil, errors.New("alg must be RS256")
	}
	if typ, _, _ := j.header.str("typ"); typ != AccessTokenTyp {
		return nil, errors.New("typ must be at+jwt")
	}
	kid, _, _ := j.header.str("kid")
	key := s.keys.lookup(kid)
	if key == nil {
		return nil, errors.New("signed by an unknown key")
	}
	if err := j.verify(key.pub); err != nil {
		return nil, errors.New("signature does not verify")
	}
	if iss, _, _ := j.payload.str("iss"); iss != s.issuer {
		return nil, errors.New("issuer is wrong")
	}
	if aud, ok, err := j.payload.str("aud"); err != nil || !ok || aud != audience {
		return nil, errors.New("audience is not the actor's API, " + audience)
	}
	exp, err := j.payload.requiredDate("exp")
	if err != nil || !now.Before(exp) {
		return nil, errors.New("expired")
	}
	if nbf, ok, err := j.payload.date("nbf"); err != nil || (ok && now.Before(nbf)) {
		return nil, errors.New("not yet valid")
	}
	var claims AccessTokenClaims
	if err := json.Unmarshal(j.payloadJSON, &claims); err != nil {
		return nil, errors.New("malformed claims")
	}
	if claims.Confirmation.JKT == "" {
		return nil, errors.New("not DPoP-bound (no cnf.jkt)")
	}
	return &claims, nil
}
