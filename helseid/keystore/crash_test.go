//go:build unix

package keystore_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

// The crash tests' child process: the test binary run again with these variables set.
const (
	envRole   = "KEYSTORE_TEST_ROLE" // "rotate"
	envIssuer = "KEYSTORE_TEST_ISSUER"
	envStore  = "KEYSTORE_TEST_STORE"
	envStopAt = "KEYSTORE_TEST_STOP_AT" // a step name, or empty to run to the end
)

func TestMain(m *testing.M) {
	if os.Getenv(envRole) == "rotate" {
		os.Exit(rotateChild())
	}
	os.Exit(m.Run())
}

// rotateChild is a service starting up: it resolves a pending key, then rotates. At the step
// named by envStopAt it prints "at <step>" and blocks until it is killed.
func rotateChild() int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := helseid.Config{Issuer: os.Getenv(envIssuer), ClientID: clientID}
	rot := &keystore.Rotator{
		Store:         keystore.NewFileStore(os.Getenv(envStore)),
		Authenticator: &keystore.TokenEndpoint{Config: cfg},
	}
	keys, err := rot.Resolve(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "resolve:", err)
		return 1
	}
	cfg.Key = keys.Current
	client, err := helseid.NewClient(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	defer client.Close()
	rot.Registrar, err = selfservice.NewClient(selfservice.Config{BaseURL: cfg.Issuer, Client: client})
	if err != nil {
		fmt.Fprintln(os.Stderr, "selfservice:", err)
		return 1
	}
	stopAt := os.Getenv(envStopAt)
	keystore.SetStepHook(rot, func(step string) {
		if step == stopAt {
			fmt.Println("at " + step)
			select {} // until SIGKILL
		}
	})
	if _, err := rot.Rotate(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "rotate:", err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// runChild runs a rotating child process against srv. With stopAt, it waits for the child to
// reach that step and kills it there with SIGKILL; without, it waits for it to finish.
func runChild(t *testing.T, srv *helseidtest.Server, storePath, stopAt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRole+"=rotate", envIssuer+"="+srv.Issuer(), envStore+"="+storePath, envStopAt+"="+stopAt)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line := ""
	if sc := bufio.NewScanner(stdout); sc.Scan() {
		line = sc.Text()
	}
	if stopAt == "" {
		require.NoError(t, cmd.Wait(), "child: %s", stderr.String())
		require.Equal(t, "done", line)
		return
	}
	if line != "at "+stopAt {
		_ = cmd.Process.Kill()
		_ = cmd.Wait() // the stderr copy is done once Wait returns
		t.Fatalf("the child printed %q, not %q: %s", line, "at "+stopAt, stderr.String())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	status, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, status.Signaled() && status.Signal() == syscall.SIGKILL, "the child died of SIGKILL: %v", err)
}

// TestRotationSurvivesKillAtEveryStep kills a rotating process at each step of the protocol,
// restarts (Resolve, as a service does on start) and checks that the stored key is one
// HelseID accepts, that nothing was registered twice, and that the next rotation works.
func TestRotationSurvivesKillAtEveryStep(t *testing.T) {
	cases := []struct {
		step         string
		pendingAfter bool // the store holds a pending key when the process dies
		registered   bool // HelseID holds the new key when the process dies
	}{
		{step: "generated"},
		{step: "pending-stored", pendingAfter: true},
		{step: "registered", pendingAfter: true, registered: true},
		{step: "promoted", registered: true},
	}
	for _, tc := range cases {
		t.Run(tc.step, func(t *testing.T) {
			ctx := context.Background()
			srv, first := newServer(t)
			path := filepath.Join(t.TempDir(), "client-key.json")
			store := keystore.NewFileStore(path)
			require.NoError(t, store.Save(ctx, &keystore.Keys{Current: first}))

			runChild(t, srv, path, tc.step)

			// What the killed process left behind.
			left, err := store.Load(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.pendingAfter, left.Pending != nil, "pending key in the store")
			kids, _, _ := srv.ClientKeyIDs(clientID)
			require.Len(t, kids, 1)
			assert.Equal(t, tc.registered, kids[0] != first.KeyID(), "HelseID holds the new key")
			if tc.registered {
				assert.ErrorIs(t, tryKey(t, srv, first), helseid.ErrInvalidClient, "registering replaced the first key")
			} else {
				assert.NoError(t, tryKey(t, srv, first), "the first key still works")
			}
			if left.Pending != nil {
				if verdict := tryKey(t, srv, left.Pending); tc.registered {
					assert.NoError(t, verdict, "HelseID accepts the registered pending key")
				} else {
					assert.ErrorIs(t, verdict, helseid.ErrInvalidClient, "HelseID refuses the unregistered pending key")
				}
			}

			// Restart.
			rot := &keystore.Rotator{Store: store, Authenticator: tokenEndpoint(srv)}
			keys, err := rot.Resolve(ctx)
			require.NoError(t, err)
			assert.Nil(t, keys.Pending)
			assert.Equal(t, kids[0], keys.Current.KeyID(), "the stored key is the one HelseID holds")
			assert.NoError(t, tryKey(t, srv, keys.Current), "the stored key authenticates")
			reloaded, err := store.Load(ctx)
			require.NoError(t, err)
			assert.Equal(t, keys.Current.KeyID(), reloaded.Current.KeyID())
			assert.Nil(t, reloaded.Pending)
			assert.Equal(t, tc.step == "promoted", !reloaded.Expires.IsZero(), "expiration known only from HelseID's answer")
			wantRegistered := int64(0)
			if tc.registered {
				wantRegistered = 1
			}
			assert.Equal(t, wantRegistered, srv.Stats().KeysRegistered, "resolving registers nothing")
			assertPrivateFile(t, path)

			// And the service rotates on.
			runChild(t, srv, path, "")
			final, err := store.Load(ctx)
			require.NoError(t, err)
			assert.NotEqual(t, keys.Current.KeyID(), final.Current.KeyID())
			assert.False(t, final.Expires.IsZero())
			assert.NoError(t, tryKey(t, srv, final.Current))
			assert.ErrorIs(t, tryKey(t, srv, keys.Current), helseid.ErrInvalidClient)
		})
	}
}

// TestRestartedProcessResolvesAndRotates restarts the killed process itself: its start-up
// Resolve settles the pending key, and its rotation then succeeds.
func TestRestartedProcessResolvesAndRotates(t *testing.T) {
	for _, step := range []string{"pending-stored", "registered"} {
		t.Run(step, func(t *testing.T) {
			ctx := context.Background()
			srv, first := newServer(t)
			path := filepath.Join(t.TempDir(), "client-key.json")
			store := keystore.NewFileStore(path)
			require.NoError(t, store.Save(ctx, &keystore.Keys{Current: first}))
			runChild(t, srv, path, step)
			left, err := store.Load(ctx)
			require.NoError(t, err)
			require.NotNil(t, left.Pending)

			runChild(t, srv, path, "")
			final, err := store.Load(ctx)
			require.NoError(t, err)
			assert.Nil(t, final.Pending)
			assert.False(t, final.Expires.IsZero())
			kids, _, _ := srv.ClientKeyIDs(clientID)
			assert.Equal(t, []string{final.Current.KeyID()}, kids)
			assert.NoError(t, tryKey(t, srv, final.Current))
			for _, old := range []*helseid.Key{first, left.Pending} {
				if old.KeyID() != final.Current.KeyID() {
					assert.ErrorIs(t, tryKey(t, srv, old), helseid.ErrInvalidClient)
				}
			}
			want := int64(1) // the restarted process's own registration
			if step == "registered" {
				want = 2
			}
			assert.Equal(t, want, srv.Stats().KeysRegistered)
		})
	}
}
