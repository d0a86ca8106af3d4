package helseid

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/resource"
)

// storedSession is a UserSession's link to its record in the SessionStore.
type storedSession struct {
	store SessionStore
	id    string
	key   []byte                 // the DPoP key's private JWK, as stored
	lane  chan struct{}          // one goroutine of this process asks the fleet at a time; made by build
	lease atomic.Pointer[string] // the refresh lease this process holds, while it refreshes
	// checkAt is when, in Unix nanoseconds of the Client's clock, Token next asks the store
	// whether the session still stands (set when the record is read); 1 after a failed check:
	// the next call asks again.
	checkAt atomic.Int64

	mu     sync.Mutex
	gen    uint64                // the generation this process last read or wrote
	tokens map[string]fapi.Token // that generation's access tokens

	// A loaded session's refresh machinery (its resource.Session, with a token-endpoint
	// client) is built on the first call that needs more than a token the record has: most
	// requests after a replica switch need only that. Until built is set, UserSession.tokens
	// is nil and loaded holds the record's refresh token and the tokens it can serve.
	buildMu sync.Mutex
	built   atomic.Bool
	loaded  atomic.Pointer[loadedTokens]
}

// loadedTokens is what a loaded session serves before its refresh machinery is built.
type loadedTokens struct {
	refreshToken  string
	refreshExpiry time.Time
	tokens        []loadedToken // never changed: dropping one stores a copy
	ended         bool          // EndUserSession ended it before build
}

// loadedToken is one resource's token in loadedTokens: a session has a few, so a search
// costs less than a map and one allocation holds them all.
type loadedToken struct {
	resource string
	token    fapi.Token
}

// find returns resource's token, or nil.
func (lt *loadedTokens) find(resource string) *fapi.Token {
	for i := range lt.tokens {
		if lt.tokens[i].resource == resource {
			return &lt.tokens[i].token
		}
	}
	return nil
}

// loadedMargin is how close to its expiry a token of the record is no longer handed out
// before the session is built: resource.Config's default ExpiryMargin, which the built
// session keeps (TestLoadedSessionMargin holds them equal).
const loadedMargin = 10 * time.Second

// Steps of a stored session's refresh, for the tests that crash a process at each.
const (
	stepBeforeSend = "before sending"
	stepResponse   = "after the response"
	stepStored     = "after the store write"
)

// Waiting for another process's refresh polls the store with this backoff.
const (
	sessionPollMin = 10 * time.Millisecond
	sessionPollMax = 250 * time.Millisecond
)

// A failed write of a new refresh token is retried from sessionSaveBackoff, doubling up to
// sessionPollMax, for at most sessionSaveTimeout.
const (
	sessionSaveBackoff = 20 * time.Millisecond
	sessionSaveTimeout = 15 * time.Second
)

