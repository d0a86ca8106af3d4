package helseidredis_test

// The M2M fleet with real processes: this test binary re-executes itself as client processes
// (TestHelperProcess with HELSEID_FLEET_ROLE=m2m), which share one redis-server and one
// helseidtest run by the parent test. The parent drives them through stdin and reads their
// answers on stdout, so no test sleeps to wait for an event.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// orgRequests records, per organisation, when the token endpoint was asked for its token.
type orgRequests struct {
	mu    sync.Mutex
	times map[string][]time.Time
	// block, when set, holds the first request for that organisation until its client is gone.
	block   string
	blocked chan struct{}
}

var orgPattern = regexp.MustCompile(`NO:ORGNR:(\d{9})`)

func (o *orgRequests) hook(w http.ResponseWriter, r *http.Request) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	org := ""
	if parts := strings.Split(form.Get("client_assertion"), "."); len(parts) == 3 {
		if payload, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			if m := orgPattern.FindSubmatch(payload); m != nil {
				org = string(m[1])
			}
		}
	}
	o.mu.Lock()
	o.times[org] = append(o.times[org], time.Now())
	first := len(o.times[org]) == 1
	block := first && org == o.block
	o.mu.Unlock()
	if block {
		close(o.blocked)
		<-r.Context().Done() // the holder was killed
		return true
	}
	return false
}

func (o *orgRequests) count(org string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.times[org])
}

// child is one client process of the fleet.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// startChild starts a client process; with a non-zero clock its time stands still there
// until an "advance" command.
func (f *fleet) startChild(t *testing.T, dir string, refreshWindow time.Duration, clock time.Time) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(),
		"HELSEID_FLEET_ROLE=m2m",
		"HELSEID_FLEET_ISSUER="+f.srv.Issuer(),
		"HELSEID_FLEET_DIR="+dir,
		"HELSEID_FLEET_REDIS="+f.redis.Addr,
		"HELSEID_FLEET_SEAL="+base64.StdEncoding.EncodeToString(f.sealKey),
		"HELSEID_FLEET_LEASE="+f.leaseTTL.String(),
		"HELSEID_FLEET_REFRESH="+refreshWindow.String(),
	)
	if !clock.IsZero() {
		cmd.Env = append(cmd.Env, "HELSEID_FLEET_CLOCK="+strconv.FormatInt(clock.UnixNano(), 10))
	}
	return runChild(t, cmd)
}

// runChild starts cmd, a re-run of this test binary as one process of a fleet, talking over
// its stdin and stdout, and waits for its "ready"; the process is killed when the test ends.
func runChild(t *testing.T, cmd *exec.Cmd) *child {
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	c := &child{t: t, cmd: cmd, in: in, lines: make(chan string, 16)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = in.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	require.Equal(t, "ready", c.read(30*time.Second))
	return c
}

func (c *child) send(cmd string) {
	_, err := fmt.Fprintln(c.in, cmd)
	require.NoError(c.t, err)
}

// read returns the child's next line, failing the test after timeout (a bound, not a wait).
func (c *child) read(timeout time.Duration) string {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		require.True(c.t, ok, "child exited")
		return l
	case <-time.After(timeout):
		c.t.Fatalf("child did not answer within %v", timeout)
		return ""
	}
}

// result reads "ok <failures> <max call ms> [extra]" and returns its fields.
func (c *child) result(timeout time.Duration) (failures int, maxCall time.Duration, extra string) {
	c.t.Helper()
	l := c.read(timeout)
	fields := strings.Fields(l)
	require.GreaterOrEqual(c.t, len(fields), 3, "child answered %q", l)
	require.Equal(c.t, "ok", fields[0], l)
	failures, _ = strconv.Atoi(fields[1])
	ms, _ := strconv.Atoi(fields[2])
	return failures, time.Duration(ms) * time.Millisecond, strings.Join(fields[3:], " ")
}

func (f *fleet) writeKeys(t *testing.T) string {
	dir := t.TempDir()
	jwk, err := f.key.PrivateJWK()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "client.jwk"), jwk, 0o600))
	jwk, err = f.dpopKey.PrivateJWK()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dpop.jwk"), jwk, 0o600))
	return dir
}

