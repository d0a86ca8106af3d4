package helseidtest

import (
	"encoding/json"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Access-token claim names HelseID uses (helseid/docs/profile.md, "Claims").
const (
	ClaimOrgNrParent   = "helseid://claims/client/claims/orgnr_parent"
	ClaimOrgNrChild    = "helseid://claims/client/claims/orgnr_child"
	ClaimOrgNrSupplier = "helseid://claims/client/claims/orgnr_supplier"
	ClaimClientTenancy = "helseid://claims/client/client_tenancy"
	// AccessTokenTyp is the typ header of issued access tokens (RFC 9068).
	AccessTokenTyp = "at+jwt"
)

// AccessTokenClaims are the claims of an access token the server issues: a JWT like HelseID's,
// RS256 with typ at+jwt and kid, scope as a JSON array, cnf.jkt binding it to a DPoP key (no
// cnf in an unbound Bearer token).
type AccessTokenClaims struct {
	Issuer        string   `json:"iss"`
	Audience      string   `json:"aud"`
	ClientID      string   `json:"client_id"`
	Subject       string   `json:"sub"`
	Scope         []string `json:"scope"`
	Confirmation  Cnf      `json:"cnf,omitzero"` // none in a Bearer token (ClientRegistration.AllowBearer)
	IssuedAt      int64    `json:"iat"`
	NotBefore     int64    `json:"nbf"`
	Expiry        int64    `json:"exp"`
	JWTID         string   `json:"jti"`
	ClientAMR     string   `json:"client_amr"`
	OrgNrParent   string   `json:"helseid://claims/client/claims/orgnr_parent,omitempty"`
	OrgNrChild    string   `json:"helseid://claims/client/claims/orgnr_child,omitempty"`
	OrgNrSupplier string   `json:"helseid://claims/client/claims/orgnr_supplier,omitempty"`
	ClientTenancy string   `json:"helseid://claims/client/client_tenancy"`
	// User claims, present in tokens issued for a logged-in user (IssueUserToken, token
	// exchange).
	PID           string `json:"helseid://claims/identity/pid,omitempty"`
	SecurityLevel string `json:"helseid://claims/identity/security_level,omitempty"`
	HPRNumber     string `json:"helseid://claims/hpr/hpr_number,omitempty"`
	Name          string `json:"name,omitempty"`
	// Actor is the act claim of a token-exchange token (RFC 8693 §4.1): the client acting
	// for the subject, nesting the subject token's own act.
	Actor *Actor `json:"act,omitempty"`
}

// Actor is an RFC 8693 act claim.
type Actor struct {
	Issuer   string `json:"iss,omitempty"`
	Subject  string `json:"sub"`
	ClientID string `json:"client_id,omitempty"`
	Actor    *Actor `json:"act,omitempty"`
}

// Cnf is the confirmation claim (RFC 7800) of a DPoP-bound token (RFC 9449 §6.1).
type Cnf struct {
	JKT string `json:"jkt"`
}

// mintAccessToken signs an access token for client c with the active key.
func (s *Server) mintAccessToken(c *registeredClient, scopes []string, aud, jkt string, org orgClaims, now time.Time) (string, error) {
	return s.signAccessToken(s.accessTokenClaims(c, scopes, aud, jkt, org, now))
}

// accessTokenClaims are the claims of a client's token; user tokens add to them.
func (s *Server) accessTokenClaims(c *registeredClient, scopes []string, aud, jkt string, org orgClaims, now time.Time) AccessTokenClaims {
	iat := now.Unix()
	return AccessTokenClaims{
		Issuer:        s.issuer,
		Audience:      aud,
		ClientID:      c.reg.ID,
		Subject:       c.reg.ID,
		Scope:         scopes,
		Confirmation:  Cnf{JKT: jkt},
		IssuedAt:      iat,
		NotBefore:     iat,
		Expiry:        iat + int64(s.opts.AccessTokenLifetime/time.Second),
		JWTID:         randomToken(16),
		ClientAMR:     "private_key_jwt",
		OrgNrParent:   org.parent,
		OrgNrChild:    org.child,
		OrgNrSupplier: org.supplier,
		ClientTenancy: org.tenancy,
	}
}

// signAccessToken signs claims with the active key: RS256, typ at+jwt, kid.
func (s *Server) signAccessToken(claims AccessTokenClaims) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	key := s.keys.current()
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, key.kid); err != nil {
		return "", err
	}
	if err := hdr.Set(jws.TypeKey, AccessTokenTyp); err != nil {
		return "", err
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256, key.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", err
	}
	return string(tok), nil
}