// StartUserSession starts a user session from a finished login and stores it in
// Config.Sessions under a new random id, which the application keeps (in its session cookie,
// say) and passes to LoadUserSession on any process of the fleet.
//
// A stored session keeps, in one record of the store: the newest refresh token and its expiry,
// the DPoP key its tokens are bound to (so that every process signs with it), the ID token and
// its claims, and each resource's current access token. A process that has no usable token
// for a resource reads the record first; only when it has none either does one process of the
// fleet refresh, holding the session's refresh lease, while the others wait for the token it
// stores (within their own context). The new refresh token is stored (compare-and-set on the
// record's generation) before the access token it came with is handed out, and a process that
// lost its lease cannot overwrite a newer record (ErrSessionConflict).
//
// The holder renews its lease (compare-and-extend on the lease id) before every attempt that
// presents the refresh token, the first, the DPoP-nonce retry and each retry after a 503 or
// 429, and bounds each attempt by half the lease's TTL; when the lease is no longer its own it
// sends nothing (ErrRefreshLeaseLost), so no two processes present the same one-time refresh
// token. One risk remains: a process frozen (a stop-the-world pause, a suspended VM) for
// longer than the rest of its lease just after renewing it and before its request leaves.
//
// One window loses the session: after HelseID rotated the refresh token and before the new
// one is stored. A process that dies between sending the refresh and the store's write, or a
// store that cannot be written for longer than the lease (the holder retries the write for up
// to 15 s, renewing its lease, and never releases the lease while the new refresh token is
// unsaved; once the lease lapses, another process may refresh), leaves the spent refresh token
// in the store: HelseID's refresh tokens are one-time, so the next refresh is refused with
// invalid_grant and the session ends. A process that dies at any other step costs the others
// at most the lease's wait.
func (c *Client) StartUserSession(ctx context.Context, login *LoginResult) (*UserSession, error) {
	if login == nil || login.RefreshToken == "" {
		return nil, fmt.Errorf("%w: the login has no refresh token (ask for offline_access)", ErrInvalidRequestParams)
	}
	key, err := c.dpopKey.PrivateJWK()
	if err != nil {
		return nil, fmt.Errorf("helseid: DPoP key: %w", err)
	}
	rec := &StoredSession{Generation: 1, RefreshToken: login.RefreshToken, RefreshExpiry: login.RefreshExpiry, DPoPKey: key,
		IDToken: login.IDToken, Claims: login.Claims, Organization: login.Organization, Resource: login.Resource,
		Tokens: map[string]fapi.Token{}}
	if login.Resource != "" {
		tok := login.AccessToken
		if tok.Expiry.IsZero() {
			tok.Expiry = c.now().Add(resource.UnknownLifetime)
		}
		rec.Tokens[login.Resource] = tok
	}
	id := randomString()
	if _, err := c.sessionStore.SaveSession(ctx, id, rec, 0); err != nil {
		return nil, fmt.Errorf("helseid: store session: %w", err)
	}
	s, err := c.sessionFrom(id, rec)
	if err != nil {
		return nil, err
	}
	if err := s.build(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadUserSession returns the stored user session id, as the newest record in
// Config.Sessions has it, or ErrSessionEnded when the store has none (ended by EndUserSession
// on any process, or expired with its refresh token). It costs one read of the store: loading
// the session per request makes a logout on any process effective on every process at once.
// Its HTTP clients sign with the session's DPoP key. The session's refresh machinery is set
// up on the first call that needs more than a token the record has, so a request served from
// the record costs the read, its decryption, and little more.
func (c *Client) LoadUserSession(ctx context.Context, id string) (*UserSession, error) {
	rec, err := c.sessionStore.LoadSession(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("helseid: load session: %w", err)
	}
	if rec == nil {
		return nil, ErrSessionEnded
	}
	return c.sessionFrom(id, rec)
}

// sessionFrom is the UserSession of a stored record, not yet built (see build).
func (c *Client) sessionFrom(id string, rec *StoredSession) (*UserSession, error) {
	if err := rec.Organization.Validate(c.cfg.Tenancy); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequestParams, err)
	}
	proofer, err := c.sessionProofer(rec.DPoPKey)
	if err != nil {
		return nil, err
	}
	s := &UserSession{client: c, proofer: proofer, claims: rec.Claims, idToken: rec.IDToken, resource: rec.Resource,
		fleet: &storedSession{store: c.sessionStore, id: id, key: rec.DPoPKey, gen: rec.Generation, tokens: rec.Tokens}}
	org := rec.Organization
	s.org.Store(&org)
	s.fleet.loaded.Store(loadedFrom(rec))
	if every := c.sessionRecheck; every > 0 { // the record was just read
		s.fleet.checkAt.Store(c.now().UnixNano() + int64(every))
	}
	return s, nil
}

// loadedFrom is what a record lets a session serve before it is built.
func loadedFrom(rec *StoredSession) *loadedTokens {
	lt := &loadedTokens{refreshToken: rec.RefreshToken, refreshExpiry: rec.RefreshExpiry, tokens: make([]loadedToken, 0, len(rec.Tokens))}
	for res, tok := range rec.Tokens {
		lt.tokens = append(lt.tokens, loadedToken{resource: res, token: tok})
	}
	return lt
}

// build sets a loaded session's refresh machinery up, once: the resource.Session with the
// record's refresh token and the tokens it still has.
func (s *UserSession) build(ctx context.Context) error {
	f := s.fleet
	if f.built.Load() {
		return nil
	}
	f.buildMu.Lock()
	defer f.buildMu.Unlock()
	if f.built.Load() {
		return nil
	}
	lt := f.loaded.Load()
	if _, err := s.client.resumeUserSession(ctx, lt.refreshToken, lt.refreshExpiry, SessionOptions{Organization: *s.org.Load(), Persist: s.persistStored}, s); err != nil {
		s.tokens = nil
		return err
	}
	for _, t := range lt.tokens {
		s.tokens.Put(t.resource, t.token)
	}
	f.lane = make(chan struct{}, 1)
	if lt.ended {
		s.tokens.End(ErrSessionEnded)
	}
	f.built.Store(true)
	return nil
}

