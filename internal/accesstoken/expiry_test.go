package accesstoken

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func jwt(payload string) string {
	return "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestJWTExpiry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token string
		want  time.Time
	}{
		{"exp", jwt(`{"sub":"u","exp":1800000000}`), time.Unix(1800000000, 0)},
		{"fractional exp", jwt(`{"exp":1800000000.5}`), time.Unix(1800000000, 0)},
		{"no exp", jwt(`{"sub":"u"}`), time.Time{}},
		{"exp as a string", jwt(`{"exp":"1800000000"}`), time.Time{}},
		{"negative exp", jwt(`{"exp":-1}`), time.Time{}},
		{"exp beyond range", jwt(`{"exp":1e300}`), time.Time{}},
		{"not json", jwt(`exp`), time.Time{}},
		{"not base64url", "a.!!!.c", time.Time{}},
		{"opaque", "2YotnFZFEjr1zCsicMWpAA", time.Time{}},
		{"four parts", "a.b.c.d", time.Time{}},
		{"oversized payload", "a." + string(make([]byte, maxPayload+1)) + ".c", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, JWTExpiry(tc.token))
		})
	}
}

func FuzzJWTExpiry(f *testing.F) {
	f.Add(jwt(`{"exp":1800000000}`))
	f.Add(jwt(`{"exp":1e300}`))
	f.Add(jwt(`{"exp":"1800000000"}`))
	f.Add("opaque-token")
	f.Add("a.b.c.d")
	f.Fuzz(func(t *testing.T, token string) {
		exp := JWTExpiry(token)
		if !exp.IsZero() && (exp.Unix() <= 0 || exp.Unix() > 1e11) {
			t.Fatalf("out-of-range expiry %v", exp)
		}
	})
}
