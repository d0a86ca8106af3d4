package helseidtest

import "net/http"

type tokenHook struct {
	fn func(w http.ResponseWriter, r *http.Request) (handled bool)
}

// SetTokenHook installs a fault-injection hook that runs before the token endpoint handles a
// request (after TokenRequests is counted). If it returns true the server does nothing more
// with the request: the hook wrote the response (a 500, garbage, an oversized body, a slow
// reply) or hijacked and reset the connection. If it returns false it must not have written
// anything, and must not have read the body unless it restored it. nil removes the hook.
// A hook that blocks should return when r.Context() is done, so that Close does not wait.
// A response written by the hook carries no DPoP-Nonce unless the hook sets one.
func (s *Server) SetTokenHook(h func(w http.ResponseWriter, r *http.Request) (handled bool)) {
	if h == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&tokenHook{fn: h})
}
