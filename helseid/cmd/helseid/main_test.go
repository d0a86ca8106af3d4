package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

const (
	clientID = "cli-client"
	apiScope = "nhn:helseidtest-api/read"
)

// jwtPattern matches any JWT: a token, assertion or proof on screen is a leak.
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.`)

// helseidCLI runs the command line in-process.
func helseidCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// server starts helseidtest with a client whose key is in a key file; it returns the file.
func server(t *testing.T) (*helseidtest.Server, string) {
	t.Helper()
	srv := helseidtest.NewServer(t)
	priv, err := srv.GenerateClient(clientID, selfservice.Scope, apiScope)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "key.json")
	require.NoError(t, os.WriteFile(path, priv, 0o600))
	return srv, path
}

func TestHelpForEveryCommand(t *testing.T) {
	code, _, stderr := helseidCLI(t, "-h")
	assert.Equal(t, 0, code)
	for _, c := range commands {
		assert.Contains(t, stderr, c.name)
		code, stdout, stderr := helseidCLI(t, c.name, "-h")
		assert.Equal(t, 0, code, c.name)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "usage: helseid "+c.name, c.name)
	}
	code, _, stderr = helseidCLI(t, "frobnicate")
	assert.Equal(t, 2, code)
	assert.Equal(t, "helseid: unknown command \"frobnicate\" (helseid -h lists them)\n", stderr)
	code, _, _ = helseidCLI(t, "token", "-no-such-flag")
	assert.Equal(t, 2, code)
}

func TestKeygen(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "client")
	code, stdout, stderr := helseidCLI(t, "keygen", "-alg", "ES256", "-out", prefix)
	require.Equal(t, 0, code, stderr)
	fi, err := os.Stat(prefix + ".private.jwk")
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	priv, err := os.ReadFile(prefix + ".private.jwk")
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	pub, err := os.ReadFile(prefix + ".public.jwk")
	require.NoError(t, err)
	assert.NotContains(t, string(pub), `"d"`)
	assert.Contains(t, stdout, "kid "+key.KeyID())
	assert.NotContains(t, stdout, `"d"`, "the private key is not printed")

	code, _, stderr = helseidCLI(t, "keygen", "-alg", "ES256", "-out", prefix)
	assert.Equal(t, 1, code, "an existing key is never overwritten")
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	code, _, stderr = helseidCLI(t, "keygen", "-alg", "HS256", "-out", prefix+"2")
	assert.Equal(t, 1, code)
	assert.True(t, strings.HasPrefix(stderr, "helseid keygen: "), stderr)
}

func TestRotateAndExpiry(t *testing.T) {
	srv, path := server(t)
	code, stdout, stderr := helseidCLI(t, "expiry", "-key", path)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "expires: unknown")

	code, stdout, stderr = helseidCLI(t, "rotate", "-issuer", srv.Issuer(), "-client-id", clientID, "-key", path)
	require.Equal(t, 0, code, stderr)
	keys, err := keystore.NewFileStore(path).Load(context.Background())
	require.NoError(t, err)
	kids, _, _ := srv.ClientKeyIDs(clientID)
	assert.Equal(t, []string{keys.Current.KeyID()}, kids, "the stored key is the one HelseID holds")
	assert.Contains(t, stdout, "rotated: kid "+keys.Current.KeyID())
	assert.NotContains(t, stdout, `"d"`)

	before, err := os.ReadFile(path)
	require.NoError(t, err)
	code, _, stderr = helseidCLI(t, "rotate", "-local", "-client-id", clientID, "-key", path)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "-local cannot rotate")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the key file is untouched")

	code, stdout, stderr = helseidCLI(t, "expiry", "-key", path)
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `expires: \S+ \(\d+\.\d days left\)`, stdout)
}

func TestToken(t *testing.T) {
	srv, path := server(t)
	code, stdout, stderr := helseidCLI(t, "token", "-issuer", srv.Issuer(), "-client-id", clientID, "-key", path, "-scope", apiScope)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"client_id": "`+clientID+`"`)
	assert.Contains(t, stdout, `"cnf"`)
	assert.NotRegexp(t, jwtPattern, stdout, "the token is printed only when asked for")

	code, stdout, stderr = helseidCLI(t, "token", "-issuer", srv.Issuer(), "-client-id", clientID, "-key", path, "-scope", apiScope, "-show-token")
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, jwtPattern, stdout)

	code, _, stderr = helseidCLI(t, "token", "-issuer", srv.Issuer(), "-client-id", "someone-else", "-key", path, "-scope", apiScope)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "invalid_client")
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	assert.NotRegexp(t, jwtPattern, stderr)

	code, _, stderr = helseidCLI(t, "token", "-client-id", clientID, "-key", path, "-scope", apiScope)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "-env test, -env prod, -issuer URL or -local")
}

