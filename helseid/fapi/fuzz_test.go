package fapi

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(okDPoP))
	f.Add([]byte(`{"access_token":"Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU","token_type":"DPoP","expires_in":2677,"refresh_token":"Q..Zkm29lexi8VnWg2zPW1x-tgGad0Ibc3s3EwM_Ni4-g"}`))
	f.Add([]byte(`{"access_token":"x","token_type":"DPoP","expires_in":"600","rt_expires_in":null}`))
	f.Add([]byte(`{"error":"use_dpop_nonce"}`))
	sent := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := ParseResponse(body, sent)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidResponse)
			return
		}
		assert.NotEmpty(t, resp.AccessToken)
		assert.NotEmpty(t, resp.TokenType)
		assert.GreaterOrEqual(t, resp.ExpiresIn, int64(0))
		assert.True(t, resp.Expiry.IsZero() || !resp.Expiry.Before(sent))
		if len(resp.AccessToken) > 12 && !strings.Contains(resp.TokenType+resp.Scope, resp.AccessToken) {
			assert.NotContains(t, resp.String(), resp.AccessToken, "formatting must redact the token")
		}
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(400, []byte(`{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`))
	f.Add(500, []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseError(status, body)
		assert.LessOrEqual(t, len(e.Description), maxDescription)
		for _, r := range e.Error() {
			assert.True(t, r >= 0x20 && r <= 0x7e, "printable ascii only")
		}
	})
}
