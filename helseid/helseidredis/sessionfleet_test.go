package helseidredis_test

// The EHR fleet with real processes: this test binary re-executes itself as replicas of an
// EHR backend (TestSessionFleetProcess with HELSEID_FLEET_ROLE=session), which resume one
// user session from one redis-server and call three APIs with its DPoP-bound tokens. The
// parent runs helseidtest and the APIs, moves every process's clock at once, counts the
// refreshes at the token endpoint, and kills a replica holding the session's refresh lease at
// each step of the refresh.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/helseid-go/sdk/helseid/helseidredis/internal/redistest"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/resource"
)

// The three APIs the EHR calls for its user.
var ehrAPIs = []string{"nhn:ehr-journal", "nhn:ehr-lab", "nhn:ehr-prescriptions"}

// The steps of a stored session's refresh where a replica can die (item 4 of the design).
const (
	faultBeforeSend = "before sending"
	faultSent       = "after sending"
	faultResponse   = "after the response"
	faultStored     = "after the store write"
)

// sessionFleet is the parent's side: helseidtest, Redis, the APIs and the fleet's clock.
type sessionFleet struct {
	srv      *helseidtest.Server
	redis    *redistest.Server
	rdb      *redis.Client
	sealKey  []byte
	dir      string // the client key, for the replicas
	apiURL   string
	served   atomic.Int64    // API requests accepted
	client   *helseid.Client // the replica that logs the user in
	sessions helseid.SessionStore
	base     time.Time
	offset   atomic.Int64
	leaseTTL time.Duration

	mu        sync.Mutex
	refreshes map[string]int // refresh-token grants per resource since the last reset
}

func (f *sessionFleet) now() time.Time { return f.base.Add(time.Duration(f.offset.Load())) }

// newSessionFleet starts a fleet whose access tokens last lifetime and whose refresh lease
// lasts leaseTTL: longer than any refresh on a busy machine, or a second process would take
// over a live refresh and present the spent refresh token.
func newSessionFleet(t *testing.T, lifetime, leaseTTL time.Duration) *sessionFleet {
	t.Helper()
	f := &sessionFleet{base: time.Now(), sealKey: make([]byte, 32), leaseTTL: leaseTTL, refreshes: map[string]int{}}
	_, err := rand.Read(f.sealKey)
	require.NoError(t, err)
	f.srv = helseidtest.NewServer(t, helseidtest.Options{AccessTokenLifetime: lifetime, Nonce: helseidtest.NonceNone, Now: f.now})
	f.srv.SetTokenHook(f.countRefresh)
	f.redis = redistest.Start(t)
	f.rdb = redis.NewClient(&redis.Options{Addr: f.redis.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = f.rdb.Close() })

	scopes := []string{"openid", "profile", "offline_access", "helseid://scopes/identity/pid"}
	for _, api := range ehrAPIs {
		scopes = append(scopes, api+"/read")
	}
	jwk, err := f.srv.GenerateClientFor(helseidtest.ClientRegistration{ID: "ehr", OrgNumber: helseidtest.DefaultOrgNumber,
		Scopes: scopes, RedirectURIs: []string{ehrRedirect}})
	require.NoError(t, err)
	f.dir = t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "client.jwk"), jwk, 0o600))
	key, err := helseid.ParseJWK(jwk, "")
	require.NoError(t, err)
	cfg := helseidredis.StoreConfig{Redis: f.rdb, Key: f.sealKey, Timeout: min(5*time.Second, f.leaseTTL/2), LeaseTTL: f.leaseTTL}
	logins, err := helseidredis.NewLoginStore(cfg)
	require.NoError(t, err)
	f.sessions, err = helseidredis.NewSessionStore(cfg)
	require.NoError(t, err)
	f.client, err = helseid.NewClient(helseid.Config{Issuer: f.srv.Issuer(), ClientID: "ehr", Key: key, HTTPClient: f.srv.Client(),
		Now: f.now, Logins: logins, Sessions: f.sessions})
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.client.Close() })

	// The APIs: one DPoP guard per audience, on the fleet's clock.
	mux := http.NewServeMux()
	for _, api := range ehrAPIs {
		g, err := helseid.NewGuard(helseid.GuardConfig{
			AccessTokenConfig: helseid.AccessTokenConfig{Issuer: f.srv.Issuer(), Audience: api, HTTPClient: f.srv.Client(), Now: f.now},
			DPoP:              dpop.VerifierConfig{Now: f.now},
		})
		require.NoError(t, err)
		t.Cleanup(g.Close)
		mux.Handle("/"+api, g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			f.served.Add(1)
			_, _ = io.WriteString(w, "ok")
		}), nil))
	}
	apis := httptest.NewServer(mux)
	t.Cleanup(apis.Close)
	f.apiURL = apis.URL
	return f
}

