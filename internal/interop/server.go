// Package interop runs an independent FAPI 2.0 authorization server (panva's oidc-provider on
// Node.js, in testdata/server) for interoperability tests of the SDK.
//
// Tests call Start with the client metadata they need; the server listens on a free
// 127.0.0.1 port and is stopped when the test ends. Node.js and the server's npm packages
// must be installed: run `npm ci` in internal/interop/testdata/server.
package interop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// readyTimeout bounds how long Start waits for one server process to print READY. The server
// needs about a second of CPU, but now and then a process stops before it is ready (seen on
// clean CI runs: it printed oidc-provider's first warning and nothing more for minutes, while
// the next one started in a second), so a process that is not ready in time is killed and
// another started, up to startAttempts in all.
const readyTimeout = 45 * time.Second

// startAttempts bounds the server processes Start tries: a port taken by someone else before
// node binds it, or a process that never gets ready, is worth another try.
const startAttempts = 3

// stopTimeout bounds how long the cleanup waits for the server to exit after an interrupt
// before it kills it.
const stopTimeout = 5 * time.Second

// AccountID is the subject of the one end-user the server logs in by itself.
const AccountID = "interop-user"

// Server is a running oidc-provider.
type Server struct {
	issuer string
	log    *outputLog
}

// Issuer is the server's issuer identifier, http://127.0.0.1:PORT with no trailing slash.
// The endpoints are listed at Issuer()+"/.well-known/openid-configuration".
func (s *Server) Issuer() string { return s.issuer }

// Log returns what the server printed so far (stdout and stderr). Failed requests are
// logged there with the real reason, which oidc-provider keeps out of its responses.
func (s *Server) Log() string { return s.log.String() }

// Start starts the server with clients (client metadata objects, JSON-encoded into the
// server's CLIENTS variable) and waits until it is ready. The server is stopped, and its
// output logged if the test failed, in t.Cleanup.
func Start(t testing.TB, clients []map[string]any) *Server {
	t.Helper()

	dir, err := serverDir()
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("interop: Node.js is required for the interop tests (node not found in PATH: %v); install Node.js 20 or later and npm, then run `npm ci` in internal/interop/testdata/server", err)
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("interop: npm is required for the interop tests (npm not found in PATH: %v); install it, then run `npm ci` in internal/interop/testdata/server", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		t.Fatalf("interop: the server's npm packages are not installed (%v): run `npm ci` in internal/interop/testdata/server", err)
	}

	if clients == nil {
		clients = []map[string]any{}
	}
	clientsJSON, err := json.Marshal(clients)
	if err != nil {
		t.Fatalf("interop: encode clients: %v", err)
	}

	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		srv, err := start(t, node, dir, clientsJSON)
		if err == nil {
			return srv
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) && !errors.Is(err, errNotReady) {
			break
		}
		t.Logf("interop: starting the server again: %v", err)
	}
	t.Fatalf("interop: %v", lastErr)
	return nil
}

var (
	errAddrInUse = errors.New("port already in use")
	errNotReady  = errors.New("server not ready")
)

func start(t testing.TB, node, dir string, clientsJSON []byte) (*Server, error) {
	t.Helper()

	port, err := freePort()
	if err != nil {
		return nil, err
	}

	log := &outputLog{ready: make(chan string, 1)}
	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "CLIENTS="+string(clientsJSON))
	cmd.Stdout = &lineWriter{log: log, stdout: true}
	cmd.Stderr = &lineWriter{log: log}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node server.mjs: %w", err)
	}

	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			_ = cmd.Process.Kill()
		}
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case issuer := <-log.ready:
		srv := &Server{issuer: issuer, log: log}
		t.Cleanup(func() {
			stop()
			if t.Failed() {
				t.Logf("interop server output:\n%s", log.String())
			}
		})
		return srv, nil
	case <-exited:
		out := log.String()
		if strings.Contains(out, "EADDRINUSE") {
			return nil, fmt.Errorf("%w: 127.0.0.1:%d", errAddrInUse, port)
		}
		return nil, fmt.Errorf("server exited before it was ready (%v); output:\n%s", waitErr, out)
	case <-timer.C:
		stop()
		return nil, fmt.Errorf("%w after %s; output:\n%s", errNotReady, readyTimeout, log.String())
	}
}

// serverDir is testdata/server beside this source file, so that Start works from the tests
// of any package.
func serverDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the interop package's source directory")
	}
	dir := filepath.Join(filepath.Dir(file), "testdata", "server")
	if _, err := os.Stat(filepath.Join(dir, "server.mjs")); err != nil {
		return "", fmt.Errorf("server.mjs not found: %w", err)
	}
	return dir, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// outputLog keeps the server's output and reports its READY line.
type outputLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan string
	seen  bool
}

func (l *outputLog) line(text string, stdout bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.WriteString(text)
	l.buf.WriteByte('\n')
	if stdout && !l.seen {
		if issuer, ok := strings.CutPrefix(text, "READY "); ok {
			l.seen = true
			l.ready <- strings.TrimSpace(issuer)
		}
	}
}

func (l *outputLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lineWriter splits one output stream into lines for outputLog.
type lineWriter struct {
	log     *outputLog
	stdout  bool
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.log.line(strings.TrimRight(string(w.partial[:i]), "\r"), w.stdout)
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}
