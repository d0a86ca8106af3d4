package selfservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/internal/httpx"
)

// Base URLs of the self-service API.
const (
	// TestBaseURL is the self-service API of HelseID's test environment (helseid.TestIssuer).
	TestBaseURL = "https://api.selvbetjening.test.nhn.no"
	// ProductionBaseURL is the self-service API of HelseID's production environment
	// (helseid.ProductionIssuer).
	ProductionBaseURL = "https://api.selvbetjening.nhn.no"
)

// Scope is the scope of the token the self-service API takes; the client must be registered
// with it.
const Scope = "nhn:selvbetjening/client"

// ClientSecretPath is the endpoint, relative to the base URL, that registers a new public key.
const ClientSecretPath = "/v1/client-secret"

// ErrInvalidResponse reports a success answer that cannot be read, such as one without an
// expiration: the key may be registered all the same (see Client.RegisterKey).
var ErrInvalidResponse = errors.New("selfservice: invalid response")

// maxResponseBody bounds the answers read.
const maxResponseBody = 1 << 20

// Config configures a Client.
type Config struct {
	// BaseURL is the self-service API: TestBaseURL, ProductionBaseURL, or another server's
	// such as helseidtest's SelfServiceURL. https, or http to a loopback address. Required.
	BaseURL string
	// Client is the HelseID client whose keys are registered; its tokens for Scope (the
	// supplier's own, for a multi-tenant client) authenticate the calls, bound to its DPoP
	// key. Required.
	Client *helseid.Client
	// Now is the clock an answered expiration must lie after; nil means time.Now.
	Now func() time.Time
}

// Client calls the self-service API for one HelseID client. It is safe for concurrent use.
type Client struct {
	endpoint string
	http     *http.Client
	now      func() time.Time
}

// NewClient checks cfg and returns a Client. It makes no network call.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Client == nil {
		return nil, errors.New("selfservice: Config.Client is nil")
	}
	if _, err := httpx.CheckEndpoint("selfservice: BaseURL", cfg.BaseURL); err != nil {
		return nil, err
	}
	hc, err := cfg.Client.HTTPClient(helseid.ClientCredentialsRequest{
		Scopes:       []string{Scope},
		Organization: helseid.SupplierOrganization(),
	})
	if err != nil {
		return nil, fmt.Errorf("selfservice: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{endpoint: strings.TrimSuffix(cfg.BaseURL, "/") + ClientSecretPath, http: hc, now: now}, nil
}

// RegisterKey registers key's public half (a JWK with alg, kid and use "sig") as the client's
// key and returns when HelseID will stop accepting it, a time after Config.Now. HelseID authenticates the client with
// the new key from its answer on; store the key before relying on it.
//
// An error from the API is a *Problem. Any other error (a network failure, ErrInvalidResponse)
// leaves it unknown whether the key was registered; try the key at the token endpoint to
// find out.
func (c *Client) RegisterKey(ctx context.Context, key *helseid.Key) (time.Time, error) {
	if key == nil {
		return time.Time{}, errors.New("selfservice: key is nil")
	}
	jwk, err := key.PublicJWK()
	if err != nil {
		return time.Time{}, fmt.Errorf("selfservice: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(jwk))
	if err != nil {
		return time.Time{}, fmt.Errorf("selfservice: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, application/problem+json")
	resp, err := c.http.Do(req)
	if err != nil {
		return time.Time{}, fmt.Errorf("selfservice: register key: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return time.Time{}, fmt.Errorf("selfservice: register key: read answer: %w", err)
	}
	if len(body) > maxResponseBody {
		return time.Time{}, fmt.Errorf("%w: answer larger than %d bytes", ErrInvalidResponse, maxResponseBody)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return time.Time{}, parseProblem(resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return parseExpiration(body, c.now())
}

// parseExpiration reads {"expiration": ISO 8601}. .NET writes the time with or without a
// zone; one without is taken as UTC. An expiration not after now is refused: .NET's default
// DateTime ("0001-01-01T00:00:00") would otherwise read as the zero time, which a key store
// takes for "unknown" and an AutoRotator for "rotate at once", registering a key per check.
func parseExpiration(body []byte, now time.Time) (time.Time, error) {
	var answer struct {
		Expiration *string `json:"expiration"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return time.Time{}, fmt.Errorf("%w: answer is not a json object", ErrInvalidResponse)
	}
	if answer.Expiration == nil {
		return time.Time{}, fmt.Errorf("%w: answer has no expiration", ErrInvalidResponse)
	}
	s := *answer.Expiration
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC); err != nil {
			return time.Time{}, fmt.Errorf("%w: expiration %.40q is not an ISO 8601 time", ErrInvalidResponse, s)
		}
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("%w: expiration %s is not in the future", ErrInvalidResponse, t.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// Problem is an error answer of the self-service API: an RFC 9457 problem detail, or the
// status alone when the answer carries none. Match it with errors.As.
type Problem struct {
	// Status is the HTTP status of the answer.
	Status int
	// Type is a URI naming the kind of problem ("about:blank" when the API names none).
	Type string
	// Title is a short summary of the kind of problem.
	Title string
	// Detail says what went wrong with this request.
	Detail string
	// Instance names this occurrence.
	Instance string
}

func (p *Problem) Error() string {
	msg := fmt.Sprintf("selfservice: %d", p.Status)
	if p.Title != "" {
		msg += " " + p.Title
	}
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	return msg
}

// maxProblemField bounds each field of a problem kept for an error message.
const maxProblemField = 256

func parseProblem(status int, contentType string, body []byte) *Problem {
	p := &Problem{Status: status}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/problem+json" || mt == "application/json" {
		var wire struct {
			Type     string `json:"type"`
			Title    string `json:"title"`
			Detail   string `json:"detail"`
			Instance string `json:"instance"`
		}
		if json.Unmarshal(body, &wire) == nil {
			p.Type, p.Title = clean(wire.Type), clean(wire.Title)
			p.Detail, p.Instance = clean(wire.Detail), clean(wire.Instance)
		}
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(status)
	}
	return p
}

// clean keeps an untrusted text printable and short for an error message.
func clean(s string) string {
	if len(s) > maxProblemField {
		s = strings.ToValidUTF8(s[:maxProblemField], "") + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
