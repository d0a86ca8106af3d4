package helseid_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type traceKey struct{}

func traced(name string) context.Context {
	return context.WithValue(context.Background(), traceKey{}, name)
}

// heard is one observed event with the trace value of its context.
type heard struct {
	helseid.Event
	trace any
}

// recorder keeps every event with the trace value of its context.
type recorder struct {
	mu     sync.Mutex
	events []heard
}

func (r *recorder) Observe(ctx context.Context, e helseid.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, heard{e, ctx.Value(traceKey{})})
}

// take returns the events heard so far and forgets them.
func (r *recorder) take() []heard {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// of returns the events of kind among evs.
func of(evs []heard, kind helseid.EventKind) []heard {
	var out []heard
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// one requires exactly one event of kind among evs, with the trace, and returns it.
func one(t *testing.T, evs []heard, kind helseid.EventKind, trace string) heard {
	t.Helper()
	got := of(evs, kind)
	require.Len(t, got, 1, "%s among %v", kind, evs)
	assert.Equal(t, trace, got[0].trace, "%s carries the context of the call", kind)
	return got[0]
}

// Every network step of a login, a user session and client credentials is reported with the
// context of the call that made it, its latency and its outcome.
func TestObserverHearsEveryNetworkStepWithTheCallersContext(t *testing.T) {
	rec := &recorder{}
	f := newLoginFixture(t, func(cfg *helseid.Config) { cfg.Observer = rec })

	authURL, st, err := f.client.StartLogin(traced("start"), helseid.LoginRequest{RedirectURI: loginRedirect, Scope: loginScope,
		Resources: []string{"nhn:service-a", "nhn:service-b"}})
	require.NoError(t, err)
	evs := rec.take()
	one(t, evs, helseid.DiscoveryFetched, "start")
	pushed := one(t, evs, helseid.AuthorizationPushed, "start")
	assert.NoError(t, pushed.Err)
	assert.Positive(t, pushed.Duration)

	res, err := f.client.FinishLogin(traced("finish"), f.browse(t, authURL), st)
	require.NoError(t, err)
	evs = rec.take()
	exchanged := one(t, evs, helseid.CodeExchanged, "finish")
	assert.NoError(t, exchanged.Err)
	assert.Positive(t, exchanged.Duration)
	one(t, evs, helseid.KeysFetched, "finish")

	session, err := f.client.NewUserSession(context.Background(), res, helseid.SessionOptions{})
	require.NoError(t, err)
	_, err = session.Token(traced("refresh"), "nhn:service-b")
	require.NoError(t, err)
	refreshed := one(t, rec.take(), helseid.SessionRefreshed, "refresh")
	assert.Equal(t, "nhn:service-b", refreshed.Resource)
	assert.Equal(t, "refresh_token", refreshed.Grant)
	assert.NoError(t, refreshed.Err)

	req := helseid.ClientCredentialsRequest{Scopes: []string{apiScope}}
	_, err = f.client.Token(traced("first"), req)
	require.NoError(t, err)
	evs = rec.take()
	one(t, evs, helseid.CacheMiss, "first")
	fetched := one(t, evs, helseid.TokenFetched, "first")
	assert.Equal(t, "client_credentials", fetched.Grant)
	assert.Equal(t, apiScope, fetched.Scopes)
	_, err = f.client.Token(traced("second"), req)
	require.NoError(t, err)
	one(t, rec.take(), helseid.CacheHit, "second")

	// A failed step reports its error.
	_, err = f.client.FinishLogin(traced("replayed"), url.Values{"code": {"spent"}, "state": {st.State}, "iss": {f.srv.Issuer()}}, st)
	require.Error(t, err)
	for _, e := range rec.take() {
		assert.NotEqual(t, helseid.CodeExchanged, e.Kind, "a state used once is refused before any request")
	}
}

func TestObserverHearsTokenExchanges(t *testing.T) {
	c := newChain(t)
	priv, err := c.srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "service-x", Scopes: []string{"nhn:service-b/read"},
		OrgNumber: helseidtest.DefaultOrgNumber, ExchangeAudience: "nhn:service-a"})
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	rec := &recorder{}
	actor, err := helseid.NewClient(helseid.Config{Issuer: c.srv.Issuer(), ClientID: "service-x", Key: key, HTTPClient: c.srv.Client(), Observer: rec})
	require.NoError(t, err)
	t.Cleanup(func() { _ = actor.Close() })
	subject := c.userToken(t, helseidtest.DefaultTestUser())
	req := helseid.TokenExchangeRequest{Scopes: []string{"nhn:service-b/read"}}

	_, err = actor.ExchangeToken(traced("exchange"), subject, req)
	require.NoError(t, err)
	ex := one(t, rec.take(), helseid.TokenExchanged, "exchange")
	assert.NoError(t, ex.Err)
	assert.Positive(t, ex.Duration)

	_, err = actor.OnBehalfOf(traced("on-behalf"), subject, time.Now().Add(time.Minute), req)
	require.NoError(t, err)
	one(t, rec.take(), helseid.TokenExchanged, "on-behalf")
}

