package helseid

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"time"

	"github.com/helseid-go/sdk/internal/jose"
	"github.com/helseid-go/sdk/internal/jwks"
)

// ErrInvalidIDToken reports an ID token the client must refuse (OpenID Connect Core §3.1.3.7
// and the FAPI 2.0 client tests of the OpenID conformance suite): the login stops, with no
// further request to the server.
var ErrInvalidIDToken = errors.New("invalid id token")

// ErrInsufficientSecurityLevel reports a user logged in below the security level the client
// requires (HelseID: "4" for clinical use).
var ErrInsufficientSecurityLevel = errors.New("security level too low")

// IDTokenProfile selects the signature algorithms ID tokens may use.
type IDTokenProfile int

const (
	// HelseIDProfile accepts RS256..512, PS256..512 and ES256..512 (HelseID signs ID tokens
	// with RS256), narrowed to what the server advertises.
	HelseIDProfile IDTokenProfile = iota
	// FAPI2Profile accepts only PS256, ES256 and EdDSA (FAPI 2.0 Security Profile §5.4.1), as
	// the OpenID conformance suite demands.
	FAPI2Profile
)

func (p IDTokenProfile) algorithms() []string {
	if p == FAPI2Profile {
		return []string{"PS256", "ES256", "EdDSA"}
	}
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
}

// IDTokenClaims are the validated claims of an ID token.
type IDTokenClaims struct {
	Issuer    string
	Subject   string
	Audience  []string
	IssuedAt  time.Time
	Expiry    time.Time
	AuthTime  time.Time
	Nonce     string
	SessionID string
	// IdentityProvider is HelseID's idp claim, such as "testidp-oidc" or "bankid".
	IdentityProvider string
	AMR              []string
	// HelseID user claims: ClaimPID, ClaimSecurityLevel ("3" or "4"), ClaimHPRNumber and name.
	PID, SecurityLevel, HPRNumber, Name string
	// Raw holds every claim as sent.
	Raw map[string]json.RawMessage
}

// idTokenCheck is what an ID token must match.
type idTokenCheck struct {
	issuer, clientID, nonce, accessToken string
	algs                                 []string
	leeway                               time.Duration
	now                                  time.Time
	requireLevel4                        bool
}

// maxIDTokenAge bounds how far iat may lie in the past: HelseID's ID tokens live 5 minutes.
const maxIDTokenAge = 24 * time.Hour