// countRefresh counts refresh-token grants per resource; it never answers itself.
func (f *sessionFleet) countRefresh(_ http.ResponseWriter, r *http.Request) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	if form.Get("grant_type") == "refresh_token" {
		f.mu.Lock()
		f.refreshes[form.Get("resource")]++
		f.mu.Unlock()
	}
	return false
}

// takeRefreshes returns the refreshes per resource since the last call.
func (f *sessionFleet) takeRefreshes() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.refreshes
	f.refreshes = map[string]int{}
	return r
}

// login logs the user in through helseidtest's auto-login and stores the session.
func (f *sessionFleet) login(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	scope := "openid profile offline_access helseid://scopes/identity/pid"
	for _, api := range ehrAPIs {
		scope += " " + api + "/read"
	}
	authURL, err := f.client.StartStoredLogin(ctx, helseid.LoginRequest{RedirectURI: ehrRedirect, Scope: scope, Resources: ehrAPIs})
	require.NoError(t, err)
	browser := f.srv.Client()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := browser.Get(authURL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	res, err := f.client.FinishStoredLogin(ctx, loc.Query())
	require.NoError(t, err)
	s, err := f.client.StartUserSession(ctx, res)
	require.NoError(t, err)
	return s.ID()
}

// startReplica starts a replica process; fault, when set, is the step of a refresh where it
// stops, says "at <step>" and waits to be killed.
func (f *sessionFleet) startReplica(t *testing.T, fault string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSessionFleetProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(),
		"HELSEID_FLEET_ROLE=session",
		"HELSEID_FLEET_ISSUER="+f.srv.Issuer(),
		"HELSEID_FLEET_DIR="+f.dir,
		"HELSEID_FLEET_REDIS="+f.redis.Addr,
		"HELSEID_FLEET_SEAL="+base64.StdEncoding.EncodeToString(f.sealKey),
		"HELSEID_FLEET_LEASE="+f.leaseTTL.String(),
		"HELSEID_FLEET_CLOCK="+strconv.FormatInt(f.base.UnixNano(), 10),
		"HELSEID_FLEET_OFFSET="+time.Duration(f.offset.Load()).String(),
		"HELSEID_FLEET_APIS="+f.apiURL,
		"HELSEID_FLEET_FAULT="+fault,
	)
	return runChild(t, cmd)
}

// ask sends cmd to every replica at once and returns each one's counts of failures,
// invalid_grant errors and ended sessions.
func ask(t *testing.T, replicas []*child, cmd string) (failures, invalidGrant, ended int) {
	t.Helper()
	for _, c := range replicas {
		c.send(cmd)
	}
	for _, c := range replicas {
		n, _, extra := c.result(2 * time.Minute)
		failures += n
		var g, e int
		_, err := fmt.Sscanf(extra, "invalid_grant=%d ended=%d", &g, &e)
		require.NoError(t, err, "replica answered %q", extra)
		invalidGrant += g
		ended += e
	}
	return failures, invalidGrant, ended
}

func TestSessionFleetOneRefreshPerResourcePerLifetime(t *testing.T) {
	const (
		processes  = 4
		goroutines = 50
		lifetimes  = 20
		lifetime   = 5 * time.Minute
	)
	started := time.Now()
	f := newSessionFleet(t, lifetime, 30*time.Second) // nobody dies here
	id := f.login(t)
	replicas := make([]*child, processes)
	for i := range replicas {
		replicas[i] = f.startReplica(t, "")
	}
	failures, invalidGrant, ended := ask(t, replicas, fmt.Sprintf("session %s", id))
	require.Zero(t, failures+invalidGrant+ended, "every replica resumes the session")

	// The login's tokens: at most one refresh per resource for the ones it did not bring.
	failures, invalidGrant, ended = ask(t, replicas, fmt.Sprintf("call %d", goroutines))
	require.Zero(t, failures+invalidGrant+ended)
	for api, n := range f.takeRefreshes() {
		assert.LessOrEqual(t, n, 1, api)
	}
	issued := f.srv.Stats().TokensIssued

	for lifetime := range lifetimes {
		// Every process's access tokens expire together.
		f.offset.Add(int64(5*time.Minute + time.Second))
		_, _, _ = ask(t, replicas, fmt.Sprintf("advance %s", time.Duration(f.offset.Load())))
		failures, invalidGrant, ended = ask(t, replicas, fmt.Sprintf("call %d", goroutines))
		assert.Zero(t, failures, "lifetime %d", lifetime)
		assert.Zero(t, invalidGrant, "lifetime %d", lifetime)
		assert.Zero(t, ended, "lifetime %d", lifetime)
		refreshes := f.takeRefreshes()
		for _, api := range ehrAPIs {
			assert.Equal(t, 1, refreshes[api], "refreshes of %s in lifetime %d, for the fleet", api, lifetime)
		}
		assert.Len(t, refreshes, len(ehrAPIs), "lifetime %d: %v", lifetime, refreshes)
	}
	st := f.srv.Stats()
	assert.Zero(t, st.TokenErrors, "no refresh refused: no grant revoked")
	assert.EqualValues(t, lifetimes*len(ehrAPIs), st.TokensIssued-issued)
	assert.EqualValues(t, processes*goroutines*len(ehrAPIs)*(lifetimes+1), f.served.Load(), "every API call was accepted")
	_, err := f.client.LoadUserSession(context.Background(), id)
	assert.NoError(t, err, "the session is still stored")
	t.Logf("%d processes x %d goroutines x %d APIs through %d lifetimes in %v: %d refreshes, %d API requests",
		processes, goroutines, len(ehrAPIs), lifetimes, time.Since(started).Round(time.Millisecond), st.TokensIssued-issued, f.served.Load())
}