func TestM2MFleetOneRequestPerOrganisation(t *testing.T) {
	const (
		processes  = 4
		goroutines = 50
		orgs       = 1000
		lifetimes  = 3
		refreshed  = 200 // the organisations used through the lifetimes, to keep the test short
		lifetime   = 10 * time.Minute
		// Each step moves every process's clock (and the server's) to 30 s before the tokens
		// expire: inside every process's refresh window (60..72 s), still usable.
		step = lifetime - 30*time.Second
	)
	started := time.Now()
	// The fleet's clock (the server's and every process's) stands still at base plus an offset
	// that the test moves for all processes at once, so that three token lifetimes pass in
	// seconds however long the machine takes.
	base := time.Now()
	var offset atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	f := newFleet(t, helseidtest.Options{AccessTokenLifetime: lifetime, Nonce: helseidtest.NonceNone, Now: now})
	// Thousands of requests at once queue at the one in-process server on a busy 2-core machine
	// far beyond a real token request: a lease that outlived them would let a second process
	// fetch too.
	f.leaseTTL = time.Minute
	reqs := &orgRequests{times: map[string][]time.Time{}}
	f.srv.SetTokenHook(reqs.hook)
	dir := f.writeKeys(t)
	children := make([]*child, processes)
	for i := range children {
		children[i] = f.startChild(t, dir, 0, base)
	}
	all := func(cmd string) {
		t.Logf("%v: %s (%d tokens issued)", time.Since(started).Round(time.Millisecond), cmd, f.srv.Stats().TokensIssued)
		for _, c := range children {
			c.send(cmd)
		}
		for _, c := range children {
			failures, _, _ := c.result(3 * time.Minute)
			assert.Zero(t, failures, cmd)
		}
	}

	// Cold start: every goroutine of every process asks for every organisation.
	all(fmt.Sprintf("cold %d %d", orgs, goroutines))
	assert.EqualValues(t, orgs, f.srv.Stats().TokensIssued, "one token request per organisation for the whole fleet, not %d", processes*orgs)
	assert.EqualValues(t, orgs, f.srv.Stats().TokenRequests)
	cold := time.Since(started)

	// Three lifetimes: each time every process refreshes every token ahead of its expiry, and
	// one process of the fleet requests each.
	for range lifetimes {
		offset.Add(int64(step))
		all(fmt.Sprintf("advance %s", time.Duration(offset.Load())))
		all(fmt.Sprintf("refresh %d %d", refreshed, goroutines))
	}
	reqs.mu.Lock()
	total, wrong := 0, 0
	for org, times := range reqs.times {
		total += len(times)
		want := 1
		if i, _ := strconv.Atoi(org); i-900000000 < refreshed {
			want += lifetimes
		}
		if len(times) != want {
			wrong++
		}
	}
	perOrg := len(reqs.times)
	reqs.mu.Unlock()
	assert.Equal(t, orgs, perOrg)
	assert.Zero(t, wrong, "organisations with other than one token request per lifetime")
	assert.EqualValues(t, orgs+refreshed*lifetimes, f.srv.Stats().TokensIssued)
	assert.EqualValues(t, orgs+refreshed*lifetimes, total)
	t.Logf("%d processes x %d goroutines: %d organisations cold, %d of them through %d more lifetimes, in %v (cold start %v): %d token requests = %.2f per organisation per lifetime",
		processes, goroutines, orgs, refreshed, lifetimes, time.Since(started).Round(time.Millisecond), cold.Round(time.Millisecond),
		total, float64(total)/float64(orgs+refreshed*lifetimes))

	// Redis stops: calls keep succeeding with local fetches, and the observer says so.
	f.redis.Stop()
	for i, c := range children {
		c.send(fmt.Sprintf("one %d", orgs+i))
	}
	for _, c := range children {
		failures, _, extra := c.result(time.Minute)
		assert.Zero(t, failures, "Redis down never fails a token call")
		assert.Contains(t, extra, "down=1", "the observer was told")
	}
	assert.EqualValues(t, orgs+refreshed*lifetimes+processes, f.srv.Stats().TokensIssued)
}

func TestM2MFleetKilledLeaseHolder(t *testing.T) {
	f := newFleet(t, helseidtest.Options{Nonce: helseidtest.NonceNone})
	f.leaseTTL = time.Second
	reqs := &orgRequests{times: map[string][]time.Time{}, block: "900000007", blocked: make(chan struct{})}
	f.srv.SetTokenHook(reqs.hook)
	dir := f.writeKeys(t)
	holder := f.startChild(t, dir, 0, time.Time{})
	others := []*child{f.startChild(t, dir, 0, time.Time{}), f.startChild(t, dir, 0, time.Time{})}

	holder.send("one 7")
	select {
	case <-reqs.blocked: // the holder has the lease and its token request is in flight
	case <-time.After(time.Minute):
		t.Fatal("the holder's token request did not arrive")
	}
	for _, c := range others {
		c.send("one 7")
	}
	require.NoError(t, holder.cmd.Process.Signal(syscall.SIGKILL))
	for _, c := range others {
		failures, took, _ := c.result(time.Minute)
		assert.Zero(t, failures)
		assert.Less(t, took, f.leaseTTL+2*time.Second, "no caller waits longer than the lease plus one request")
	}
	assert.Equal(t, 2, reqs.count("900000007"), "the killed holder's request and one more by another process")
	assert.EqualValues(t, 1, f.srv.Stats().TokensIssued)
}

