package resource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/accesstoken"
	"github.com/helseid-go/sdk/internal/tokencache"
)

var (
	// ErrRefreshTokenExpired reports a session whose refresh token is past its lifetime
	// (rt_expires_in): the user must log in again. No request is sent.
	ErrRefreshTokenExpired = errors.New("refresh token has expired")
	// ErrInvalidResource reports a resource value the Session refuses before sending it.
	ErrInvalidResource = errors.New("invalid resource")
	// ErrInvalidGrant is the server's answer to a refresh token it no longer accepts (used,
	// revoked, expired): the user must log in again.
	ErrInvalidGrant error = fapi.ErrInvalidGrant
	// ErrPersistFailed reports that Persist failed for a refresh token the server has already
	// rotated: the session keeps the new refresh token in memory (RefreshToken returns it) and
	// holds the access token back until a later call's Persist succeeds. The error also wraps
	// Persist's own.
	ErrPersistFailed = errors.New("new refresh token not persisted")
)

// PersistFunc stores a new refresh token (and its expiry, zero when unknown) before the
// access token it came with is handed out: when the old token has been used up, the new one
// must not be lost.
//
// When it fails, the session keeps the new refresh token in memory and holds the access token
// back: the caller gets ErrPersistFailed (wrapping the error), and so does every caller that
// needs a new token, while cached tokens keep being served. No other refresh is sent
// meanwhile (it would rotate the refresh token again); instead, the next call after a
// backoff (2 s, doubling while it fails, at most 30 s) calls Persist again with the newest
// refresh token, and once that succeeds the held access token is handed out. Persist runs
// with the refresh's context, which its caller's cancellation does not end.
type PersistFunc func(ctx context.Context, refreshToken string, expiry time.Time) error

// Config configures a Session.
type Config struct {
	// TokenEndpoint is the authorization server's token endpoint. Required.
	TokenEndpoint string
	// Settings are the client's token-request settings (client authentication, which is
	// required, DPoP, HTTP client, retries, clock), shared with its other requests. With a
	// Proofer every refresh carries a DPoP proof (the new access tokens are bound to its key)
	// and token_type DPoP is required. A refresh is retried after a transient failure only
	// when the server's answer says it did not act on it (see fapi.ConsumesOnSuccess).
	Settings fapi.Settings
	// Persist, when set, stores every new refresh token (see PersistFunc).
	Persist PersistFunc
	// ExpiryMargin: an access token is not handed out in its last ExpiryMargin (so it does
	// not expire in flight); zero means 10 s.
	ExpiryMargin time.Duration
	// Observe, when set, is told of every refresh request when it ends: the context of the
	// call that needed it, the resource, the latency and the outcome (nil on success).
	Observe func(ctx context.Context, resource string, took time.Duration, err error)
}

// UnknownLifetime is how long an access token is taken to live when the token response has
// no expires_in and the token is not a JWT with an exp still ahead: the same minute the
// client-credentials cache assumes. A token of unknown lifetime is never cached for longer,
// so an API that stops accepting it costs at most a minute of refused calls.
const UnknownLifetime = tokencache.DefaultUnknownLifetime

// expiryOf is when token stops being valid: expiry when the server said (expires_in), else
// the JWT's exp, else issued plus UnknownLifetime.
func expiryOf(token string, expiry, issued time.Time) time.Time {
	if !expiry.IsZero() {
		return expiry
	}
	if exp := accesstoken.JWTExpiry(token); exp.After(issued) {
		return exp
	}
	return issued.Add(UnknownLifetime)
}

// Session is one user's refresh token and the access tokens it got, per resource. It is safe
// for concurrent use.
type Session struct {
	endpoint *fapi.Client
	persist  PersistFunc
	observe  func(ctx context.Context, resource string, took time.Duration, err error)
	now      func() time.Time
	margin   time.Duration
	refresh  chan struct{} // a one-slot lane: one refresh in flight per session

	mu            sync.Mutex // guards the fields below and writes of tokens
	refreshToken  string
	refreshExpiry time.Time
	ended         error              // invalid_grant: the session is over
	failures      map[string]failure // per resource: its last refresh's error, while backed off
	unsaved       *heldToken         // a refresh whose refresh token Persist has not taken yet
	// tokens is replaced, never changed, so that reads take no lock: refreshes are rare,
	// reads happen on every request.
	tokens atomic.Pointer[map[string]*fapi.Token]
}

