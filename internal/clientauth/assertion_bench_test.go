package clientauth

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
)

// Compare BenchmarkAssertion/builder with /bare-signasn1 (same key, same-size message) in the
// same run; the difference is what building the assertion costs beyond the signature.
func BenchmarkAssertion(b *testing.B) {
	cfg := testConfig(b)
	cfg.Audience = "https://helseid-sts.test.nhn.no"
	builder, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	details := json.RawMessage(`{"type":"helseid_authorization","practitioner_role":{"organization":{"identifier":{"system":"urn:oid:1.0.6523","type":"ENH","value":"NO:ORGNR:994598759:920773230"}}}}`)
	sample, err := builder.Assertion(nil)
	if err != nil {
		b.Fatal(err)
	}
	signingInput := []byte(sample[:strings.LastIndexByte(sample, '.')])
	key := cfg.Key.(*ecdsa.PrivateKey)

	b.Run("impl=builder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := builder.Assertion(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=builder-with-details", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := builder.Assertion(details); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=bare-signasn1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			digest := sha256.Sum256(signingInput)
			if _, err := ecdsa.SignASN1(rand.Reader, key, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
