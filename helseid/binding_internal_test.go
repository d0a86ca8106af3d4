package helseid

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The presentation's rule, table by table: a DPoP presentation needs cnf.jkt; a Bearer one no
// cnf member at all, not even null.
func TestCheckBinding(t *testing.T) {
	v, err := NewAccessTokenValidator(AccessTokenConfig{Issuer: "https://helseid-sts.test.nhn.no", Audience: "nhn:api",
		Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	require.NoError(t, err)
	t.Cleanup(v.Close)
	const base = `"iss":"https://helseid-sts.test.nhn.no","aud":"nhn:api","sub":"s","client_id":"c","jti":"j","scope":"nhn:api/read","iat":1800000000,"exp":1800000600`
	for _, tc := range []struct {
		name          string
		cnf           string
		bound, bearer bool // accepted when presented that way
	}{
		{"bound", `,"cnf":{"jkt":"x"}`, true, false},
		{"no cnf", ``, false, true},
		{"cnf null", `,"cnf":null`, false, false},
		{"cnf without jkt", `,"cnf":{}`, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.claims([]byte(`{` + base + tc.cnf + `}`))
			require.NoError(t, err)
			for _, p := range []struct {
				bound, want bool
			}{{true, tc.bound}, {false, tc.bearer}} {
				err := checkBinding(c, p.bound)
				if p.want {
					assert.NoError(t, err, "bound=%v", p.bound)
				} else {
					assert.True(t, errors.Is(err, ErrInvalidToken), "bound=%v: %v", p.bound, err)
				}
			}
		})
	}
}

// claims decodes and checks the claims of a verified token at the validator's current time,
// as validate does for a token it has not remembered: the tests' way to the claim checks.
func (v *AccessTokenValidator) claims(payload []byte) (*AccessTokenClaims, error) {
	c, err := v.lastingClaims(payload)
	if err != nil {
		return nil, err
	}
	if err := v.checkTimes(c, v.cfg.Now()); err != nil {
		return nil, err
	}
	return c, nil
}