// NewSession returns a Session for refreshToken (with its expiry, zero when unknown).
func NewSession(cfg Config, refreshToken string, refreshExpiry time.Time) (*Session, error) {
	if refreshToken == "" {
		return nil, errors.New("resource: the refresh token is empty")
	}
	endpoint, err := fapi.NewClient(cfg.TokenEndpoint, cfg.Settings)
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	s := &Session{endpoint: endpoint, persist: cfg.Persist, observe: cfg.Observe, now: cfg.Settings.Now, margin: cfg.ExpiryMargin,
		refresh: make(chan struct{}, 1), refreshToken: refreshToken, refreshExpiry: refreshExpiry,
		failures: map[string]failure{}}
	s.tokens.Store(&map[string]*fapi.Token{})
	if s.now == nil {
		s.now = time.Now
	}
	if s.margin == 0 {
		s.margin = 10 * time.Second
	}
	return s, nil
}

// Put records an access token the session already has for resource, such as the one of the
// code exchange. A zero Expiry means unknown: the JWT's exp, else UnknownLifetime from now.
func (s *Session) Put(resource string, tok fapi.Token) {
	tok.Expiry = expiryOf(tok.AccessToken, tok.Expiry, s.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.storeLocked(resource, &tok, false)
}

// storeLocked publishes tok for resource (dropping every other token with dropOthers); s.mu
// must be held.
func (s *Session) storeLocked(resource string, tok *fapi.Token, dropOthers bool) {
	next := map[string]*fapi.Token{}
	if !dropOthers {
		for k, v := range *s.tokens.Load() {
			next[k] = v
		}
	}
	next[resource] = tok
	s.tokens.Store(&next)
}

// RefreshToken returns the newest refresh token and its expiry, also while Persist has not
// taken it yet (see PersistFunc).
func (s *Session) RefreshToken() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshToken, s.refreshExpiry
}

