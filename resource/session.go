package resource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/internal/accesstoken"
	"github.com/helseid-go/sdk/internal/tokenendpoint"
)

var (
	// ErrRefreshTokenExpired reports a session whose refresh token is past its lifetime
	// (rt_expires_in): the user must log in again. No request is sent.
	ErrRefreshTokenExpired = errors.New("refresh token has expired")
	// ErrInvalidConfig reports a Config the Session cannot work with.
	ErrInvalidConfig = errors.New("invalid resource session configuration")
	// ErrInvalidResource reports a resource value the Session refuses before sending it.
	ErrInvalidResource = errors.New("invalid resource")
	// ErrInvalidGrant is the server's answer to a refresh token it no longer accepts (used,
	// revoked, expired): the user must log in again.
	ErrInvalidGrant = tokenendpoint.ErrInvalidGrant
)

// Error is an error response of the token endpoint; read it with errors.As.
type Error = tokenendpoint.Error

// Token is an access token for one resource. Formatting and logging it never shows the token.
type Token = accesstoken.Token

// ClientAuthenticator adds client authentication to a token request form (a fresh
// private_key_jwt assertion per call).
type ClientAuthenticator interface {
	Authenticate(form url.Values) error
}

// PersistFunc stores a new refresh token (and its expiry, zero when unknown) before the
// access token it came with is handed out: when the old token has been used up, the new one
// must not be lost. An error is returned to the caller of Token; the session keeps the new
// token in memory either way.
type PersistFunc func(ctx context.Context, refreshToken string, expiry time.Time) error

// Config configures a Session.
type Config struct {
	// TokenEndpoint is the authorization server's token endpoint. Required.
	TokenEndpoint string
	// ClientAuth authenticates the client on every refresh. Required.
	ClientAuth ClientAuthenticator
	// Proofer, when set, sends a DPoP proof with every refresh (the new access tokens are
	// bound to its key) and requires token_type DPoP.
	Proofer *dpop.Proofer
	// Nonces keeps the server's DPoP nonces; nil means a store of the Session's own.
	Nonces *dpop.NonceStore
	// HTTPClient sends the requests; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Persist, when set, stores every new refresh token (see PersistFunc).
	Persist PersistFunc
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ExpiryMargin: an access token is not handed out in its last ExpiryMargin (so it does
	// not expire in flight); zero means 10 s.
	ExpiryMargin time.Duration
}

// Session is one user's refresh token and the access tokens it got, per resource. It is safe
// for concurrent use.
type Session struct {
	endpoint *tokenendpoint.Client
	persist  PersistFunc
	now      func() time.Time
	margin   time.Duration
	refresh  chan struct{} // a one-slot lane: one refresh in flight per session

	mu            sync.Mutex // guards the fields below and writes of tokens
	refreshToken  string
	refreshExpiry time.Time
	ended         error              // invalid_grant: the session is over
	failures      map[string]failure // per resource: its last refresh's error, while backed off
	// tokens is replaced, never changed, so that reads take no lock: refreshes are rare,
	// reads happen on every request.
	tokens atomic.Pointer[map[string]*Token]
}

// NewSession returns a Session for refreshToken (with its expiry, zero when unknown).
func NewSession(cfg Config, refreshToken string, refreshExpiry time.Time) (*Session, error) {
	if refreshToken == "" {
		return nil, fmt.Errorf("%w: the refresh token is empty", ErrInvalidConfig)
	}
	if cfg.ClientAuth == nil {
		return nil, fmt.Errorf("%w: ClientAuth is nil", ErrInvalidConfig)
	}
	endpoint, err := tokenendpoint.NewWithDPoP(tokenendpoint.Config{HTTPClient: cfg.HTTPClient, Endpoint: cfg.TokenEndpoint,
		Auth: cfg.ClientAuth, Now: cfg.Now}, cfg.Proofer, cfg.Nonces, dpop.NewNonceStore)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s := &Session{endpoint: endpoint, persist: cfg.Persist, now: cfg.Now, margin: cfg.ExpiryMargin,
		refresh: make(chan struct{}, 1), refreshToken: refreshToken, refreshExpiry: refreshExpiry,
		failures: map[string]failure{}}
	s.tokens.Store(&map[string]*Token{})
	if s.now == nil {
		s.now = time.Now
	}
	if s.margin == 0 {
		s.margin = 10 * time.Second
	}
	return s, nil
}

// Put records an access token the session already has for resource, such as the one of the
// code exchange.
func (s *Session) Put(resource string, tok Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.storeLocked(resource, &tok, false)
}

// storeLocked publishes tok for resource (dropping every other token with dropOthers); s.mu
// must be held.
func (s *Session) storeLocked(resource string, tok *Token, dropOthers bool) {
	next := map[string]*Token{}
	if !dropOthers {
		for k, v := range *s.tokens.Load() {
			next[k] = v
		}
	}
	next[resource] = tok
	s.tokens.Store(&next)
}

// RefreshToken returns the newest refresh token and its expiry.
func (s *Session) RefreshToken() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshToken, s.refreshExpiry
}