// cachedToken is resource's usable token in this process at now, before or after build.
func (s *UserSession) cachedToken(resource string, now time.Time) *fapi.Token {
	if s.fleet.built.Load() {
		return s.tokens.CachedAt(resource, now)
	}
	tok := s.fleet.loaded.Load().find(resource)
	if tok != nil && now.Before(tok.Expiry.Add(-loadedMargin)) { // a zero Expiry waits for build
		return tok
	}
	return nil
}

// invalidate drops resource's token if it is token, before or after build.
func (s *UserSession) invalidate(resource, token string) {
	f := s.fleet
	if !f.built.Load() {
		f.buildMu.Lock()
		defer f.buildMu.Unlock()
		if lt := f.loaded.Load(); !f.built.Load() {
			if t := lt.find(resource); t != nil && t.AccessToken == token {
				next := *lt
				next.tokens = slices.DeleteFunc(slices.Clone(lt.tokens), func(t loadedToken) bool { return t.resource == resource })
				f.loaded.Store(&next)
			}
			return
		}
	}
	s.tokens.Invalidate(resource, token)
}

// refreshToken is RefreshToken, before or after build.
func (s *UserSession) refreshToken() (string, time.Time) {
	f := s.fleet
	if !f.built.Load() {
		f.buildMu.Lock()
		defer f.buildMu.Unlock()
		if lt := f.loaded.Load(); !f.built.Load() {
			return lt.refreshToken, lt.refreshExpiry
		}
	}
	return s.tokens.RefreshToken()
}

// sessionProofer is the proofer of a stored session's DPoP key: the Client's own, or one
// made once per key (one per process of the fleet that started sessions).
func (c *Client) sessionProofer(jwk []byte) (*dpop.Proofer, error) {
	if p, ok := c.sessionKeys.Load(string(jwk)); ok {
		return p.(*dpop.Proofer), nil
	}
	key, err := ParseJWK(jwk, "")
	if err != nil {
		return nil, fmt.Errorf("helseid: the stored session's DPoP key: %w", err)
	}
	if key.Thumbprint() == c.proofer.Thumbprint() {
		c.sessionKeys.Store(string(jwk), c.proofer)
		return c.proofer, nil
	}
	p, err := dpop.NewProofer(dpop.ProoferConfig{Now: c.now, Key: key.Signer(), Algorithm: key.Algorithm()})
	if err != nil {
		return nil, fmt.Errorf("helseid: the stored session's DPoP key: %w", err)
	}
	p2, _ := c.sessionKeys.LoadOrStore(string(jwk), p)
	return p2.(*dpop.Proofer), nil
}

// ID returns the id of a session in the SessionStore, empty for another.
func (s *UserSession) ID() string {
	if s.fleet == nil {
		return ""
	}
	return s.fleet.id
}

// EndUserSession logs the session out on the whole fleet: it removes the session from the
// SessionStore first (from then on every process refuses it with ErrSessionEnded), ends it
// in this process, and revokes its refresh token (RevokeRefreshToken): the newest, as the
// store had it when it removed the record (another process may have refreshed since this one
// read it), and this process's own too if that differs. Redirect the browser to LogoutURL
// (with IDToken) afterwards. Ending a session that is already gone is not an error.
func (s *UserSession) EndUserSession(ctx context.Context) error {
	if s.fleet == nil {
		rt, _ := s.tokens.RefreshToken()
		s.tokens.End(ErrSessionEnded)
		return s.client.RevokeRefreshToken(ctx, rt)
	}
	rec, err := s.fleet.store.DeleteSession(ctx, s.fleet.id)
	if err != nil {
		return fmt.Errorf("helseid: delete session: %w", err)
	}
	local := s.endFleet()
	revoke := []string{local}
	if rec != nil && rec.RefreshToken != "" && rec.RefreshToken != local {
		revoke = []string{rec.RefreshToken, local}
	}
	var errs []error
	for _, rt := range revoke {
		errs = append(errs, s.client.RevokeRefreshToken(ctx, rt))
	}
	return errors.Join(errs...)
}

// endFleet ends a stored session in this process, before or after build, and returns its
// refresh token.
func (s *UserSession) endFleet() string {
	f := s.fleet
	f.mu.Lock() // the order adopt takes them in
	defer f.mu.Unlock()
	f.gen = math.MaxUint64 // no record read later is newer: adopt brings nothing back
	f.buildMu.Lock()
	defer f.buildMu.Unlock()
	if f.built.Load() {
		rt, _ := s.tokens.RefreshToken()
		s.tokens.End(ErrSessionEnded)
		return rt
	}
	lt := *f.loaded.Load() // nothing is served from the record any more
	lt.tokens, lt.ended = nil, true
	f.loaded.Store(&lt)
	return lt.refreshToken
}

