// Package redistest starts a real redis-server for one test: on a free loopback port, with
// its files in the test's temporary directory, stopped when the test ends. No mock stands in
// for Redis in this module's tests.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long redis-server may take to say it is ready.
const startTimeout = 15 * time.Second

// Server is one redis-server process. Stop and Start may be called again to simulate an
// outage; the port and directory stay the same.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string

	t   testing.TB
	dir string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts a redis-server and registers its stop with t.Cleanup. Without redis-server on
// PATH the test fails with a message saying how to install it.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is required for this test (Debian: apt-get install -y redis-server): %v", err)
	}
	s := &Server{t: t, dir: t.TempDir(), Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server again after Stop; it returns once the server accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command("redis-server",
		"--bind", "127.0.0.1", "--port", port, "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--logfile", "", "--daemonize", "no",
		"--protected-mode", "yes")
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatalf("redis-server stdout: %v", err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	var log strings.Builder
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if !signalled {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "Ready to accept connections") {
					signalled = true
					close(ready)
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
	case <-done:
		s.t.Fatalf("redis-server exited before it was ready:\n%s", log.String())
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-done
		s.t.Fatalf("redis-server was not ready within %v", startTimeout)
	}
	s.cmd, s.done = cmd, done
}

// Stop kills the server (as a crash would) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// URL is the server's address as a redis:// URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://%s/0", s.Addr) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
