package helseid_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/pkce"
	"github.com/helseid-go/sdk/resource"
	"github.com/helseid-go/sdk/tokenexchange"
)

// bigIntMarkers are the ways a private scalar could be printed: decimal (fmt and encoding/json
// print big.Int so), hex, and base64 of its bytes.
func bigIntMarkers(d *big.Int) []string {
	b := d.Bytes()
	return []string{d.String()[:24], d.Text(16)[:24], base64.StdEncoding.EncodeToString(b)[:24], base64.RawURLEncoding.EncodeToString(b)[:24]}
}

// bytesMarkers are the ways a byte-slice secret could be printed: fmt's [1 2 3 …], hex and
// base64, and the bytes themselves.
func bytesMarkers(b []byte) []string {
	return []string{strings.TrimSuffix(fmt.Sprint(b[:12]), "]"), hex.EncodeToString(b)[:24],
		base64.StdEncoding.EncodeToString(b)[:24], base64.RawURLEncoding.EncodeToString(b)[:24], string(b[:16])}
}

type noAuth struct{}

func (noAuth) Authenticate(url.Values) error { return nil }

// Every exported type that holds a secret, built for real with known secrets, formatted with
// every fmt verb and logged with both slog handlers (and marshalled to JSON where the type is
// not marshalled for its data): no secret may appear.
func TestNoSecretInFormattingOrLogs(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	f := newLoginFixtureWith(t, helseidtest.Options{SigningKey: rsaKey}, nil)
	callbackQuery, st := f.start(t)
	callback, err := helseid.ParseCallback(callbackQuery)
	require.NoError(t, err)
	res, err := f.client.FinishLogin(context.Background(), callbackQuery, st)
	require.NoError(t, err)
	session, err := f.client.NewUserSession(context.Background(), res, helseid.SessionOptions{})
	require.NoError(t, err)
	tokenResp, err := f.client.ClientCredentials(context.Background(), helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
	require.NoError(t, err)

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	clientKey, err := helseid.NewKey(ecKey, "ES256", "kid-1")
	require.NoError(t, err)
	privateKeyJWT, err := clientKey.PrivateKeyJWT("c", "https://x")
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edProofer, err := dpop.NewProofer(dpop.ProoferConfig{Key: edKey, Algorithm: "EdDSA"})
	require.NoError(t, err)
	ecProofer, err := dpop.NewProofer(dpop.ProoferConfig{Key: ecKey})
	require.NoError(t, err)
	nonceSecret := []byte("nonce-secret-0123456789-abcdefghijklmnop")
	nonces, err := dpop.NewNonceSource(nonceSecret, 0, nil)
	require.NoError(t, err)
	rs, err := resource.NewSession(resource.Config{TokenEndpoint: f.srv.TokenEndpoint(), Settings: fapi.Settings{ClientAuth: noAuth{}}}, "refresh-token-marker-1", time.Time{})
	require.NoError(t, err)
	verifier, err := pkce.NewVerifier()
	require.NoError(t, err)

	exchanges, err := tokenexchange.NewCache(tokenexchange.CacheConfig{Exchange: func(context.Context, tokenexchange.Request) (*fapi.TokenResponse, error) {
		return &fapi.TokenResponse{AccessToken: "exchanged-token-marker", TokenType: "DPoP", ExpiresIn: 300, Expiry: time.Now().Add(5 * time.Minute)}, nil
	}})
	require.NoError(t, err)
	t.Cleanup(exchanges.Close)
	_, err = exchanges.Token(context.Background(), tokenexchange.Request{SubjectToken: "cached-subject-marker", Scopes: []string{"s"}})
	require.NoError(t, err)
	userSecrets := []string{res.IDToken, res.RefreshToken, res.AccessToken.AccessToken, helseidtest.DefaultTestUser().PID}
	stored := &helseid.StoredSession{Generation: 1, RefreshToken: res.RefreshToken, IDToken: res.IDToken, Claims: res.Claims,
		DPoPKey: []byte(`{"d":"dpop-private-marker"}`), Tokens: map[string]fapi.Token{"nhn:a": res.AccessToken}}
	sessionStore := helseid.NewMemorySessionStore(nil)
	_, err = sessionStore.SaveSession(context.Background(), "id", stored, 0)
	require.NoError(t, err)
	loginStore := helseid.NewMemoryLoginStore(nil)
	require.NoError(t, loginStore.SaveLogin(context.Background(), st))
	tests := []struct {
		name    string
		value   any
		secrets []string
		// json: json.Marshal must not show them either. Not for types marshalled for their data
		// (a login state kept between requests, tokens, a wire format) nor for configurations,
		// which cannot be marshalled (they hold funcs); slog's JSON handler uses LogValue.
		json bool
	}{
		{"*resource.Session", rs, []string{"refresh-token-marker-1"}, true},
		{"*helseid.UserSession", session, userSecrets, true},
		{"*helseid.LoginResult", res, userSecrets, false},
		{"*helseid.LoginState", st, []string{string(st.Verifier)}, false},
		{"*helseid.StoredSession", stored, append(userSecrets, "dpop-private-marker"), false},
		{"memory SessionStore", sessionStore, append(userSecrets, "dpop-private-marker"), true},
		{"memory LoginStore", loginStore, []string{string(st.Verifier)}, true},
		{"*helseid.Callback", callback, []string{callback.Code, callback.State}, true},
		{"*helseid.Client", f.client, []string{st.State, st.Nonce}, true},
		{"*helseid.Key", clientKey, bigIntMarkers(ecKey.D), true},
		{"helseid.Config", helseid.Config{Issuer: "https://x", ClientID: "c", Key: clientKey, DPoPKey: clientKey}, bigIntMarkers(ecKey.D), false},
		{"*fapi.PrivateKeyJWT", privateKeyJWT, bigIntMarkers(ecKey.D), true},
		{"*fapi.Token", &res.AccessToken, []string{res.AccessToken.AccessToken}, false},
		{"*fapi.TokenResponse", tokenResp, []string{tokenResp.AccessToken}, false},
		{"tokenexchange.Request", tokenexchange.Request{SubjectToken: "subject-token-marker", ActorToken: "actor-token-marker", Scopes: []string{"s"}},
			[]string{"subject-token-marker", "actor-token-marker"}, true},
		{"*tokenexchange.Cache", exchanges, []string{"exchanged-token-marker", "cached-subject-marker"}, true},
		{"dpop.ProofRequest", dpop.ProofRequest{Method: "GET", AccessToken: "access-token-marker"}, []string{"access-token-marker"}, true},
		{"dpop.ProoferConfig (Ed25519)", dpop.ProoferConfig{Key: edKey}, bytesMarkers(edKey), false},
		{"dpop.ProoferConfig (ECDSA)", dpop.ProoferConfig{Key: ecKey}, bigIntMarkers(ecKey.D), false},
		{"*dpop.Proofer (Ed25519)", edProofer, bytesMarkers(edKey), true},
		{"*dpop.Proofer (ECDSA)", ecProofer, bigIntMarkers(ecKey.D), true},
		{"*dpop.NonceSource", nonces, bytesMarkers(nonceSecret), true},
		{"pkce.Verifier", verifier, []string{string(verifier)}, false},
		{"helseidtest.TokenResponse", helseidtest.TokenResponse{AccessToken: "at-marker", IDToken: "idt-marker", RefreshToken: "rt-marker"},
			[]string{"at-marker", "idt-marker", "rt-marker"}, false},
		{"helseidtest.Options", helseidtest.Options{SigningKey: rsaKey}, bigIntMarkers(rsaKey.D), false},
		{"*helseidtest.Server", f.srv, bigIntMarkers(rsaKey.D), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NotEmpty(t, tc.secrets)
			for _, s := range tc.secrets {
				require.NotEmpty(t, s)
			}
			var outputs []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
				outputs = append(outputs, verb+" "+fmt.Sprintf(verb, tc.value))
				// Nested in a struct, by value (exported field) and behind an interface.
				outputs = append(outputs, verb+" nested "+fmt.Sprintf(verb, struct{ V any }{tc.value}))
			}
			for _, h := range []func(*bytes.Buffer) slog.Handler{
				func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
				func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
			} {
				var buf bytes.Buffer
				logger := slog.New(h(&buf))
				logger.Info("msg", "value", tc.value)
				logger.Info("msg", slog.Any("value", tc.value), slog.Group("g", "value", tc.value))
				outputs = append(outputs, "slog "+buf.String())
			}
			if tc.json {
				js, err := json.Marshal(tc.value)
				require.NoError(t, err)
				outputs = append(outputs, "json "+string(js))
			}
			for _, out := range outputs {
				for _, s := range tc.secrets {
					assert.NotContains(t, out, s, "a secret is shown")
				}
			}
			assert.NotEmpty(t, fmt.Sprint(tc.value))
		})
	}
}