// record is the session's record of generation gen with refresh token rt, as this process
// has it.
func (s *UserSession) record(gen uint64, rt string, exp time.Time, extra map[string]fapi.Token) *StoredSession {
	rec := &StoredSession{Generation: gen, RefreshToken: rt, RefreshExpiry: exp, DPoPKey: s.fleet.key, IDToken: s.idToken,
		Claims: s.claims, Organization: *s.org.Load(), Resource: s.resource, Tokens: map[string]fapi.Token{}}
	for res, tok := range extra {
		rec.Tokens[res] = tok
	}
	return rec
}

// persistStored is the stored session's Persist: the new refresh token, written over the
// generation this process read, before the access token is handed out. The refresh token it
// replaces is spent, so a failed write is retried here (with backoff, for at most
// sessionSaveTimeout, whatever the caller's context), renewing the refresh lease before each
// try so that no other process refreshes with the spent token meanwhile. Only when the lease
// is lost, or the store stays unwritable, does it give up; the lease is then kept until it
// expires (see refreshLeased).
func (s *UserSession) persistStored(ctx context.Context, rt string, exp time.Time) error {
	s.client.refreshStep(stepResponse)
	f := s.fleet
	f.mu.Lock()
	prev := f.gen
	rec := s.record(prev+1, rt, exp, f.tokens)
	f.mu.Unlock()
	bound := sessionSaveTimeout
	if s.client.testSaveTimeout > 0 {
		bound = s.client.testSaveTimeout
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bound)
	defer cancel()
	for wait := sessionSaveBackoff; ; wait = min(2*wait, sessionPollMax) {
		held := true
		if lease := f.lease.Load(); lease == nil {
			held = false // a later retry of Persist: the lease is gone, the fencing still holds
		} else if _, ok, err := f.store.ExtendRefreshLease(ctx, f.id, *lease); err == nil && !ok {
			held = false
		}
		ok, err := f.store.SaveSession(ctx, f.id, rec, prev)
		if err == nil {
			if !ok {
				return ErrSessionConflict
			}
			break
		}
		if !held {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
	f.mu.Lock()
	if f.gen == prev {
		f.gen, f.tokens = rec.Generation, rec.Tokens
	}
	f.mu.Unlock()
	s.client.refreshStep(stepStored)
	return nil
}

// adopt takes a newer record's refresh token and access tokens.
func (s *UserSession) adopt(rec *StoredSession) {
	f := s.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	if rec.Generation <= f.gen {
		return
	}
	f.gen, f.tokens = rec.Generation, rec.Tokens
	org := rec.Organization
	s.org.Store(&org)
	if !f.built.Load() {
		f.buildMu.Lock()
		if !f.built.Load() {
			lt := loadedFrom(rec) // a token the record no longer has is not served
			lt.ended = f.loaded.Load().ended
			f.loaded.Store(lt)
			f.buildMu.Unlock()
			return
		}
		f.buildMu.Unlock()
	}
	s.tokens.Adopt(rec.RefreshToken, rec.RefreshExpiry)
	s.tokens.ReplaceTokens(rec.Tokens) // a token the record no longer has is not served
}

// due reports whether the caller of Token at now should ask the store whether the session
// still stands: once per Config.SessionRecheck (every call when negative). Of the callers
// that find the time has come, one asks; the others are served meanwhile.
func (s *UserSession) due(now time.Time) bool {
	every := s.client.sessionRecheck
	if every <= 0 {
		return true
	}
	f, t := s.fleet, now.UnixNano()
	next := f.checkAt.Load() // set by sessionFrom, when the record was read
	return t >= next && f.checkAt.CompareAndSwap(next, t+int64(every))
}

// recheck reads the session's record: a session ended elsewhere ends here, and a newer
// record replaces what this process holds. A store that cannot answer fails the call
// (the session may have ended), and the next call asks again.
func (s *UserSession) recheck(ctx context.Context) error {
	if err := s.load(ctx); err != nil {
		s.fleet.checkAt.Store(1)
		return err
	}
	return nil
}

// load reads the record and takes what is newer in it; a session gone from the store ends.
func (s *UserSession) load(ctx context.Context) error {
	rec, err := s.fleet.store.LoadSession(ctx, s.fleet.id)
	if err != nil {
		return fmt.Errorf("helseid: load session: %w", err)
	}
	if rec == nil {
		s.endFleet()
		return ErrSessionEnded
	}
	s.adopt(rec)
	return nil
}

// fleetToken gets resource's token for a stored session: from the store, else from the
// fleet's one refresh.
func (s *UserSession) fleetToken(ctx context.Context, res string) (*fapi.Token, error) {
	return s.underLease(ctx, func() *fapi.Token { return s.tokens.Cached(res) }, res, func(ctx context.Context) (*fapi.Token, error) {
		return s.tokens.Token(ctx, res)
	})
}

// underLease runs refresh holding the session's refresh lease, unless have finds the token in
// what the store has; a process that finds the lease taken waits for the holder's record.
func (s *UserSession) underLease(ctx context.Context, have func() *fapi.Token, res string, refresh func(context.Context) (*fapi.Token, error)) (*fapi.Token, error) {
	f := s.fleet
	if err := s.build(ctx); err != nil {
		return nil, err
	}
	select {
	case f.lane <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-f.lane }()
	poll := sessionPollMin
	for {
		if err := s.load(ctx); err != nil {
			return nil, err
		}
		if tok := have(); tok != nil {
			return tok, nil
		}
		lease, ok, err := f.store.AcquireRefreshLease(ctx, f.id)
		if errors.Is(err, ErrSessionEnded) {
			s.tokens.End(ErrSessionEnded)
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("helseid: refresh lease: %w", err)
		}
		if ok {
			return s.refreshLeased(ctx, have, res, lease, refresh)
		}
		t := time.NewTimer(poll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		poll = min(2*poll, sessionPollMax)
	}
}

// refreshLeased refreshes as the fleet's lease holder and stores the access token it got.
func (s *UserSession) refreshLeased(ctx context.Context, have func() *fapi.Token, res, lease string, refresh func(context.Context) (*fapi.Token, error)) (*fapi.Token, error) {
	f := s.fleet
	f.lease.Store(&lease)
	var unsaved bool
	defer func() {
		f.lease.Store(nil)
		if !unsaved { // a rotated refresh token not yet stored keeps the others off until the lease expires
			_ = f.store.ReleaseRefreshLease(context.WithoutCancel(ctx), f.id, lease)
		}
	}()
	s.client.refreshStep(stepBeforeSend)
	// Another process may have stored a newer record between our read and our lease, or
	// while this one paused past its lease: the read just before sending keeps a paused
	// process from presenting a refresh token the fleet has already used.
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if tok := have(); tok != nil {
		return tok, nil
	}
	tok, err := refresh(ctx)
	unsaved = errors.Is(err, resource.ErrPersistFailed)
	if errors.Is(err, resource.ErrInvalidGrant) {
		// The grant is gone for every process: so is the session.
		_, _ = f.store.DeleteSession(context.WithoutCancel(ctx), f.id)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	// The refresh token is stored; the access token is stored for the other processes as
	// well. If this write fails, they refresh once more with the stored refresh token.
	f.mu.Lock()
	rt, exp := s.tokens.RefreshToken()
	rec := s.record(f.gen+1, rt, exp, f.tokens)
	rec.Tokens[res] = *tok
	if ok, err := f.store.SaveSession(context.WithoutCancel(ctx), f.id, rec, f.gen); err == nil && ok {
		f.gen, f.tokens = rec.Generation, rec.Tokens
	}
	f.mu.Unlock()
	return tok, nil
}

// beforeRefreshAttempt is the stored session's fapi.Settings.BeforeAttempt: it renews the
// fleet's refresh lease before every attempt that would present the refresh token, and bounds
// the attempt by half the lease, so that the holder's request cannot outlive its lease and a
// second process never presents the same one-time refresh token. Once the lease is lost
// nothing is sent (ErrRefreshLeaseLost). A refresh of a stored session outside its lease is
// refused the same way.
func (s *UserSession) beforeRefreshAttempt(ctx context.Context) (time.Duration, error) {
	f := s.fleet
	lease := f.lease.Load()
	if lease == nil {
		return 0, ErrRefreshLeaseLost
	}
	ttl, ok, err := f.store.ExtendRefreshLease(ctx, f.id, *lease)
	if err != nil {
		return 0, fmt.Errorf("helseid: extend refresh lease: %w", err)
	}
	if !ok {
		return 0, ErrRefreshLeaseLost
	}
	return ttl / 2, nil
}

// refreshStep calls the tests' hook at a step of a stored session's refresh.
func (c *Client) refreshStep(step string) {
	if c.testRefreshStep != nil {
		c.testRefreshStep(step)
	}
}
