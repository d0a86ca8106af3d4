package helseidtest

import (
	"net/url"
	"sync"
	"time"
)

// LoginFaults make the user-login endpoints misbehave in the ways the OpenID conformance suite
// tests FAPI 2.0 clients with (its fapi2-security-profile-final-client-test-* modules), so that
// a client's negative tests can cover
// every row: after any of these a correct client stops, with no further request to the server.
// Set them with SetLoginFaults; the zero value is a correct server.
type LoginFaults struct {
	// DiscoveryIssuerMismatch publishes the issuer + "INVALID" in the discovery document.
	DiscoveryIssuerMismatch bool

	// The authorization response (the redirect to the client's callback).
	CallbackWrongIss   bool // iss is the issuer + "1"
	CallbackNoIss      bool // iss is left out, though the metadata says it is sent
	CallbackWrongState bool // state is the sent state + "1" ("1" when none was sent)
	CallbackNoState    bool // state is left out

	// The ID token of the code exchange.
	IDTokenWrongIss      bool // iss + "1"
	IDTokenNoIss         bool
	IDTokenWrongAud      bool // the client id + "1"
	IDTokenExtraAud      bool // [client id, client id + "1"], no azp
	IDTokenAudArray      bool // [client id]: valid, a client must accept it
	IDTokenNoAud         bool
	IDTokenExpired       bool // exp six minutes ago
	IDTokenNoExp         bool
	IDTokenNoIat         bool
	IDTokenNoSub         bool
	IDTokenWrongNonce    bool // the sent nonce + "1" ("null1" when none was sent)
	IDTokenNoNonce       bool
	IDTokenWrongAtHash   bool
	IDTokenAlgNone       bool // unsigned, alg none
	IDTokenAltKey        bool // RS256 by a key the server does not publish
	IDTokenBadSignature  bool // one bit of the signature flipped
	IDTokenWrongSecLevel bool // security level "3" for a level-4 user

	// The token response.
	TokenTypeBearer    bool // token_type Bearer although DPoP was used
	TokenTypeMixedCase bool // token_type "dPoP": valid, compared case-insensitively
	NoExpiresIn        bool // no expires_in: valid, the lifetime is unknown
}

// SetLoginFaults replaces the faults the login endpoints apply from now on.
func (s *Server) SetLoginFaults(f LoginFaults) { s.faults.Store(&f) }

func (s *Server) loginFaults() *LoginFaults {
	if f := s.faults.Load(); f != nil {
		return f
	}
	return &LoginFaults{}
}

func (f *LoginFaults) applyToCallback(back url.Values) {
	if f.CallbackWrongIss {
		back.Set("iss", back.Get("iss")+"1")
	}
	if f.CallbackNoIss {
		back.Del("iss")
	}
	if f.CallbackWrongState {
		back.Set("state", back.Get("state")+"1")
	}
	if f.CallbackNoState {
		back.Del("state")
	}
}

func (f *LoginFaults) applyToTokenResponse(resp *TokenResponse) {
	if f.TokenTypeBearer {
		resp.TokenType = "Bearer"
	}
	if f.TokenTypeMixedCase {
		resp.TokenType = "dPoP"
	}
	if f.NoExpiresIn {
		resp.ExpiresIn = 0
	}
}

func (f *LoginFaults) applyToIDToken(claims map[string]any, clientID, issuer string, now time.Time) {
	set := func(on bool, name string, v any) {
		if on {
			claims[name] = v
		}
	}
	del := func(on bool, name string) {
		if on {
			delete(claims, name)
		}
	}
	set(f.IDTokenWrongIss, "iss", issuer+"1")
	set(f.IDTokenWrongAud, "aud", clientID+"1")
	set(f.IDTokenExtraAud, "aud", []string{clientID, clientID + "1"})
	set(f.IDTokenAudArray, "aud", []string{clientID})
	set(f.IDTokenExpired, "exp", now.Add(-6*time.Minute).Unix())
	if f.IDTokenWrongNonce {
		n, _ := claims["nonce"].(string)
		if n == "" {
			n = "null"
		}
		claims["nonce"] = n + "1"
	}
	set(f.IDTokenWrongAtHash, "at_hash", "AAAAAAAAAAAAAAAAAAAAAA")
	set(f.IDTokenWrongSecLevel, ClaimSecurityLevel, "3")
	del(f.IDTokenNoIss, "iss")
	del(f.IDTokenNoAud, "aud")
	del(f.IDTokenNoExp, "exp")
	del(f.IDTokenNoIat, "iat")
	del(f.IDTokenNoSub, "sub")
	del(f.IDTokenNoNonce, "nonce")
}

// altKey is a signing key the server never publishes, for IDTokenAltKey.
type altKeyHolder struct {
	once sync.Once
	key  *signingKey
}

func (s *Server) altKey() *signingKey {
	s.alt.once.Do(func() {
		k, err := newSigningKey(nil)
		if err != nil {
			panic(err) // rsa.GenerateKey fails only for invalid sizes
		}
		k.kid = "rsa-alt-unpublished"
		s.alt.key = k
	})
	return s.alt.key
}