func TestSessionFleetKilledLeaseHolder(t *testing.T) {
	f := newSessionFleet(t, 5*time.Minute, 2*time.Second) // each kill costs the others one lease
	others := []*child{f.startReplica(t, ""), f.startReplica(t, "")}
	for _, tc := range []struct {
		step string
		lost bool // the one named window: HelseID rotated the refresh token, the store has the spent one
	}{
		{faultBeforeSend, false},
		{faultSent, true},
		{faultResponse, true},
		{faultStored, false},
	} {
		t.Run(tc.step, func(t *testing.T) {
			id := f.login(t)
			f.offset.Add(int64(5*time.Minute + time.Second)) // the login's tokens have expired
			_, _, _ = ask(t, others, fmt.Sprintf("advance %s", time.Duration(f.offset.Load())))
			_ = f.takeRefreshes()
			errorsBefore := f.srv.Stats().TokenErrors

			holder := f.startReplica(t, tc.step)
			holder.send("session " + id)
			_, _, _ = holder.result(time.Minute)
			holder.send("get " + ehrAPIs[0])
			require.Equal(t, "at "+tc.step, holder.read(time.Minute))
			require.NoError(t, holder.cmd.Process.Signal(syscall.SIGKILL))

			failures, invalidGrant, ended := ask(t, others, "session "+id)
			require.Zero(t, failures+invalidGrant+ended, "the session is still stored while its lease is held")
			failures, invalidGrant, ended = ask(t, others, "get "+ehrAPIs[0])
			_, loadErr := f.client.LoadUserSession(context.Background(), id)
			if !tc.lost {
				assert.Zero(t, failures, "nothing lost")
				assert.Zero(t, f.srv.Stats().TokenErrors-errorsBefore, "no refresh refused")
				assert.NoError(t, loadErr, "the session is still stored")
				return
			}
			assert.Equal(t, len(others), failures, "the session is lost")
			assert.Equal(t, 1, invalidGrant, "one replica presented the spent refresh token")
			assert.Equal(t, len(others)-1, ended, "and the other found the session ended")
			assert.ErrorIs(t, loadErr, helseid.ErrSessionEnded, "the session is removed from the store")
		})
	}
}