// A Guard reports each decision with the request's context: accepted, or which check refused.
func TestObserverHearsGuardDecisions(t *testing.T) {
	rec := &recorder{}
	g := newGuardFixture(t, nil)
	guard, err := helseid.NewGuard(helseid.GuardConfig{AccessTokenConfig: helseid.AccessTokenConfig{
		Issuer: g.srv.Issuer(), Audience: g.srv.APIAudience(), HTTPClient: g.srv.Client(), Observer: rec,
	}})
	require.NoError(t, err)
	t.Cleanup(guard.Close)
	other, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)

	accepted := g.signed(t, "GET", g.api.URL+"/x", g.client.Proofer(), "DPoP")
	_, err = guard.Authenticate(accepted.WithContext(traced("accepted")))
	require.NoError(t, err)
	evs := rec.take()
	one(t, evs, helseid.DiscoveryFetched, "accepted")
	one(t, evs, helseid.KeysFetched, "accepted")
	ok := one(t, evs, helseid.GuardDecided, "accepted")
	assert.NoError(t, ok.Err)
	assert.Empty(t, ok.Check)

	cases := []struct {
		name   string
		req    func() *http.Request
		check  string
		status int
	}{
		{"no credentials", func() *http.Request { r, _ := http.NewRequest("GET", g.api.URL+"/x", nil); return r }, "credentials", 401},
		{"bearer scheme", func() *http.Request { return g.signed(t, "GET", g.api.URL+"/x", g.client.Proofer(), "Bearer") }, "credentials", 401},
		{"proof by another key", func() *http.Request { return g.signed(t, "GET", g.api.URL+"/x", other, "DPoP") }, "key_binding", 401},
		{"proof for another URL", func() *http.Request {
			r := g.signed(t, "GET", g.api.URL+"/x", g.client.Proofer(), "DPoP")
			r.URL.Path = "/y"
			return r
		}, "proof", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req()
			token := r.Header.Get("Authorization")
			_, err := guard.Authenticate(r.WithContext(traced(tc.name)))
			require.Error(t, err)
			refused := one(t, rec.take(), helseid.GuardDecided, tc.name)
			assert.Equal(t, tc.check, refused.Check)
			assert.Equal(t, tc.status, refused.StatusCode)
			require.Error(t, refused.Err)
			if len(token) > 10 {
				assert.NotContains(t, refused.Err.Error(), token[len("DPoP "):], "the event never carries the token")
			}
		})
	}
}

type countingObserver struct{ n atomic.Int64 }

func (o *countingObserver) Observe(context.Context, helseid.Event) { o.n.Add(1) }

// An observed hit allocates nothing, for a multi-tenant client too, whose cache key keeps the
// organisation numbers as integers.
func TestObservedHitDoesNotAllocate(t *testing.T) {
	f := newFixture(t, helseidtest.Options{}, helseidtest.ClientRegistration{OrgNumber: mtSupplier, MultiTenant: true}, helseid.MultiTenant)
	obs := &countingObserver{}
	client, err := helseid.NewClient(helseid.Config{Issuer: f.srv.Issuer(), ClientID: "client-1", Key: f.key,
		Tenancy: helseid.MultiTenant, HTTPClient: f.srv.Client(), Observer: obs})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	for _, tc := range []struct {
		name string
		ctx  context.Context
		req  helseid.ClientCredentialsRequest
	}{
		{"organisation in the context", helseid.WithOrganization(context.Background(), helseid.Organization{Parent: mtParent}), readReq},
		{"organisation on the request", context.Background(), helseid.ClientCredentialsRequest{Scopes: readReq.Scopes, Organization: helseid.Organization{Parent: mtParent, Child: "920773230"}}},
		{"supplier", helseid.WithOrganization(context.Background(), helseid.SupplierOrganization()), readReq},
	} {
		src, err := client.Source(tc.req)
		require.NoError(t, err, tc.name)
		_, err = src.Token(tc.ctx)
		require.NoError(t, err, tc.name)
		before := obs.n.Load()
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := src.Token(tc.ctx); err != nil {
				panic(err)
			}
		})
		assert.Zero(t, allocs, tc.name)
		assert.GreaterOrEqual(t, obs.n.Load()-before, int64(1000), "%s: every hit is observed", tc.name)
	}
}

// traceHandler records, per message, the trace value of the context it was logged with and
// the level and attributes.
type traceHandler struct {
	mu      sync.Mutex
	records []string
}

func (h *traceHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *traceHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *traceHandler) WithGroup(string) slog.Handler            { return h }
func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	line := fmt.Sprintf("%v %s", ctx.Value(traceKey{}), r.Level)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "duration" {
			line += " " + a.String()
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, line)
	return nil
}

// SlogObserver logs with the event's context, so that a handler can add the trace id, at the
// level of the event's weight.
func TestSlogObserverLogsWithTheEventsContext(t *testing.T) {
	h := &traceHandler{}
	obs := helseid.SlogObserver(slog.New(h))
	obs.Observe(traced("a"), helseid.Event{Kind: helseid.CacheHit, Grant: "client_credentials", Scopes: apiScope})
	obs.Observe(traced("b"), helseid.Event{Kind: helseid.CodeExchanged, Duration: time.Millisecond})
	obs.Observe(traced("c"), helseid.Event{Kind: helseid.SessionRefreshed, Grant: "refresh_token", Resource: "nhn:a", Err: errors.New("refresh for nhn:a: refused")})
	obs.Observe(traced("d"), helseid.Event{Kind: helseid.GuardDecided, Check: "proof", StatusCode: 401, Err: errors.New("invalid_dpop_proof")})
	obs.Observe(traced("e"), helseid.Event{Kind: helseid.GuardDecided, Check: "unavailable", StatusCode: 503, Err: errors.New("keys down")})
	obs.Observe(traced("f"), helseid.Event{Kind: helseid.GuardDecided})
	assert.Equal(t, []string{
		"a DEBUG event=cache_hit grant=client_credentials scopes=" + apiScope,
		"b INFO event=code_exchanged",
		"c WARN event=session_refreshed grant=refresh_token resource=nhn:a error=refresh for nhn:a: refused",
		"d INFO event=guard_decided check=proof status=401 error=invalid_dpop_proof",
		"e WARN event=guard_decided check=unavailable status=503 error=keys down",
		"f DEBUG event=guard_decided",
	}, h.records)
}
