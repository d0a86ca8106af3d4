package helseid

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func FuzzAccessTokenClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"https://helseid-sts.test.nhn.no","aud":"nhn:api","sub":"s","client_id":"c","jti":"j","scope":["nhn:api/read"],"cnf":{"jkt":"x"},"iat":1800000000,"exp":1800000600,"nbf":1800000000}`))
	f.Add([]byte(`{"iss":"https://helseid-sts.test.nhn.no","aud":"nhn:api","scope":["nhn:api/read"],"cnf":{"jkt":"x"},"exp":1800000600,"nbf":1800000000}`))
	f.Add([]byte(`{"iss":"https://helseid-sts.test.nhn.no","aud":["nhn:api"],"scope":"a b","cnf":{"jkt":"x"},"exp":1.8e9,"act":{"act":{}}}`))
	f.Add([]byte(`{"aud":"a","aud":"b"}`))
	v, err := NewAccessTokenValidator(AccessTokenConfig{Issuer: "https://helseid-sts.test.nhn.no", Audience: "nhn:api",
		Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := v.claims(payload)
		if err == nil {
			err = checkBinding(c, true)
		}
		if err != nil {
			require.True(t, errors.Is(err, ErrInvalidToken), "every refusal is ErrInvalidToken: %v", err)
			return
		}
		require.Equal(t, "nhn:api", c.Audience)
		require.Equal(t, "https://helseid-sts.test.nhn.no", c.Issuer)
		require.NotEmpty(t, c.JKT)
		require.False(t, c.Expiry.IsZero())
		require.NotEmpty(t, c.Subject)
		require.NotEmpty(t, c.ClientID)
		require.NotEmpty(t, c.JWTID)
		require.False(t, c.IssuedAt.IsZero())
		require.False(t, c.IssuedAt.After(time.Unix(1_800_000_010, 0)), "iat at most the 10 s leeway ahead")
	})
}