// Token returns a usable access token for resource: the cached one, or a new one from a
// refresh with exactly that resource (RFC 8707 §2.2). Refreshes of one session run one at a
// time; a caller waiting for another's refresh stops waiting when its ctx ends. The new
// refresh token is persisted before the access token is handed out; after a failed refresh
// the old one is kept.
//
// Failures are per resource: a refresh the server refused for one resource (invalid_target,
// say) is answered from memory for that resource for a while (2 s, doubling while it repeats,
// at most 30 s) and holds up no other resource. invalid_grant is different: the refresh
// token is gone, the session is over, and every later call returns ErrInvalidGrant with no
// further request.
func (s *Session) Token(ctx context.Context, resource string) (*Token, error) {
	if tok := s.cached(resource); tok != nil {
		return tok, nil
	}
	if resource == "" || strings.ContainsAny(resource, " \t\r\n") {
		return nil, fmt.Errorf("%w: %.64q is empty or has white space", ErrInvalidResource, resource)
	}
	return s.exclusive(ctx, func() (*Token, error) {
		if tok := s.cached(resource); tok != nil { // refreshed while this caller waited
			return tok, nil
		}
		s.mu.Lock()
		f := s.failures[resource]
		s.mu.Unlock()
		if f.err != nil && s.now().Before(f.until) {
			return nil, f.err
		}
		return s.refreshFor(ctx, resource, false)
	})
}

// Switch changes the context the session's tokens carry (HelseID: the organisation in the
// client assertion) and refreshes for resource, with no other refresh in flight: change runs
// first, and undo runs if the refresh fails. Every other resource's cached token and
// remembered failure is dropped once the refresh succeeds, since it belongs to the old
// context; a failed Switch is not remembered.
func (s *Session) Switch(ctx context.Context, resource string, change, undo func()) (*Token, error) {
	if resource == "" || strings.ContainsAny(resource, " \t\r\n") {
		return nil, fmt.Errorf("%w: %.64q is empty or has white space", ErrInvalidResource, resource)
	}
	return s.exclusive(ctx, func() (*Token, error) {
		change()
		tok, err := s.refreshFor(ctx, resource, true)
		if err != nil {
			undo()
		}
		return tok, err
	})
}

// Invalidate drops resource's cached token if it is token, for example after an API
// answered 401 invalid_token, so that the next Token refreshes.
func (s *Session) Invalidate(resource, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := *s.tokens.Load()
	if t := cur[resource]; t != nil && t.AccessToken == token {
		next := make(map[string]*Token, len(cur))
		for k, v := range cur {
			if k != resource {
				next[k] = v
			}
		}
		s.tokens.Store(&next)
	}
}

// exclusive runs fn holding the refresh lane, unless the session is over.
func (s *Session) exclusive(ctx context.Context, fn func() (*Token, error)) (*Token, error) {
	select {
	case s.refresh <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.refresh }()
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended != nil {
		return nil, ended
	}
	return fn()
}

// cached returns resource's token while it is usable. The returned Token is shared: do not
// change it.
func (s *Session) cached(resource string) *Token {
	tok := (*s.tokens.Load())[resource]
	if tok != nil && (tok.Expiry.IsZero() || s.now().Before(tok.Expiry.Add(-s.margin))) {
		return tok
	}
	return nil
}

// refreshTimeout bounds one refresh. A refresh is not cancelled with its caller's context:
// once sent, the response must be read, or the rotated refresh token would be lost.
const refreshTimeout = 30 * time.Second

// A failed refresh is answered from memory for failureBackoff, doubling with each
// consecutive failure up to maxFailureBackoff, so that waiting callers do not each send one
// and a lasting refusal costs the server little.
const (
	failureBackoff    = 2 * time.Second
	maxFailureBackoff = 30 * time.Second
)

// failure is a remembered error, answered until until.
type failure struct {
	err   error
	until time.Time
	n     int // consecutive failures
}

// next is f after one more failure with err at now.
func (f failure) next(err error, now time.Time) failure {
	d := failureBackoff
	for i := 1; i <= f.n && d < maxFailureBackoff; i++ {
		d *= 2
	}
	return failure{err: err, until: now.Add(min(d, maxFailureBackoff)), n: f.n + 1}
}

// refreshFor sends one refresh; the caller holds the refresh lane. switched says that the
// session's context has just changed (Switch): a failure is not remembered, and success
// drops what belongs to the old context.
func (s *Session) refreshFor(ctx context.Context, resource string, switched bool) (*Token, error) {
	rt, exp := s.RefreshToken()
	if !exp.IsZero() && !s.now().Before(exp) {
		return nil, ErrRefreshTokenExpired
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	resp, err := s.endpoint.Token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {resource}})
	if err != nil {
		err = fmt.Errorf("refresh for %s: %w", resource, err)
		s.mu.Lock()
		if errors.Is(err, ErrInvalidGrant) {
			s.ended = err // final: the grant is gone
		} else if !switched {
			s.failures[resource] = s.failures[resource].next(err, s.now())
		}
		s.mu.Unlock()
		return nil, err
	}
	tok := Token{AccessToken: resp.AccessToken, Expiry: resp.Expiry}
	s.mu.Lock()
	delete(s.failures, resource)
	if switched {
		clear(s.failures)
	}
	if resp.RefreshToken != "" {
		s.refreshToken, s.refreshExpiry = resp.RefreshToken, resp.RefreshExpiry
	}
	newRT, newExp := s.refreshToken, s.refreshExpiry
	s.mu.Unlock()
	if resp.RefreshToken != "" && s.persist != nil {
		// The access token is published only once the refresh token that came with it is
		// saved: otherwise the next call refreshes (with the new token, kept in memory) and
		// tries to persist again.
		if err := s.persist(ctx, newRT, newExp); err != nil {
			return nil, fmt.Errorf("persist the new refresh token: %w", err)
		}
	}
	s.mu.Lock()
	s.storeLocked(resource, &tok, switched)
	s.mu.Unlock()
	return &tok, nil
}
