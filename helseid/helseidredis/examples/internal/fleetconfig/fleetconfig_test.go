package fleetconfig

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRedisURLNeverQuotesThePassword(t *testing.T) {
	for name, raw := range map[string]string{
		"bad port":                 "redis://u:s3cretPW@redis.internal:port/0",
		"bad database":             "redis://u:s3cretPW@redis.internal:6379/x",
		"bad scheme":               "http://u:s3cretPW@redis.internal:6379/0",
		"bad escape in password":   "redis://u:s3cret%zzPW@redis.internal:6379/0",
		"slash in password":        "redis://u:s3cr/etPW@redis.internal:6379/0",
		"space in host":            "redis://u:s3cretPW@redis internal:6379/0",
		"no scheme":                "u:s3cretPW@redis.internal:6379",
		"control byte in password": "redis://u:s3cret\x7fPW@redis.internal:6379/0",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRedisURL(raw)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "s3cr")
			assert.NotContains(t, err.Error(), "PW")
		})
	}
}

func TestParseRedisURL(t *testing.T) {
	opts, err := ParseRedisURL("redis://u:s3cretPW@redis.internal:6379/2")
	require.NoError(t, err)
	assert.Equal(t, "s3cretPW", opts.Password)
	assert.Equal(t, "redis.internal:6379", opts.Addr)
	assert.Equal(t, 2, opts.DB)
	assert.True(t, opts.ContextTimeoutEnabled, "the helseidredis stores require it")

	_, err = ParseRedisURL("redis://redis.internal:port/0")
	assert.ErrorContains(t, err, "port", "an error without user info is go-redis's own")
}