// TestSessionFleetProcess is a replica of the EHR fleet tests; run alone it does nothing.
func TestSessionFleetProcess(t *testing.T) {
	if os.Getenv("HELSEID_FLEET_ROLE") != "session" {
		return
	}
	if err := sessionReplica(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "session replica:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// faults stops a replica at one step of a stored session's refresh, seen from outside the
// SDK: at the store (the lease taken, the new refresh token written) and at the transport
// (the refresh request sent).
type faults struct {
	step string
	out  io.Writer
	mu   *sync.Mutex // the replica's stdout
}

// stop says where the replica stopped and waits to be killed.
func (fl faults) stop(step string) {
	if fl.step != step {
		return
	}
	fl.mu.Lock()
	fmt.Fprintln(fl.out, "at "+step)
	fl.mu.Unlock()
	select {}
}

type faultyStore struct {
	helseid.SessionStore
	faults
}

func (s faultyStore) AcquireRefreshLease(ctx context.Context, id string) (string, bool, error) {
	lease, ok, err := s.SessionStore.AcquireRefreshLease(ctx, id)
	if ok {
		s.stop(faultBeforeSend)
	}
	return lease, ok, err
}

func (s faultyStore) SaveSession(ctx context.Context, id string, rec *helseid.StoredSession, prev uint64) (bool, error) {
	s.stop(faultResponse)
	ok, err := s.SessionStore.SaveSession(ctx, id, rec, prev)
	if ok {
		s.stop(faultStored)
	}
	return ok, err
}

type faultyTransport struct {
	next http.RoundTripper
	faults
}

func (tr faultyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	refresh := false
	if r.URL.Path == helseidtest.TokenPath && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		refresh = form.Get("grant_type") == "refresh_token"
	}
	resp, err := tr.next.RoundTrip(r)
	if refresh {
		tr.stop(faultSent)
	}
	return resp, err
}

func sessionReplica(in io.Reader, out io.Writer) error {
	env := os.Getenv
	jwk, err := os.ReadFile(filepath.Join(env("HELSEID_FLEET_DIR"), "client.jwk"))
	if err != nil {
		return err
	}
	key, err := helseid.ParseJWK(jwk, "")
	if err != nil {
		return err
	}
	seal, err := base64.StdEncoding.DecodeString(env("HELSEID_FLEET_SEAL"))
	if err != nil {
		return err
	}
	lease, _ := time.ParseDuration(env("HELSEID_FLEET_LEASE"))
	base, err := strconv.ParseInt(env("HELSEID_FLEET_CLOCK"), 10, 64)
	if err != nil {
		return err
	}
	var offset atomic.Int64
	d, _ := time.ParseDuration(env("HELSEID_FLEET_OFFSET"))
	offset.Store(int64(d))
	now := func() time.Time { return time.Unix(0, base).Add(time.Duration(offset.Load())) }

	rdb := redis.NewClient(&redis.Options{Addr: env("HELSEID_FLEET_REDIS"), ContextTimeoutEnabled: true, MaxRetries: -1, PoolSize: 64})
	defer rdb.Close()
	store, err := helseidredis.NewSessionStore(helseidredis.StoreConfig{Redis: rdb, Key: seal, Timeout: min(5*time.Second, lease/2), LeaseTTL: lease})
	if err != nil {
		return err
	}
	var outMu sync.Mutex
	fl := faults{step: env("HELSEID_FLEET_FAULT"), out: out, mu: &outMu}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256 // 50 goroutines per API keep their connections
	hc := &http.Client{Transport: faultyTransport{next: tr, faults: fl}}
	client, err := helseid.NewClient(helseid.Config{Now: now, Issuer: env("HELSEID_FLEET_ISSUER"), ClientID: "ehr", Key: key,
		HTTPClient: hc, Sessions: faultyStore{SessionStore: store, faults: fl}})
	if err != nil {
		return err
	}
	defer client.Close()
	apis := env("HELSEID_FLEET_APIS")
	var session *helseid.UserSession
	clients := map[string]*http.Client{}

	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	say("ready")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		var failures, invalidGrant, ended atomic.Int64
		fail := func(err error) {
			failures.Add(1)
			switch {
			case errors.Is(err, resource.ErrInvalidGrant):
				invalidGrant.Add(1)
			case errors.Is(err, helseid.ErrSessionEnded):
				ended.Add(1)
			default:
				fmt.Fprintln(os.Stderr, "replica:", err)
			}
		}
		call := func(api string) {
			resp, err := clients[api].Get(apis + "/" + api)
			if err != nil {
				fail(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				fail(fmt.Errorf("%s answered %s: %s", api, resp.Status, resp.Header.Get("WWW-Authenticate")))
			}
		}
		switch f[0] {
		case "session": // session <id>: resume the user's session from the store
			s, err := client.LoadUserSession(context.Background(), f[1])
			if err != nil {
				fail(err)
				break
			}
			session = s
			for _, api := range ehrAPIs {
				clients[api] = s.HTTPClient(api)
			}
		case "advance": // advance <offset>: the fleet's clock moved
			d, _ := time.ParseDuration(f[1])
			offset.Store(int64(d))
		case "call": // call <goroutines>: each calls every API once
			gs, _ := strconv.Atoi(f[1])
			var wg sync.WaitGroup
			for range gs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, api := range ehrAPIs {
						call(api)
					}
				}()
			}
			wg.Wait()
		case "get": // get <resource>: one token
			if _, err := session.Token(context.Background(), f[1]); err != nil {
				fail(err)
			}
		}
		say("ok %d 0 invalid_grant=%d ended=%d", failures.Load(), invalidGrant.Load(), ended.Load())
	}
	return sc.Err()
}
