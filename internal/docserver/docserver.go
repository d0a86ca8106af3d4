// Package docserver is a test helper: an httptest server that serves one document (discovery,
// a key set) which the test changes as it goes, counts requests, can hold them until released,
// and remembers the last request's headers.
package docserver

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
)

// TB is the part of testing.TB the server needs.
type TB interface {
	Helper()
	Cleanup(func())
}

// Server is safe for concurrent use.
type Server struct {
	*httptest.Server
	// Requests counts the requests received.
	Requests    atomic.Int32
	contentType string

	mu     sync.Mutex
	status int
	body   string
	block  chan struct{}
	header http.Header
}

// New starts a server answering 200 with body; t's cleanup closes it.
func New(t TB, contentType, body string) *Server {
	t.Helper()
	s := &Server{contentType: contentType, status: http.StatusOK, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.Requests.Add(1)
	s.mu.Lock()
	status, body, block := s.status, s.body, s.block
	s.header = r.Header.Clone()
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", s.contentType)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// Set changes the answer.
func (s *Server) Set(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// SetBlock makes each request wait until ch is closed (nil: answer at once).
func (s *Server) SetBlock(ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.block = ch
}

// LastHeader returns the headers of the last request.
func (s *Server) LastHeader() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header
}
