package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/helseid-go/sdk/helseid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeygenWritesLoadableKeys(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "client")
	var out, errOut bytes.Buffer
	require.NoError(t, run([]string{"-alg", "ES256", "-out", prefix}, &out, &errOut))

	private, err := os.ReadFile(prefix + ".private.jwk")
	require.NoError(t, err)
	info, err := os.Stat(prefix + ".private.jwk")
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	key, err := helseid.ParseJWK(private, "")
	require.NoError(t, err)
	assert.Equal(t, "ES256", key.Algorithm())
	assert.Equal(t, key.Thumbprint(), key.KeyID())

	public, err := os.ReadFile(prefix + ".public.jwk")
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(public, &m))
	assert.NotContains(t, m, "d")
	assert.Equal(t, key.KeyID(), m["kid"])
	assert.Contains(t, out.String(), key.KeyID())
	var priv map[string]any
	require.NoError(t, json.Unmarshal(private, &priv))
	assert.NotContains(t, out.String()+errOut.String(), priv["d"].(string), "the private key is never printed")

	// Never overwrite an existing key.
	err = run([]string{"-alg", "ES256", "-out", prefix}, &out, &errOut)
	require.Error(t, err)
	again, _ := os.ReadFile(prefix + ".private.jwk")
	assert.Equal(t, private, again)
}

func TestKeygenRefusesBadInput(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Error(t, run([]string{"-alg", "HS256", "-out", filepath.Join(t.TempDir(), "k")}, &out, &errOut))
	assert.Error(t, run([]string{"-alg", "ES256"}, &out, &errOut), "-out is required")
	assert.Error(t, run([]string{"-out", "x", "extra"}, &out, &errOut))
}