// validateIDToken checks an ID token in this order: size and compact form; alg in the
// profile's list and the server's; typ JWT or none; no crit; the signature by the issuer's key
// (refetched at once for a new kid); then the claims: no repeated member, iss exactly the
// issuer, aud exactly the client (a string or an array of one; an extra audience is never
// trusted), exp required and not passed (with leeway), iat required and not in the future, sub
// required, nonce exactly the one sent (and none when none was sent), at_hash when present,
// and security level 4 when required. Errors wrap ErrInvalidIDToken (or
// ErrInsufficientSecurityLevel, ErrValidatorUnavailable) and never contain the token.
func (c *Client) validateIDToken(ctx context.Context, token string, chk idTokenCheck) (*IDTokenClaims, error) {
	keys := func(ctx context.Context) (*jwks.Set, error) { return c.keys.get(ctx, c.discovery, c.http, c.now) }
	jwt, _, err := verifySignedJWT(ctx, token, chk.algs, func(typ string) bool {
		return typ == "" || strings.EqualFold(typ, "JWT")
	}, keys, invalidIDToken)
	if err != nil {
		return nil, err
	}
	payload, alg := jwt.Payload, jwt.Header.Alg
	raw, err := jose.DecodeObject(payload, idTokenClaimNames)
	switch {
	case errors.Is(err, jose.ErrDuplicateMember):
		return nil, invalidIDToken("a claim appears twice: %w", err)
	case err != nil:
		return nil, invalidIDToken("claims are not a json object")
	}
	var w struct {
		Issuer   *string         `json:"iss"`
		Subject  string          `json:"sub"`
		Audience json.RawMessage `json:"aud"`
		AZP      *string         `json:"azp"`
		IssuedAt *json.Number    `json:"iat"`
		Expiry   *json.Number    `json:"exp"`
		AuthTime *json.Number    `json:"auth_time"`
		Nonce    *string         `json:"nonce"`
		AtHash   *string         `json:"at_hash"`
		SID      string          `json:"sid"`
		IDP      string          `json:"idp"`
		AMR      []string        `json:"amr"`
		PID      string          `json:"helseid://claims/identity/pid"`
		Level    string          `json:"helseid://claims/identity/security_level"`
		HPR      string          `json:"helseid://claims/hpr/hpr_number"`
		Name     string          `json:"name"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, invalidIDToken("claims are not a json object of the expected types")
	}
	cl := &IDTokenClaims{Subject: w.Subject, SessionID: w.SID, IdentityProvider: w.IDP, AMR: w.AMR,
		PID: w.PID, SecurityLevel: w.Level, HPRNumber: w.HPR, Name: w.Name, Raw: raw}

	if w.Issuer == nil || *w.Issuer != chk.issuer {
		return nil, invalidIDToken("iss is not the issuer")
	}
	cl.Issuer = *w.Issuer
	if cl.Audience, err = audiences(w.Audience); err != nil {
		return nil, err
	}
	if len(cl.Audience) != 1 || cl.Audience[0] != chk.clientID {
		return nil, invalidIDToken("aud is not exactly this client")
	}
	if w.AZP != nil && *w.AZP != chk.clientID {
		return nil, invalidIDToken("azp is not this client")
	}
	if cl.Expiry, err = idTokenDate(w.Expiry, "exp"); err != nil {
		return nil, err
	}
	if !chk.now.Before(cl.Expiry.Add(chk.leeway)) {
		return nil, invalidIDToken("it has expired")
	}
	if cl.IssuedAt, err = idTokenDate(w.IssuedAt, "iat"); err != nil {
		return nil, err
	}
	if cl.IssuedAt.After(chk.now.Add(chk.leeway)) || chk.now.Sub(cl.IssuedAt) > maxIDTokenAge {
		return nil, invalidIDToken("iat is in the future or far in the past")
	}
	if w.AuthTime != nil {
		if cl.AuthTime, err = idTokenDate(w.AuthTime, "auth_time"); err != nil {
			return nil, err
		}
	}
	if cl.Subject == "" {
		return nil, invalidIDToken("sub is missing")
	}
	switch {
	case chk.nonce == "" && w.Nonce != nil:
		return nil, invalidIDToken("it has a nonce, but none was sent")
	case chk.nonce != "" && (w.Nonce == nil || subtle.ConstantTimeCompare([]byte(*w.Nonce), []byte(chk.nonce)) != 1):
		return nil, invalidIDToken("nonce is not the one sent")
	}
	if w.Nonce != nil {
		cl.Nonce = *w.Nonce
	}
	if w.AtHash != nil && chk.accessToken != "" && !atHashMatches(*w.AtHash, chk.accessToken, alg) {
		return nil, invalidIDToken("at_hash is not the hash of the access token")
	}
	if chk.requireLevel4 && cl.SecurityLevel != "4" {
		return nil, fmt.Errorf("%w: the user logged in with security level %.4q, 4 is required", ErrInsufficientSecurityLevel, cl.SecurityLevel)
	}
	return cl, nil
}

// audiences accepts aud as a string or an array of strings.
func audiences(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil && one != "" {
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 && !slices.Contains(many, "") {
		return many, nil
	}
	return nil, invalidIDToken("aud is missing")
}

func idTokenDate(n *json.Number, name string) (time.Time, error) {
	t, err := numericDate(n, name, true)
	if err != nil {
		return time.Time{}, invalidIDToken("%s is missing or not a numeric date", name)
	}
	return t, nil
}

// atHashMatches checks at_hash (OpenID Connect Core §3.1.3.8): the left half of the hash of
// the access token, with the hash of the signature algorithm (SHA-512 for EdDSA, as the
// conformance suite uses).
func atHashMatches(atHash, accessToken, alg string) bool {
	var h hash.Hash
	switch {
	case strings.HasSuffix(alg, "256"):
		h = sha256.New()
	case strings.HasSuffix(alg, "384"):
		h = sha512.New384()
	default:
		h = sha512.New()
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	want := base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
	return subtle.ConstantTimeCompare([]byte(atHash), []byte(want)) == 1
}

// idTokenClaimNames are the claims validateIDToken reads by name; see accessTokenClaimNames.
var idTokenClaimNames = []string{"iss", "sub", "aud", "azp", "iat", "exp", "auth_time", "nonce", "at_hash", "sid", "idp", "amr",
	ClaimPID, ClaimSecurityLevel, ClaimHPRNumber, "name"}

func invalidIDToken(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrInvalidIDToken, fmt.Errorf(format, args...))
}
