package keystore_test

import (
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

const clientID = "rotating-client"

// newServer starts helseidtest with a client that may rotate its key, and returns its key.
func newServer(t *testing.T) (*helseidtest.Server, *helseid.Key) {
	t.Helper()
	srv := helseidtest.NewServer(t)
	priv, err := srv.GenerateClient(clientID, selfservice.Scope)
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	return srv, key
}

func tokenEndpoint(srv *helseidtest.Server) *keystore.TokenEndpoint {
	return &keystore.TokenEndpoint{Config: helseid.Config{Issuer: srv.Issuer(), ClientID: clientID, HTTPClient: srv.Client()}}
}

// tryKey asks srv for a token signed by key.
func tryKey(t *testing.T, srv *helseidtest.Server, key *helseid.Key) error {
	t.Helper()
	return tokenEndpoint(srv).Authenticate(context.Background(), key)
}

// assertPrivateFile checks that only the owner may read or write path (Windows has no such
// mode bits; there the file's ACL is the directory's).
func assertPrivateFile(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
}
