package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func noEnv(string) string { return "" }

// The README's run command: no configuration, the whole flow in-process.
func TestRunInProcess(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), nil, noEnv, &out))
	s := out.String()
	for _, want := range []string{
		"authorization server asks for a DPoP nonce",
		"the API asks for a DPoP nonce",
		"Token requests: 1, nonce retries at HelseID: 1",
		`"cnf"`,
		"helseid://claims/client/claims/orgnr_parent",
		"912345678",
		`"client_id":"example-multi-tenant-system"`,
		"Done.",
	} {
		assert.Contains(t, s, want)
	}
	assert.NotRegexp(t, `eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.`, s, "no JWT (token, assertion or proof) is printed")
	// The second API call uses the cached token and the API's newest nonce: one round trip.
	second := s[strings.Index(s, "API call 2"):]
	assert.Equal(t, 1, strings.Count(second, "-> "), "one HTTP exchange for the second call")
}

// The same flow against a server given by configuration, as for a real HelseID.
func TestRunExternal(t *testing.T) {
	srv := helseidtest.NewServer(t)
	privateJWK, err := srv.GenerateClient("ext-client", "nhn:helseidtest-api/read")
	require.NoError(t, err)
	jwkFile := filepath.Join(t.TempDir(), "client.jwk")
	require.NoError(t, os.WriteFile(jwkFile, privateJWK, 0o600))
	env := map[string]string{
		"HELSEID_ISSUER":    srv.Issuer(),
		"HELSEID_CLIENT_ID": "ext-client",
		"HELSEID_JWK_FILE":  jwkFile,
		"HELSEID_SCOPE":     "nhn:helseidtest-api/read",
		"HELSEID_API_URL":   srv.APIURL(),
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), nil, func(k string) string { return env[k] }, &out))
	assert.Contains(t, out.String(), "Running against "+srv.Issuer())
	assert.Contains(t, out.String(), "Done.")

	var jwk struct{ D string }
	require.NoError(t, json.Unmarshal(privateJWK, &jwk))
	assert.NotContains(t, out.String(), jwk.D, "the private key is never printed")
	assert.NotRegexp(t, `eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.`, out.String(), "no JWT (token, assertion or proof) is printed")
}

func TestRunFailures(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct {
		args []string
		env  map[string]string
		msg  string
	}{
		"incomplete":       {nil, map[string]string{"HELSEID_ISSUER": "https://helseid-sts.test.nhn.no"}, "incomplete configuration"},
		"api without rest": {[]string{"-api-url", "https://api.example"}, nil, "need HELSEID_ISSUER"},
		"missing jwk file": {[]string{"-issuer", "https://helseid-sts.test.nhn.no", "-client-id", "c", "-jwk-file", filepath.Join(dir, "nope"), "-scope", "a/b"}, nil, "read HELSEID_JWK_FILE"},
		"http issuer":      {nil, map[string]string{"HELSEID_ISSUER": "http://helseid.example", "HELSEID_CLIENT_ID": "c", "HELSEID_JWK_FILE": writeKey(t, dir), "HELSEID_SCOPE": "a/b"}, "https"},
		"http api":         {nil, map[string]string{"HELSEID_ISSUER": "https://helseid.example", "HELSEID_CLIENT_ID": "c", "HELSEID_JWK_FILE": writeKey(t, dir), "HELSEID_SCOPE": "a/b", "HELSEID_API_URL": "http://api.example/x"}, "HELSEID_API_URL"},
		"extra argument":   {[]string{"extra"}, nil, "unexpected arguments"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &out)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func writeKey(t *testing.T, dir string) string {
	t.Helper()
	key, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	data, err := key.PrivateJWK()
	require.NoError(t, err)
	path := filepath.Join(dir, key.KeyID()[:8]+".jwk")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}
