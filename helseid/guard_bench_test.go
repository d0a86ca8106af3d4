package helseid_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// resettableReplayStore is a dpop.MemoryReplayStore that the benchmark replaces when its pool
// of proofs comes round again, so every proof is accepted once per store.
type resettableReplayStore struct {
	cur atomic.Pointer[dpop.MemoryReplayStore]
	now func() time.Time
}

func (s *resettableReplayStore) reset() {
	s.cur.Store(dpop.NewMemoryReplayStore(dpop.MemoryReplayStoreConfig{Now: s.now}))
}

func (s *resettableReplayStore) CheckAndSet(ctx context.Context, id string, expires time.Time) (bool, error) {
	return s.cur.Load().CheckAndSet(ctx, id, expires)
}

// BenchmarkGuard measures one request through Guard.Middleware (an RS256 access token, an
// ES256 proof, the in-memory replay store) against its floor in the same run:
// impl=bare-rsa-ecdsa is a bare RSA-2048 verify of the token plus a bare ECDSA P-256 verify of
// the proof (SHA-256 and the verify call only), impl=bare-ecdsa the proof's verify alone.
// impl=guard presents the same token every request with a new proof, as a client does (the
// token is verified once and then remembered); impl=guard-first-seen checks the token in full
// on every request, as for a token the Guard has not seen before.
func BenchmarkGuard(b *testing.B) {
	ti := newTestIssuer(b)
	now := tokenNow
	clock := func() time.Time { return now }
	proofKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	proofer, err := dpop.NewProofer(dpop.ProoferConfig{Key: proofKey, Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	claims := goodClaims(ti.URL)
	claims["cnf"] = map[string]any{"jkt": proofer.Thumbprint()}
	payload, err := json.Marshal(claims)
	if err != nil {
		b.Fatal(err)
	}
	token := sign(b, issuerKeys[0], jwa.RS256, "at+jwt", "k1", payload)

	const target = "https://api.example.no/kjernejournal/v1/patients"
	req := httptest.NewRequest(http.MethodGet, target, nil)
	const pool = 2048
	proofs := make([]string, pool)
	for i := range proofs {
		if proofs[i], err = proofer.Proof(http.MethodGet, req.URL, "", token); err != nil {
			b.Fatal(err)
		}
	}
	store := &resettableReplayStore{now: clock}
	store.reset()
	guard, err := helseid.NewGuard(helseid.GuardConfig{
		AccessTokenConfig: helseid.AccessTokenConfig{Issuer: ti.URL, Audience: "nhn:test-api", HTTPClient: ti.Client(), Now: clock},
		DPoP:              dpop.VerifierConfig{Replay: store},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(guard.Close)
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	handler := guard.Middleware(ok, nil)

	run := func(b *testing.B, h http.Handler) {
		store.reset()
		serve := func(i int) {
			req.Header.Set("Authorization", "DPoP "+token)
			req.Header.Set("DPoP", proofs[i])
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Header().Get("WWW-Authenticate"))
			}
		}
		serve(0) // fetches discovery and keys, outside the measurement
		b.ReportAllocs()
		i := 1
		for b.Loop() {
			if i == pool {
				store.reset()
				i = 0
			}
			serve(i)
			i++
		}
	}
	b.Run("impl=guard", func(b *testing.B) { run(b, handler) })

	firstSeen, err := helseid.NewGuard(helseid.GuardConfig{
		AccessTokenConfig: helseid.AccessTokenConfig{Issuer: ti.URL, Audience: "nhn:test-api", HTTPClient: ti.Client(), Now: clock},
		DPoP:              dpop.VerifierConfig{Replay: store},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(firstSeen.Close)
	helseid.ForgetVerifiedTokens(helseid.GuardValidator(firstSeen))
	b.Run("impl=guard-first-seen", func(b *testing.B) { run(b, firstSeen.Middleware(ok, nil)) })

	// The floor: the two signature checks a request cannot avoid.
	tokenInput, tokenSig := splitJWS(b, token)
	proofInput, proofSig := splitJWS(b, proofs[0])
	proofDER, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(proofSig[:32]), new(big.Int).SetBytes(proofSig[32:])})
	if err != nil {
		b.Fatal(err)
	}
	rsaPub := &issuerKeys[0].PublicKey
	verifyToken := func() {
		digest := sha256.Sum256(tokenInput)
		if rsa.VerifyPKCS1v15(rsaPub, crypto.SHA256, digest[:], tokenSig) != nil {
			b.Fatal("token does not verify")
		}
	}
	verifyProof := func() {
		digest := sha256.Sum256(proofInput)
		if !ecdsa.VerifyASN1(&proofKey.PublicKey, digest[:], proofDER) {
			b.Fatal("proof does not verify")
		}
	}
	b.Run("impl=bare-rsa-ecdsa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			verifyToken()
			verifyProof()
		}
	})
	b.Run("impl=bare-ecdsa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			verifyProof()
		}
	})
}

// splitJWS returns a compact JWS's signing input and raw signature.
func splitJWS(b *testing.B, token string) ([]byte, []byte) {
	dot := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	return []byte(token[:dot]), sig
}
