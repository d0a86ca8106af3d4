package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
)

const demoScope = "nhn:helseidtest-api/read"

// runInProcess starts helseidtest and its demo API and runs the flow against them.
func runInProcess(ctx context.Context, out io.Writer) error {
	fmt.Fprintln(out, "No HELSEID_* configuration: starting an in-process HelseID (helseidtest) and its demo API.")
	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		return fmt.Errorf("start helseidtest: %w", err)
	}
	defer srv.Close()
	srv.RequireAPINonce(true) // show the resource-server nonce handshake too
	privateJWK, err := srv.GenerateClientFor(helseidtest.ClientRegistration{
		ID: "example-multi-tenant-system", Scopes: []string{demoScope},
		OrgNumber: helseidtest.DefaultOrgNumber, MultiTenant: true,
	})
	if err != nil {
		return fmt.Errorf("register client: %w", err)
	}
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		return err
	}
	flow := flow{
		issuer: srv.Issuer(), clientID: "example-multi-tenant-system", key: key, scopes: []string{demoScope},
		apiURL: srv.APIURL(), tenancy: helseid.MultiTenant,
		org: helseid.Organization{Parent: "912345678", Child: "987654321"},
	}
	fmt.Fprintf(out, "  issuer   %s\n  api      %s\n\n", flow.issuer, flow.apiURL)
	return flow.run(ctx, out)
}

// runExternal runs the flow against the configured HelseID.
func runExternal(ctx context.Context, s settings, out io.Writer) error {
	data, err := os.ReadFile(s.jwkFile)
	if err != nil {
		return fmt.Errorf("read HELSEID_JWK_FILE: %w", err)
	}
	key, err := helseid.ParseJWK(data, "")
	if err != nil {
		return fmt.Errorf("HELSEID_JWK_FILE: %w", err)
	}
	f := flow{issuer: s.issuer, clientID: s.clientID, key: key, scopes: strings.Fields(s.scope), apiURL: s.apiURL,
		org: helseid.Organization{Parent: s.orgParent, Child: s.orgChild}}
	if s.orgParent != "" {
		f.tenancy = helseid.MultiTenant
	}
	if f.apiURL != "" {
		u, err := url.Parse(f.apiURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
			return errors.New("HELSEID_API_URL must be an absolute https URL (plain http only to loopback)")
		}
	}
	fmt.Fprintf(out, "Running against %s as client %s.\n\n", f.issuer, f.clientID)
	return f.run(ctx, out)
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

type flow struct {
	issuer, clientID string
	key              *helseid.Key
	scopes           []string
	apiURL           string
	tenancy          helseid.Tenancy
	org              helseid.Organization
}

func (f flow) run(ctx context.Context, out io.Writer) error {
	trace := &tracingTransport{next: http.DefaultTransport, out: out}
	events := &countingObserver{}
	client, err := helseid.NewClient(helseid.Config{
		Issuer: f.issuer, ClientID: f.clientID, Key: f.key, Tenancy: f.tenancy,
		HTTPClient: &http.Client{Transport: trace, Timeout: 30 * time.Second},
		Observer:   events,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	req := helseid.ClientCredentialsRequest{Scopes: f.scopes, Organization: f.org}
	fmt.Fprintf(out, "1. Client key %s (kid %s); DPoP key: ephemeral P-256, jkt %s\n", f.key.Algorithm(), f.key.KeyID(), client.Proofer().Thumbprint())
	if !f.org.IsZero() {
		fmt.Fprintf(out, "   organisation: parent %s, child %s (%s)\n", f.org.Parent, f.org.Child, f.tenancy)
	}

	fmt.Fprintf(out, "\n2. Token: client_credentials for %s (cached; DPoP-bound)\n", strings.Join(f.scopes, " "))
	start := time.Now()
	tok, err := client.Token(ctx, req)
	if err != nil {
		return fmt.Errorf("get token: %w", err)
	}
	fmt.Fprintf(out, "   got %v in %s\n", tok, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(out, "   claims (decoded for display, not verified; the token itself is not shown):")
	if err := printClaims(out, tok.AccessToken); err != nil {
		fmt.Fprintf(out, "   (the access token is not a JWT: %v)\n", err)
	}

	if f.apiURL == "" {
		fmt.Fprintln(out, "\nNo API configured (HELSEID_API_URL); done.")
		return nil
	}
	api, err := client.HTTPClient(req)
	if err != nil {
		return err
	}
	for i := 1; i <= 2; i++ {
		fmt.Fprintf(out, "\n%d. API call %d: GET %s (Authorization: DPoP, a fresh proof with ath)\n", i+2, i, f.apiURL)
		start = time.Now()
		body, err := get(ctx, api, f.apiURL)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "   answered in %s: %s\n", time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(out, "\nToken requests: %d, nonce retries at HelseID: %d, cache hits: %d. Done.\n",
		events.fetched.Load(), events.nonceRetries.Load(), events.hits.Load())
	return nil
}

func get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("call api: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("call api: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("call api: http %d (WWW-Authenticate: %s)", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	return body, nil
}

// countingObserver counts what the client reports (helseid.SlogObserver logs it instead).
type countingObserver struct {
	hits, fetched, nonceRetries atomic.Int64
}

func (o *countingObserver) Observe(_ context.Context, e helseid.Event) {
	switch e.Kind {
	case helseid.CacheHit:
		o.hits.Add(1)
	case helseid.TokenFetched:
		o.fetched.Add(1)
	case helseid.NonceRetry:
		o.nonceRetries.Add(1)
	}
}

// printClaims shows the access token's claims, sorted, one per line.
func printClaims(out io.Writer, jwt string) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("not three parts")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return errors.New("payload is not base64url")
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return errors.New("payload is not a json object")
	}
	names := make([]string, 0, len(claims))
	for name := range claims {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v, _ := json.Marshal(claims[name])
		fmt.Fprintf(out, "     %-45s %s\n", name, v)
	}
	return nil
}

// tracingTransport prints one line per HTTP exchange: method, path, status, and whether the
// server asked for or sent a DPoP nonce. It never prints headers or bodies, which hold secrets.
type tracingTransport struct {
	next http.RoundTripper
	out  io.Writer
}

func (t *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		fmt.Fprintf(t.out, "   -> %s %s: %v\n", req.Method, req.URL.Path, err)
		return nil, err
	}
	note := ""
	switch {
	case resp.StatusCode == http.StatusBadRequest && resp.Header.Get("DPoP-Nonce") != "":
		note = "  (authorization server asks for a DPoP nonce; retrying once with it and a fresh assertion)"
	case resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("DPoP-Nonce") != "":
		note = "  (the API asks for a DPoP nonce; retrying once with it)"
	case resp.Header.Get("DPoP-Nonce") != "":
		note = "  (new DPoP nonce kept for the next request)"
	}
	proof := ""
	if req.Header.Get("DPoP") != "" {
		proof = " +proof"
	}
	fmt.Fprintf(t.out, "   -> %s %s%s: %d in %s%s\n", req.Method, req.URL.Path, proof, resp.StatusCode, time.Since(start).Round(time.Millisecond), note)
	return resp, nil
}