// TestHelperProcess is a client process of the fleet tests; run alone it does nothing.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("HELSEID_FLEET_ROLE") != "m2m" {
		return
	}
	if err := fleetClient(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fleet client:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func fleetClient(in io.Reader, out io.Writer) error {
	env := os.Getenv
	dir := env("HELSEID_FLEET_DIR")
	load := func(name string) (*helseid.Key, error) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		return helseid.ParseJWK(data, "")
	}
	key, err := load("client.jwk")
	if err != nil {
		return err
	}
	dpopKey, err := load("dpop.jwk")
	if err != nil {
		return err
	}
	seal, err := base64.StdEncoding.DecodeString(env("HELSEID_FLEET_SEAL"))
	if err != nil {
		return err
	}
	lease, _ := time.ParseDuration(env("HELSEID_FLEET_LEASE"))
	refresh, _ := time.ParseDuration(env("HELSEID_FLEET_REFRESH"))
	rdb := redis.NewClient(&redis.Options{Addr: env("HELSEID_FLEET_REDIS"), ContextTimeoutEnabled: true, MaxRetries: -1, PoolSize: 64})
	defer rdb.Close()
	shared, err := helseidredis.NewTokenCache(helseidredis.TokenCacheConfig{Redis: rdb, Key: seal, LeaseTTL: lease, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	var down, refreshed atomic.Int64
	var offset atomic.Int64
	fetched := make(chan struct{}, 1)
	var now func() time.Time // nil: the real clock
	if base, err := strconv.ParseInt(env("HELSEID_FLEET_CLOCK"), 10, 64); err == nil {
		now = func() time.Time { return time.Unix(0, base).Add(time.Duration(offset.Load())) }
	}
	client, err := helseid.NewClient(helseid.Config{
		Now:    now,
		Issuer: env("HELSEID_FLEET_ISSUER"), ClientID: "fleet", Key: key, DPoPKey: dpopKey, Tenancy: helseid.MultiTenant,
		SharedTokens: shared, RefreshWindow: refresh, MaxCachedTokens: 5000,
		Observer: observerFunc(func(e helseid.Event) {
			switch {
			case e.Kind == helseid.SharedCacheDown:
				down.Add(1)
			case e.Kind == helseid.TokenFetched && e.Background && e.Err == nil:
				refreshed.Add(1)
				select {
				case fetched <- struct{}{}:
				default:
				}
			}
		}),
	})
	if err != nil {
		return err
	}
	defer client.Close()
	fmt.Fprintln(out, "ready")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var failures, maxMS atomic.Int64
		call := func(i int) {
			start := time.Now()
			if _, err := client.Token(context.Background(), request(i)); err != nil {
				failures.Add(1)
				fmt.Fprintln(os.Stderr, "token:", err)
			}
			ms := time.Since(start).Milliseconds()
			for cur := maxMS.Load(); ms > cur && !maxMS.CompareAndSwap(cur, ms); cur = maxMS.Load() {
			}
		}
		var wg sync.WaitGroup
		switch f[0] {
		case "cold": // cold <orgs> <goroutines>: every goroutine gets every organisation
			orgs, _ := strconv.Atoi(f[1])
			gs, _ := strconv.Atoi(f[2])
			for g := range gs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range orgs {
						call((i + g*orgs/gs) % orgs)
					}
				}()
			}
		case "advance": // advance <offset>: the fleet's clock moved
			d, _ := time.ParseDuration(f[1])
			offset.Store(int64(d))
		case "refresh": // refresh <orgs> <goroutines>: hits start refreshes; wait until all are done
			orgs, _ := strconv.Atoi(f[1])
			gs, _ := strconv.Atoi(f[2])
			want := refreshed.Load() + int64(orgs)
			for g := range gs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < orgs; i += gs {
						call(i)
					}
				}()
			}
			wg.Wait()
			bound := time.After(2 * time.Minute)
			for refreshed.Load() < want {
				select {
				case <-fetched:
				case <-bound:
					failures.Add(1)
					want = 0
				}
			}
		case "one": // one <org>
			i, _ := strconv.Atoi(f[1])
			call(i)
		}
		wg.Wait()
		fmt.Fprintf(out, "ok %d %d down=%d\n", failures.Load(), maxMS.Load(), down.Load())
	}
	return sc.Err()
}

type observerFunc func(helseid.Event)

func (o observerFunc) Observe(_ context.Context, e helseid.Event) { o(e) }
