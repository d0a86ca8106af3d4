package apifleet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
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
)

// The environment of an API process.
const (
	envRole     = "HELSEIDREDIS_APIFLEET_ROLE" // "api" in a child
	envRedis    = "HELSEIDREDIS_APIFLEET_REDIS"
	envIssuer   = "HELSEIDREDIS_APIFLEET_ISSUER"
	audience    = "nhn:fleet-api"
	scope       = audience + "/read"
	externalURL = "https://api.example.no" // the load balancer's URL: proofs name it, not a machine
	// apiTimeout is the replay store's timeout in each API. This test checks outcomes, not
	// latency (the store's tests check the timeout), on a busy machine under -race; a stopped
	// Redis fails each check at once (connection refused), not after the timeout.
	apiTimeout = 10 * time.Second
)

// What an API answers in its body, so that the test tells a replay from any other refusal.
const (
	bodyAccepted    = "accepted"
	bodyReplayed    = "replayed"
	bodyCheckFailed = "replay-check-failed"
)

func TestMain(m *testing.M) {
	if os.Getenv(envRole) == "api" {
		if err := runAPI(); err != nil {
			fmt.Fprintln(os.Stderr, "api:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runAPI is one machine of the API: a Guard whose replay store is the shared Redis. It prints
// "ready <addr>" once it listens and stops when its stdin closes.
func runAPI() error {
	client := redis.NewClient(&redis.Options{Addr: os.Getenv(envRedis), ContextTimeoutEnabled: true})
	defer client.Close()
	store, err := helseidredis.NewReplayStore(client, helseidredis.ReplayStoreOptions{Namespace: audience, Timeout: apiTimeout})
	if err != nil {
		return err
	}
	guard, err := helseid.NewGuard(helseid.GuardConfig{
		AccessTokenConfig: helseid.AccessTokenConfig{Issuer: os.Getenv(envIssuer), Audience: audience, RequiredScopes: []string{scope}},
		DPoP:              dpop.VerifierConfig{ExternalURL: externalURL, Replay: store},
	})
	if err != nil {
		return err
	}
	defer guard.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := guard.Authenticate(r)
		var aerr *helseid.AuthError
		switch {
		case err == nil:
			_, _ = io.WriteString(w, bodyAccepted)
		case errors.As(err, &aerr) && errors.Is(err, dpop.ErrReplayed):
			w.WriteHeader(aerr.Status)
			_, _ = io.WriteString(w, bodyReplayed)
		case errors.As(err, &aerr) && errors.Is(err, helseidredis.ErrReplayStoreUnavailable):
			w.WriteHeader(aerr.Status)
			_, _ = io.WriteString(w, bodyCheckFailed)
		case errors.As(err, &aerr):
			w.WriteHeader(aerr.Status)
			_, _ = io.WriteString(w, "refused: "+aerr.Code)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	fmt.Printf("ready %s\n", l.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startAPIs starts n API processes at once and returns their base URLs; they stop (stdin
// closed, then waited for) when the test ends.
func startAPIs(t *testing.T, n int, redisAddr, issuer string) []string {
	t.Helper()
	type api struct {
		cmd    *exec.Cmd
		stdin  io.Closer
		stderr *lockedBuffer
		ready  chan string // the first line of stdout, closed without one if the process ends
		exited chan error
	}
	apis := make([]*api, n)
	t.Cleanup(func() {
		for _, a := range apis {
			if a != nil {
				_ = a.stdin.Close()
			}
		}
		for _, a := range apis {
			if a == nil {
				continue
			}
			select {
			case err := <-a.exited:
				assert.NoError(t, err, "api process: %s", a.stderr)
			case <-time.After(10 * time.Second):
				_ = a.cmd.Process.Kill()
				<-a.exited
				t.Errorf("api process did not stop when its stdin closed")
			}
		}
	})
	for i := range apis {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		// GORACE: a race-enabled child would otherwise wait a second before exiting.
		cmd.Env = append(os.Environ(), envRole+"=api", envRedis+"="+redisAddr, envIssuer+"="+issuer, "GORACE=atexit_sleep_ms=0")
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		a := &api{cmd: cmd, stdin: stdin, stderr: &lockedBuffer{}, ready: make(chan string, 1), exited: make(chan error, 1)}
		cmd.Stderr = a.stderr
		require.NoError(t, cmd.Start())
		apis[i] = a
		go func() {
			sc := bufio.NewScanner(stdout)
			if sc.Scan() {
				a.ready <- sc.Text()
			}
			close(a.ready)
			_, _ = io.Copy(io.Discard, stdout)
			a.exited <- cmd.Wait()
		}()
	}
	urls := make([]string, n)
	timeout := time.After(30 * time.Second)
	for i, a := range apis {
		select {
		case line := <-a.ready:
			addr, ok := strings.CutPrefix(line, "ready ")
			require.True(t, ok, "api process %d did not start: %q %s", i, line, a.stderr)
			urls[i] = "http://" + addr
		case <-timeout:
			t.Fatalf("api process %d not ready within 30 s", i)
		}
	}
	return urls
}

// lockedBuffer collects a child's stderr while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fleetClient sends proofs to the machines of the fleet, as a load balancer would.
type fleetClient struct {
	t      *testing.T
	http   *http.Client
	proofs *dpop.Proofer
	token  string
	apis   []string
}

const path = "/fhir/Patient"

// proof is a new proof for GET externalURL+path: valid at every machine, once.
func (c *fleetClient) proof() string {
	c.t.Helper()
	u, err := url.Parse(externalURL + path)
	require.NoError(c.t, err)
	p, err := c.proofs.Proof(http.MethodGet, u, "", c.token)
	require.NoError(c.t, err)
	return p
}

type answer struct {
	status int
	body   string
}

// send sends proof with the token to machine i and returns its answer.
func (c *fleetClient) send(i int, proof string) answer {
	req, err := http.NewRequest(http.MethodGet, c.apis[i]+path, nil)
	if err != nil {
		return answer{body: err.Error()}
	}
	req.Header.Set("Authorization", "DPoP "+c.token)
	req.Header.Set("DPoP", proof)
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{body: err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	return answer{status: resp.StatusCode, body: string(body)}
}

// sendAll sends proofs[j] to machine j%3, all at once, and returns the answers in order.
func (c *fleetClient) sendAll(proofs []string) []answer {
	answers := make([]answer, len(proofs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for j, p := range proofs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[j] = c.send(j%len(c.apis), p)
		}()
	}
	close(start)
	wg.Wait()
	return answers
}

// sortedAnswers lists the distinct answers counted, 503s first.
func sortedAnswers(count map[answer]int) []answer {
	var kinds []answer
	for a := range count {
		kinds = append(kinds, a)
	}
	slices.SortFunc(kinds, func(a, b answer) int { return strings.Compare(a.body, b.body) })
	return kinds
}

var (
	accepted    = answer{http.StatusOK, bodyAccepted}
	replayed    = answer{http.StatusUnauthorized, bodyReplayed}
	checkFailed = answer{http.StatusServiceUnavailable, bodyCheckFailed}
)

func TestAPIFleet(t *testing.T) {
	began := time.Now()
	rs := redistest.Start(t)
	hs := helseidtest.NewServer(t)
	_, err := hs.GenerateClient("fleet-client", scope)
	require.NoError(t, err)
	proofs, err := dpop.NewProofer(dpop.ProoferConfig{})
	require.NoError(t, err)
	token, err := hs.IssueUserToken(helseidtest.UserTokenRequest{ClientID: "fleet-client", Scopes: []string{scope}, JKT: proofs.Thumbprint()})
	require.NoError(t, err)

	apis := startAPIs(t, 3, rs.Addr, hs.Issuer())
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 100
	t.Cleanup(transport.CloseIdleConnections)
	c := &fleetClient{t: t, http: &http.Client{Transport: transport, Timeout: 20 * time.Second}, proofs: proofs, token: token, apis: apis}
	t.Logf("fleet up in %v", time.Since(began))

	// A proof accepted by one machine is refused as a replay by the two others, whichever
	// machine sees it first.
	for first := range apis {
		p := c.proof()
		require.Equal(t, accepted, c.send(first, p), "api %d, first use", first)
		for other := range apis {
			if other != first {
				assert.Equal(t, replayed, c.send(other, p), "api %d after api %d", other, first)
			}
		}
		assert.Equal(t, replayed, c.send(first, p), "api %d again", first)
	}

	// 200 copies of one proof at once across the three: exactly one accepted.
	same := make([]string, 200)
	p := c.proof()
	for j := range same {
		same[j] = p
	}
	burstAt := time.Now()
	count := map[answer]int{}
	for _, a := range c.sendAll(same) {
		count[a]++
	}
	assert.Equal(t, map[answer]int{accepted: 1, replayed: 199}, count, "200 identical proofs at once")
	t.Logf("200 identical proofs answered in %v", time.Since(burstAt))

	// Redis stopped mid-run: six clients keep replaying the accepted proof while Redis goes
	// away. Each answer is a replay refused (Redis answered) or a 503 (it did not); none
	// accepts the proof.
	stopSending := make(chan struct{})
	answers := make(chan answer)
	var senders sync.WaitGroup
	for w := range 6 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for {
				select {
				case answers <- c.send(w%len(apis), p):
				case <-stopSending:
					return
				}
			}
		}()
	}
	count = map[answer]int{}
	for n, failedAfterStop := 0, 0; failedAfterStop < 30 && n < 5000; n++ {
		a := <-answers
		count[a]++
		switch {
		case n == 20:
			rs.Stop()
		case n > 20 && a == checkFailed:
			failedAfterStop++
		}
	}
	close(stopSending)
	senders.Wait()
	assert.Equal(t, []answer{checkFailed, replayed}, sortedAnswers(count), "answers while redis stops: %v", count)
	assert.GreaterOrEqual(t, count[checkFailed], 30, "redis stop observed")

	// Redis down: every request is refused with 503, fresh proofs and replays alike; none is
	// accepted unchecked.
	outage := make([]string, 60)
	for j := range outage {
		if j%2 == 0 {
			outage[j] = c.proof()
		} else {
			outage[j] = p // already accepted: the store cannot say so now, still not accepted
		}
	}
	downAt := time.Now()
	count = map[answer]int{}
	for _, a := range c.sendAll(outage) {
		count[a]++
	}
	assert.Equal(t, map[answer]int{checkFailed: len(outage)}, count, "every request during the outage")
	t.Logf("%d requests during the outage answered in %v", len(outage), time.Since(downAt))

	// Redis back (empty): each machine, never restarted, accepts fresh proofs again by
	// itself. go-redis probes a server it failed to dial once a second, so a machine may
	// answer 503 for about that long; never anything else.
	rs.Start()
	upAt := time.Now()
	for i := range apis {
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		for {
			a := c.send(i, c.proof())
			if a == accepted {
				break
			}
			require.Equal(t, checkFailed, a, "api %d while redis comes back", i)
			require.True(t, time.Now().Before(deadline), "api %d did not recover within 10 s", i)
			<-tick.C
		}
		tick.Stop()
	}
	t.Logf("every api accepting again %v after redis restarted", time.Since(upAt))

	// And the fleet shares the store again.
	p = c.proof()
	require.Equal(t, accepted, c.send(2, p))
	assert.Equal(t, replayed, c.send(0, p))
	assert.Equal(t, replayed, c.send(1, p))

	// What the fleet wrote: fixed-length hashed keys under the API's namespace, no proof or
	// token text.
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rc.Close() })
	keys, err := rc.Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		assert.Regexp(t, `^helseid:dpop:nhn:fleet-api:[A-Za-z0-9_-]{43}$`, k)
		v, err := rc.Get(context.Background(), k).Result()
		require.NoError(t, err)
		assert.Equal(t, "1", v)
	}
	t.Logf("fleet test took %v", time.Since(began))
}
