package examples_test

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis/internal/redistest"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const scope = "nhn:helseidtest-api/read"

// TestExamplesShareTokensThroughRedis runs each fleet example twice, as two processes of a
// fleet against one helseidtest and one Redis: the second gets its tokens from Redis without a
// token request.
func TestExamplesShareTokensThroughRedis(t *testing.T) {
	srv := helseidtest.NewServer(t)
	clientJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "fleet-example", Scopes: []string{scope}, OrgNumber: helseidtest.DefaultOrgNumber, MultiTenant: true})
	require.NoError(t, err)
	dpopKey, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	dpopJWK, err := dpopKey.PrivateJWK()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "client.jwk"), clientJWK, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dpop.jwk"), dpopJWK, 0o600))
	cacheKey := make([]byte, 32)
	_, err = rand.Read(cacheKey)
	require.NoError(t, err)
	rs := redistest.Start(t)
	env := append(os.Environ(),
		"HELSEID_ISSUER="+srv.Issuer(), "HELSEID_CLIENT_ID=fleet-example", "HELSEID_JWK_FILE="+filepath.Join(dir, "client.jwk"),
		"HELSEID_SCOPE="+scope, "HELSEID_API_URL="+srv.APIURL(), "HELSEID_ORGNR_PARENT=912345678",
		"HELSEID_REDIS_URL="+rs.URL(), "HELSEID_DPOP_JWK_FILE="+filepath.Join(dir, "dpop.jwk"),
		"HELSEID_CACHE_KEY="+base64.StdEncoding.EncodeToString(cacheKey))

	run := func(bin string) string {
		t.Helper()
		cmd := exec.Command(bin)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}

	cc := build(t, "./clientcredentials")
	out := run(cc)
	assert.Contains(t, out, "requested from HelseID")
	assert.Contains(t, out, "answered 200")
	require.EqualValues(t, 1, srv.Stats().TokensIssued)
	out = run(cc)
	assert.Contains(t, out, "taken from Redis")
	assert.Contains(t, out, "answered 200", "the shared token is bound to the shared DPoP key")
	assert.Contains(t, out, "Token requests: 0, tokens from Redis: 1.")
	assert.EqualValues(t, 1, srv.Stats().TokensIssued, "no token request by the second process")

	mt := build(t, "./multitenant")
	out = run(mt)
	assert.Contains(t, out, "Token requests: 4, tokens from Redis: 0.")
	require.EqualValues(t, 5, srv.Stats().TokensIssued)
	out = run(mt)
	assert.Contains(t, out, "Token requests: 0, tokens from Redis: 4.")
	assert.EqualValues(t, 5, srv.Stats().TokensIssued)
}

func TestExamplesRefuseIncompleteSettings(t *testing.T) {
	cmd := exec.Command(build(t, "./clientcredentials"))
	cmd.Env = append(os.Environ(), "HELSEID_ISSUER=https://helseid-sts.test.nhn.no")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "HELSEID_REDIS_URL, HELSEID_DPOP_JWK_FILE, HELSEID_CACHE_KEY not set")
}

// build compiles an example into the test's temporary directory.
func build(t *testing.T, pkg string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command must be on PATH to build the examples")
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	out, err := exec.Command(goBin, "build", "-o", bin, pkg).CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
	return bin
}
