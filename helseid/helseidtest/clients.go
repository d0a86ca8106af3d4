package helseidtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// DefaultOrgNumber is the organisation number GenerateClient registers clients with
// (Norsk helsenett SF, the organisation in HelseID's own test clients).
const DefaultOrgNumber = "994598759"

// ClientRegistration describes a client as HelseID's self-service (Selvbetjening) would hold it.
type ClientRegistration struct {
	// ID is the client_id.
	ID string
	// PublicJWK is the client's public key as JWK JSON, or a JWK Set ({"keys":[...]}) when the
	// client has several (during a key rotation). Every key must carry "alg" (RS/PS/ES
	// 256/384/512, fitting the key: ES256 with P-256 and so on) and "kid", hold no private
	// material, and be RSA ≥ 2048 bits or EC P-256/P-384/P-521.
	PublicJWK []byte
	// Scopes are the scopes the client may request, e.g. "nhn:helseidtest-api/read". A
	// client with RedirectURIs may also have identity scopes (openid, profile,
	// offline_access, helseid://scopes/...), for user login.
	Scopes []string
	// RedirectURIs are the exact redirect_uri values the client may log users in with.
	RedirectURIs []string
	// PostLogoutRedirectURIs are the exact post_logout_redirect_uri values of its logouts.
	PostLogoutRedirectURIs []string
	// OrgNumber is the client's own organisation (9 digits): the parent (overenhet) of a
	// single-tenant client, the supplier of a multi-tenant one.
	OrgNumber string
	// MultiTenant marks a supplier system acting for many organisations.
	MultiTenant bool
	// ChildOrgNumbers are the child organisations (underenheter) a single-tenant client may name.
	ChildOrgNumbers []string
	// DelegatedParents, for a multi-tenant client, are the parent organisations that have
	// delegated to the supplier (in Altinn, for the real HelseID). Empty allows any parent.
	DelegatedParents []string
	// ExchangeAudience is the API (audience, such as "nhn:sfm") this client serves: it may
	// exchange users' tokens issued for that audience with the token-exchange grant, for
	// tokens to the APIs of its Scopes. Empty: the client may not use token exchange.
	ExchangeAudience string
	// AllowBearer lets the client get unbound Bearer tokens with the client_credentials grant,
	// as a client registered for an API that has not moved to DPoP may: a request without a
	// DPoP proof is answered with token_type Bearer and a token with no cnf claim. A request
	// with a proof still gets a DPoP-bound token. Without it the client requires DPoP, as new
	// HelseID clients do, and a request without a proof is refused with invalid_dpop_proof.
	AllowBearer bool
	// KeysExpire is when the keys of PublicJWK expire: from then on, assertions they sign are
	// refused with invalid_client, as HelseID refuses an expired client key. Zero: never.
	KeysExpire time.Time
}

// registeredClient is a validated registration. It is never changed once in Server.clients:
// a key registered through self-service replaces it with a copy (see replaceKeys), so
// readers need no lock.
type registeredClient struct {
	reg     ClientRegistration
	keys    map[string]*publicKey // by kid
	expires time.Time             // of keys; zero: never
}

func (c *registeredClient) tenancy() string {
	if c.reg.MultiTenant {
		return "multi-tenant"
	}
	return "single-tenant"
}

// RegisterClient adds a client. It fails if the ID is taken or the registration is invalid.
func (s *Server) RegisterClient(c ClientRegistration) error {
	rc, err := validateRegistration(c)
	if err != nil {
		return err
	}
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	if _, dup := s.clients[c.ID]; dup {
		return fmt.Errorf("helseidtest: client %q is already registered", c.ID)
	}
	s.clients[c.ID] = rc
	return nil
}

func (s *Server) client(id string) *registeredClient {
	s.clientsMu.RLock()
	defer s.clientsMu.RUnlock()
	return s.clients[id]
}