func TestTokenLocal(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "client")
	code, _, stderr := helseidCLI(t, "keygen", "-alg", "ES256", "-out", prefix)
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr := helseidCLI(t, "token", "-local", "-client-id", "mine", "-key", prefix+".private.jwk", "-scope", apiScope)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"client_id": "mine"`)
}

func TestCall(t *testing.T) {
	srv, path := server(t)
	srv.RequireAPINonce(true)
	code, stdout, stderr := helseidCLI(t, "call", "-issuer", srv.Issuer(), "-client-id", clientID, "-key", path,
		"-scope", apiScope, "-X", "POST", "-H", "X-Trace: 42", "-d", `{"hello":1}`, srv.APIURL()+"/records")
	require.Equal(t, 0, code, stderr)
	assert.True(t, strings.HasPrefix(stdout, "HTTP/1.1 200 OK\n"), stdout)
	assert.Contains(t, stdout, "Content-Type: ")
	assert.Contains(t, stdout, "\n\n{", "the body after a blank line")
	assert.NotRegexp(t, jwtPattern, stdout)

	// A multi-tenant client naming no organisation calls for its own, as token does.
	code, stdout, stderr = helseidCLI(t, "call", "-issuer", srv.Issuer(), "-client-id", clientID, "-key", path,
		"-multi-tenant", "-scope", apiScope, srv.APIURL()+"/records")
	require.Equal(t, 0, code, stderr)
	assert.True(t, strings.HasPrefix(stdout, "HTTP/1.1 200 OK\n"), stdout)

	code, _, stderr = helseidCLI(t, "call", "-issuer", srv.Issuer(), "-client-id", clientID, "-key", path,
		"-scope", apiScope, "-H", "Authorization: Bearer x", srv.APIURL())
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "Authorization is the SDK's to set")
}

func TestVerify(t *testing.T) {
	srv, path := server(t)
	ctx := context.Background()
	keys, err := keystore.NewFileStore(path).Load(ctx)
	require.NoError(t, err)
	c, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, Key: keys.Current, HTTPClient: srv.Client()})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	tok, err := c.Token(ctx, helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
	require.NoError(t, err)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "at")
	require.NoError(t, os.WriteFile(tokenFile, []byte(tok.AccessToken+"\n"), 0o600))
	target := srv.APIURL() + "/x"
	u, err := url.Parse(target)
	require.NoError(t, err)
	proof, err := c.Proofer().Proof("GET", u, "", tok.AccessToken)
	require.NoError(t, err)
	proofFile := filepath.Join(dir, "proof")
	require.NoError(t, os.WriteFile(proofFile, []byte(proof), 0o600))
	base := []string{"verify", "-issuer", srv.Issuer(), "-audience", srv.APIAudience(), "-token-file", tokenFile}

	code, stdout, stderr := helseidCLI(t, base...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "ok: issuer "+srv.Issuer())
	assert.Contains(t, stdout, "bound to key "+c.Proofer().Thumbprint())

	code, stdout, stderr = helseidCLI(t, append(base, "-proof-file", proofFile, "-url", target)...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "ok: ")

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"wrong audience", []string{"verify", "-issuer", srv.Issuer(), "-audience", "nhn:other", "-token-file", tokenFile}, "access token refused"},
		{"proof for another url", append(base, "-proof-file", proofFile, "-url", target+"/other"), "invalid_dpop_proof"},
		{"proof for another method", append(base, "-proof-file", proofFile, "-url", target, "-method", "POST"), "invalid_dpop_proof"},
		{"not a token", []string{"verify", "-issuer", srv.Issuer(), "-audience", srv.APIAudience(), "-token-file", proofFile}, "access token refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := helseidCLI(t, tc.args...)
			assert.Equal(t, 1, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
			assert.NotRegexp(t, jwtPattern, stderr, "no token or proof in the error")
		})
	}
}

// rotate takes the key file's lock: while a service's rotation holds it, rotate fails with one
// line and leaves the file alone.
func TestRotateDuringAnotherRotation(t *testing.T) {
	srv, path := server(t)
	unlock, err := keystore.NewFileStore(path).TryLock(context.Background())
	require.NoError(t, err)
	defer unlock()
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	code, _, stderr := helseidCLI(t, "rotate", "-issuer", srv.Issuer(), "-client-id", clientID, "-key", path)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "a rotation is under way")
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the key file is untouched")
	assert.Zero(t, srv.Stats().KeysRegistered)
}

// A rotation interrupted after registering leaves the file's current key refused and its
// pending key registered: rotate settles it and rotates on its first run, the self-service
// call signed with the promoted key.
func TestRotateAfterACrashAfterRegistering(t *testing.T) {
	ctx := context.Background()
	srv, path := server(t)
	store := keystore.NewFileStore(path)
	keys, err := store.Load(ctx)
	require.NoError(t, err)
	old := keys.Current
	c, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, Key: old, HTTPClient: srv.Client()})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	ss, err := selfservice.NewClient(selfservice.Config{BaseURL: srv.SelfServiceURL(), Client: c})
	require.NoError(t, err)
	pending, err := helseid.GenerateKey("ES256")
	require.NoError(t, err)
	require.NoError(t, store.Save(ctx, &keystore.Keys{Current: old, Pending: pending}))
	_, err = ss.RegisterKey(ctx, pending) // and the process died before promoting it
	require.NoError(t, err)
	kids, _, _ := srv.ClientKeyIDs(clientID)
	require.Equal(t, []string{pending.KeyID()}, kids, "HelseID dropped the old key")

	code, stdout, stderr := helseidCLI(t, "rotate", "-issuer", srv.Issuer(), "-client-id", clientID, "-key", path)
	require.Equal(t, 0, code, stderr)
	rotated, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Nil(t, rotated.Pending)
	assert.NotEqual(t, pending.KeyID(), rotated.Current.KeyID())
	kids, _, _ = srv.ClientKeyIDs(clientID)
	assert.Equal(t, []string{rotated.Current.KeyID()}, kids, "the stored key is the one HelseID holds")
	assert.Contains(t, stdout, "rotated: kid "+rotated.Current.KeyID()+" replaces "+pending.KeyID())
}