// Token returns a usable access token for resource: the cached one, or a new one from a
// refresh with exactly that resource (RFC 8707 §2.2). Refreshes of one session run one at a
// time; a caller waiting for another's refresh stops waiting when its ctx ends. The new
// refresh token is persisted before the access token is handed out (while Persist fails, see
// PersistFunc: ErrPersistFailed, and no further refresh); after a failed refresh the old one
// is kept.
//
// Failures are per resource: a refresh the server refused for one resource (invalid_target,
// say) is answered from memory for that resource for a while (2 s, doubling while it repeats,
// at most 30 s) and holds up no other resource. invalid_grant is different: the refresh
// token is gone, the session is over, and every later call returns ErrInvalidGrant with no
// further request.
func (s *Session) Token(ctx context.Context, resource string) (*fapi.Token, error) {
	if tok := s.cached(resource); tok != nil {
		return tok, nil
	}
	if resource == "" || strings.ContainsAny(resource, " \t\r\n") {
		return nil, fmt.Errorf("%w: %.64q is empty or has white space", ErrInvalidResource, resource)
	}
	return s.exclusive(ctx, func() (*fapi.Token, error) {
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
// context; a failed Switch is not remembered. When only Persist fails (ErrPersistFailed), the
// switch has happened: undo does not run, and the new token comes as described at
// PersistFunc.
func (s *Session) Switch(ctx context.Context, resource string, change, undo func()) (*fapi.Token, error) {
	if resource == "" || strings.ContainsAny(resource, " \t\r\n") {
		return nil, fmt.Errorf("%w: %.64q is empty or has white space", ErrInvalidResource, resource)
	}
	return s.exclusive(ctx, func() (*fapi.Token, error) {
		change()
		tok, err := s.refreshFor(ctx, resource, true)
		if err != nil && !errors.Is(err, ErrPersistFailed) { // else the server has switched
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
		next := make(map[string]*fapi.Token, len(cur))
		for k, v := range cur {
			if k != resource {
				next[k] = v
			}
		}
		s.tokens.Store(&next)
	}
}

// exclusive runs fn holding the refresh lane, unless the session is over or a refresh token
// is still waiting for Persist.
func (s *Session) exclusive(ctx context.Context, fn func() (*fapi.Token, error)) (*fapi.Token, error) {
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
	if err := s.persistHeld(ctx); err != nil {
		return nil, err
	}
	return fn()
}

// heldToken is an access token waiting for the refresh token that came with it to be
// persisted.
type heldToken struct {
	resource string
	tok      *fapi.Token
	failure  failure // Persist's
}

// persistHeld retries Persist for a refresh whose Persist failed, once its backoff is over,
// and publishes the access token it held back; the caller holds the refresh lane.
func (s *Session) persistHeld(ctx context.Context) error {
	s.mu.Lock()
	held, rt, exp := s.unsaved, s.refreshToken, s.refreshExpiry
	s.mu.Unlock()
	if held == nil {
		return nil
	}
	if f := held.failure; s.now().Before(f.until) {
		return f.err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	err := s.persist(ctx, rt, exp)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrPersistFailed, err)
		held.failure = held.failure.next(err, s.now())
		return err
	}
	s.unsaved = nil
	s.storeLocked(held.resource, held.tok, false)
	return nil
}

// cached returns resource's token while it is usable. The returned Token is shared: do not
// change it.
func (s *Session) cached(resource string) *fapi.Token { return s.CachedAt(resource, s.now()) }

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
func (s *Session) refreshFor(ctx context.Context, resource string, switched bool) (*fapi.Token, error) {
	rt, exp := s.RefreshToken()
	if !exp.IsZero() && !s.now().Before(exp) {
		return nil, ErrRefreshTokenExpired
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	sent, started := s.now(), time.Now()
	resp, err := s.endpoint.Refresh(ctx, rt, resource)
	if s.observe != nil {
		s.observe(ctx, resource, time.Since(started), err)
	}
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
	tok := &fapi.Token{AccessToken: resp.AccessToken, Expiry: expiryOf(resp.AccessToken, resp.Expiry, sent)}
	s.mu.Lock()
	delete(s.failures, resource)
	if switched {
		clear(s.failures)
		s.tokens.Store(&map[string]*fapi.Token{}) // the old context's tokens
	}
	if resp.RefreshToken != "" {
		s.refreshToken, s.refreshExpiry = resp.RefreshToken, resp.RefreshExpiry
	}
	newRT, newExp := s.refreshToken, s.refreshExpiry
	s.mu.Unlock()
	if resp.RefreshToken != "" && s.persist != nil {
		// The access token is published only once the refresh token that came with it is
		// saved. Until then it is held, and later calls retry Persist, not the refresh:
		// another refresh would rotate the unsaved token again.
		if err := s.persist(ctx, newRT, newExp); err != nil {
			err = fmt.Errorf("%w: %w", ErrPersistFailed, err)
			s.mu.Lock()
			s.unsaved = &heldToken{resource: resource, tok: tok, failure: failure{}.next(err, s.now())}
			s.mu.Unlock()
			return nil, err
		}
	}
	s.mu.Lock()
	s.storeLocked(resource, tok, false)
	s.mu.Unlock()
	return tok, nil
}

// Cached returns resource's access token while it is usable, and nil otherwise; it never
// sends a request. The returned Token is shared: do not change it.
func (s *Session) Cached(resource string) *fapi.Token { return s.cached(resource) }

// CachedAt is Cached at now, the session's clock as the caller has just read it: a caller
// that needs the time for its own check too reads the clock once.
func (s *Session) CachedAt(resource string, now time.Time) *fapi.Token {
	tok := (*s.tokens.Load())[resource]
	if tok != nil && now.Before(tok.Expiry.Add(-s.margin)) {
		return tok
	}
	return nil
}

// Adopt replaces the refresh token with a newer one that another process stored after its own
// refresh (a fleet sharing the session): the next refresh here presents that one. A refresh
// token of this process's own that Persist has not taken yet is superseded, and the access
// token held back with it dropped: the session's store already has a newer generation.
func (s *Session) Adopt(refreshToken string, expiry time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshToken, s.refreshExpiry, s.unsaved = refreshToken, expiry, nil
}

// ReplaceTokens drops every cached access token and keeps tokens instead (a zero Expiry
// read as at Put): for a fleet sharing the session, whose newer record is the whole truth,
// so that a token another process dropped (an organisation switch) is not served here.
func (s *Session) ReplaceTokens(tokens map[string]fapi.Token) {
	now := s.now()
	next := make(map[string]*fapi.Token, len(tokens))
	for res, tok := range tokens {
		tok.Expiry = expiryOf(tok.AccessToken, tok.Expiry, now)
		next[res] = &tok
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended != nil { // an ended session serves nothing, whatever a late reader brings
		return
	}
	s.tokens.Store(&next)
}

// End ends the session: every later call that would refresh returns reason, with no request
// (cached access tokens are dropped too). It is for a session logged out or ended by another
// process.
func (s *Session) End(reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended, s.unsaved = reason, nil
	s.tokens.Store(&map[string]*fapi.Token{})
}
