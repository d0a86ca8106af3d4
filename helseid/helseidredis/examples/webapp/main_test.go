package main

import (
	"context"
	"encoding/base64"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With a real HelseID (HELSEID_ISSUER) the development sealing key is refused before
// anything starts; a key of the operator's is taken.
func TestDevelopmentSealKeyRefusedWithARealIssuer(t *testing.T) {
	env := map[string]string{"HELSEID_REDIS_URL": "redis://127.0.0.1:1/0", "HELSEID_ISSUER": "https://helseid-sts.test.nhn.no"}
	getenv := func(k string) string { return env[k] }
	ready := func(string, string) { t.Error("the app must not start") }
	err := run(context.Background(), getenv, io.Discard, ready)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HELSEID_SESSION_KEY")
	assert.Contains(t, err.Error(), "development key is refused")

	env["HELSEID_SESSION_KEY"] = base64.StdEncoding.EncodeToString(make([]byte, 32))
	err = run(context.Background(), getenv, io.Discard, ready)
	require.Error(t, err, "the rest of the configuration is missing")
	assert.NotContains(t, err.Error(), "HELSEID_SESSION_KEY", "the key itself is accepted")
}