func validateRegistration(c ClientRegistration) (*registeredClient, error) {
	if c.ID == "" {
		return nil, errors.New("helseidtest: client ID is empty")
	}
	if !isOrgNumber(c.OrgNumber) {
		return nil, fmt.Errorf("helseidtest: client %q: OrgNumber must be 9 digits", c.ID)
	}
	if len(c.Scopes) == 0 {
		return nil, fmt.Errorf("helseidtest: client %q: no scopes", c.ID)
	}
	if c.ExchangeAudience != "" && (!validScopeToken(c.ExchangeAudience) || strings.Contains(c.ExchangeAudience, "/")) {
		return nil, fmt.Errorf("helseidtest: client %q: ExchangeAudience %q is not an API audience", c.ID, c.ExchangeAudience)
	}
	for _, sc := range c.Scopes {
		if !validScopeToken(sc) {
			return nil, fmt.Errorf("helseidtest: client %q: invalid scope %q", c.ID, sc)
		}
		if isIdentityScope(sc) && len(c.RedirectURIs) > 0 {
			continue
		}
		if isIdentityScope(sc) || apiOf(sc) == "" {
			return nil, fmt.Errorf("helseidtest: client %q: scope %q is not an API scope (<api>/<name>)", c.ID, sc)
		}
	}
	for _, u := range append(slices.Clone(c.RedirectURIs), c.PostLogoutRedirectURIs...) {
		if pu, err := url.Parse(u); err != nil || pu.Host == "" || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Fragment != "" {
			return nil, fmt.Errorf("helseidtest: client %q: redirect URI %q is not an absolute http(s) URL without fragment", c.ID, u)
		}
	}
	if c.MultiTenant && len(c.ChildOrgNumbers) > 0 {
		return nil, fmt.Errorf("helseidtest: client %q: ChildOrgNumbers is for single-tenant clients", c.ID)
	}
	if !c.MultiTenant && len(c.DelegatedParents) > 0 {
		return nil, fmt.Errorf("helseidtest: client %q: DelegatedParents is for multi-tenant clients", c.ID)
	}
	for _, n := range append(slices.Clone(c.ChildOrgNumbers), c.DelegatedParents...) {
		if !isOrgNumber(n) {
			return nil, fmt.Errorf("helseidtest: client %q: organisation number %q is not 9 digits", c.ID, n)
		}
	}
	keys, err := parseClientKeys(c.PublicJWK)
	if err != nil {
		return nil, fmt.Errorf("helseidtest: client %q: %w", c.ID, err)
	}
	c.PublicJWK = slices.Clone(c.PublicJWK)
	c.Scopes = slices.Clone(c.Scopes)
	c.ChildOrgNumbers = slices.Clone(c.ChildOrgNumbers)
	c.DelegatedParents = slices.Clone(c.DelegatedParents)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	return &registeredClient{reg: c, keys: keys, expires: c.KeysExpire}, nil
}

// parseClientKeys accepts one JWK or a JWK Set and validates every key.
func parseClientKeys(data []byte) (map[string]*publicKey, error) {
	m, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("PublicJWK: %w", err)
	}
	var raws []json.RawMessage
	if ks, ok := m["keys"]; ok {
		if err := json.Unmarshal(ks, &raws); err != nil || len(raws) == 0 {
			return nil, errors.New(`PublicJWK: "keys" must be a non-empty array`)
		}
	} else {
		raws = []json.RawMessage{data}
	}
	keys := make(map[string]*publicKey, len(raws))
	for _, raw := range raws {
		pk, err := parsePublicJWK(raw)
		if err != nil {
			return nil, fmt.Errorf("PublicJWK: %w", err)
		}
		if pk.kid == "" {
			return nil, errors.New(`PublicJWK: the key must carry "kid"`)
		}
		if !algAllowed(assertionAlgs, pk.alg) {
			return nil, fmt.Errorf(`PublicJWK: "alg" must be one of %v`, assertionAlgs)
		}
		if err := keyFitsAlg(pk, pk.alg); err != nil {
			return nil, fmt.Errorf("PublicJWK: %w", err)
		}
		if _, dup := keys[pk.kid]; dup {
			return nil, fmt.Errorf("PublicJWK: duplicate kid %q", pk.kid)
		}
		keys[pk.kid] = pk
	}
	return keys, nil
}

// GenerateClient registers a single-tenant client with organisation DefaultOrgNumber, the
// given scopes and a new ES256 (P-256) key whose kid is its RFC 7638 thumbprint. It returns
// the private JWK JSON (with alg and kid) for the client to sign assertions with.
func (s *Server) GenerateClient(id string, scopes ...string) (privateJWK []byte, err error) {
	return s.GenerateClientFor(ClientRegistration{ID: id, Scopes: scopes, OrgNumber: DefaultOrgNumber})
}

// GenerateClientFor registers c with a new ES256 (P-256) key (c.PublicJWK is ignored) and
// returns the private JWK JSON. Use it for multi-tenant clients or clients with child
// organisations.
func (s *Server) GenerateClientFor(c ClientRegistration) (privateJWK []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("helseidtest: generate client key: %w", err)
	}
	key, err := jwk.FromRaw(priv)
	if err != nil {
		return nil, fmt.Errorf("helseidtest: %w", err)
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("helseidtest: %w", err)
	}
	if err := key.Set(jwk.KeyIDKey, b64.EncodeToString(tp)); err != nil {
		return nil, fmt.Errorf("helseidtest: %w", err)
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.ES256); err != nil {
		return nil, fmt.Errorf("helseidtest: %w", err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("helseidtest: %w", err)
	}
	if c.PublicJWK, err = json.Marshal(pub); err != nil {
		return nil, fmt.Errorf("helseidtest: %w", err)
	}
	if privateJWK, err = json.Marshal(key); err != nil {
		return nil, fmt.Errorf("helseidtest: %w", err)
	}
	if err := s.RegisterClient(c); err != nil {
		return nil, err
	}
	return privateJWK, nil
}

// isOrgNumber reports whether s is a Norwegian organisation number: exactly 9 ASCII digits.
func isOrgNumber(s string) bool {
	if len(s) != 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
