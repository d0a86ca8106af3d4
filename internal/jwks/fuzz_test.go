package jwks

import (
	"crypto"
	"testing"
)

// FuzzParseSet checks that parseSet and key selection never panic and that a parsed set
// only ever hands out usable public keys. The seed corpus is in testdata/fuzz/FuzzParseSet.
func FuzzParseSet(f *testing.F) {
	algs := []string{"RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"}
	f.Fuzz(func(t *testing.T, data []byte, kid string) {
		if len(data) > 64<<10 {
			return // bodies are bounded by Config.MaxBody before they reach the parser
		}
		ks, err := parseSet(data)
		if err != nil {
			if ks != nil {
				t.Fatalf("parseSet returned a set and an error: %v", err)
			}
			return
		}
		usable := 0
		for _, e := range ks.entries {
			if e.reason == "" {
				usable++
				if e.pub == nil || e.kind == 0 {
					t.Fatalf("usable entry %q without a key", e.kid)
				}
			} else if e.pub != nil || e.kind != 0 {
				t.Fatalf("unusable entry %q (%s) carries a key", e.kid, e.reason)
			}
		}
		if usable == 0 {
			t.Fatal("accepted a set without usable keys")
		}
		for _, alg := range algs {
			want, _ := kindFor(alg)
			for _, k := range []string{kid, "", ks.entries[0].kid} {
				key, err := ks.find(k, alg, want)
				if key != nil && err != nil {
					t.Fatalf("find returned a key and an error: %v", err)
				}
				if key != nil && k != "" && !hasKey(ks, k, key) {
					t.Fatalf("find(%q) returned a key that kid does not name", k)
				}
			}
		}
	})
}

// hasKey reports whether an entry with kid holds key.
func hasKey(ks *keySet, kid string, key crypto.PublicKey) bool {
	for _, e := range ks.entries {
		if e.kid == kid && e.pub != nil && samePublicKey(e.pub, key) {
			return true
		}
	}
	return false
}
