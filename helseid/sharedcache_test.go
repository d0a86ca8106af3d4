package helseid_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noSharedCache is only a value for the configuration check; the shared cache's behaviour is
// tested against a real Redis in helseid/helseidredis.
type noSharedCache struct{}

func (noSharedCache) LoadToken(context.Context, string) (helseid.SharedToken, bool, error) {
	return helseid.SharedToken{}, false, nil
}
func (noSharedCache) AcquireLease(context.Context, string) (string, bool, error) {
	return "", false, nil
}
func (noSharedCache) StoreToken(context.Context, string, helseid.SharedToken, string) error {
	return nil
}
func (noSharedCache) ReleaseLease(context.Context, string, string) error    { return nil }
func (noSharedCache) InvalidateToken(context.Context, string, string) error { return nil }

func TestSharedTokensNeedTheFleetsDPoPKey(t *testing.T) {
	key, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	cfg := helseid.Config{Issuer: "https://helseid.example", ClientID: "c", Key: key, SharedTokens: noSharedCache{}}
	_, err = helseid.NewClient(cfg)
	require.ErrorContains(t, err, "invalid helseid configuration")
	assert.ErrorContains(t, err, "SharedTokens needs DPoPKey")

	cfg.DPoPKey = key
	c, err := helseid.NewClient(cfg)
	require.NoError(t, err)
	assert.NoError(t, c.Close())
}

func TestSharedTokenFormatsRedacted(t *testing.T) {
	tok := helseid.SharedToken{Token: fapi.Token{AccessToken: "secret-access-token"}}
	for _, s := range []string{tok.String(), fmt.Sprintf("%v", tok), fmt.Sprintf("%+v", &tok), fmt.Sprintf("%#v", tok)} {
		assert.NotContains(t, s, "secret-access-token")
	}
}
