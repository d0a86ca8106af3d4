package par

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/httpx"
)

// ErrInvalidRequest reports authorization parameters the Pusher refuses before sending.
var ErrInvalidRequest = errors.New("invalid pushed authorization request")

// Response is the PAR endpoint's answer (RFC 9126 §2.2).
type Response struct {
	// RequestURI references the pushed parameters at the authorization endpoint.
	RequestURI string
	// ExpiresIn is the request_uri's lifetime in seconds, and Expiry that lifetime counted
	// from when the push was sent.
	ExpiresIn int64
	Expiry    time.Time
}

// Pusher pushes authorization requests to one PAR endpoint. It is safe for concurrent use.
type Pusher struct {
	endpoint *fapi.Client
	proofer  *dpop.Proofer
	now      func() time.Time
}

// New returns a Pusher for endpoint, the server's pushed_authorization_request_endpoint, with
// the settings of the client's token requests (see fapi.Settings). With a Proofer the push
// carries a DPoP proof and dpop_jkt with its key's thumbprint (RFC 9449 §10), binding the
// authorization code to that key. It makes no network call.
func New(endpoint string, s fapi.Settings) (*Pusher, error) {
	client, err := fapi.NewClient(endpoint, s)
	if err != nil {
		return nil, fmt.Errorf("par: %w", err)
	}
	p := &Pusher{endpoint: client, proofer: s.Proofer, now: s.Now}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// reserved are parameters the Pusher sets itself or that RFC 9126 forbids in a push.
var reserved = [...]string{"request_uri", "client_assertion", "client_assertion_type", "client_secret", "dpop_jkt"}

// RequestObjectFunc builds a signed request object (RFC 9101) to push as the "request"
// parameter. The Pusher calls it once per HTTP attempt, as it does the client authentication,
// so that a retried push never repeats a jti the server has seen (and may refuse as a replay)
// nor carries an exp that has passed meanwhile.
type RequestObjectFunc func() (string, error)

// Push sends the authorization request params (response_type, client_id, redirect_uri, scope,
// state, nonce, code_challenge and so on, exactly as given) and returns the request_uri.
// params must not hold request_uri (RFC 9126 §2.1) or client credentials. Errors wrap
// *fapi.Error for the server's answers, ErrInvalidRequest or fapi.ErrInvalidResponse, and
// never contain an assertion or a proof. A signed request object belongs in
// PushWithRequestObject, which makes a new one for every attempt.
func (p *Pusher) Push(ctx context.Context, params url.Values) (*Response, error) {
	return p.push(ctx, params, nil)
}

// PushWithRequestObject is Push with a request object built by requestObject for each HTTP
// attempt and sent as the "request" parameter alongside params, which must not hold one.
// requestObject's errors end the push and are wrapped.
func (p *Pusher) PushWithRequestObject(ctx context.Context, params url.Values, requestObject RequestObjectFunc) (*Response, error) {
	if requestObject == nil {
		return nil, fmt.Errorf("%w: the request object function is nil", ErrInvalidRequest)
	}
	if _, ok := params["request"]; ok {
		return nil, fmt.Errorf("%w: request is built by the request object function, not given in params", ErrInvalidRequest)
	}
	return p.push(ctx, params, func(form url.Values) error {
		ro, err := requestObject()
		if err != nil {
			return fmt.Errorf("request object: %w", err)
		}
		form.Set("request", ro)
		return nil
	})
}

func (p *Pusher) push(ctx context.Context, params url.Values, prepare func(url.Values) error) (*Response, error) {
	for _, name := range reserved {
		if _, ok := params[name]; ok {
			return nil, fmt.Errorf("%w: %s must not be pushed by the caller", ErrInvalidRequest, name)
		}
	}
	if params.Get("client_id") == "" {
		return nil, fmt.Errorf("%w: client_id is required", ErrInvalidRequest)
	}
	form := make(url.Values, len(params)+1)
	for k, v := range params {
		form[k] = v
	}
	if p.proofer != nil {
		form.Set("dpop_jkt", p.proofer.Thumbprint())
	}
	sent := p.now()
	body, _, err := p.endpoint.PostEach(ctx, form, http.StatusCreated, fapi.Idempotent, prepare)
	if err != nil {
		return nil, fmt.Errorf("par: %w", err)
	}
	var w struct {
		RequestURI *string `json:"request_uri"`
		ExpiresIn  *int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("par: %w: the body is not the expected json", fapi.ErrInvalidResponse)
	}
	switch {
	case w.RequestURI == nil || *w.RequestURI == "" || strings.ContainsAny(*w.RequestURI, " \t\r\n"):
		return nil, fmt.Errorf("par: %w: request_uri is missing or malformed", fapi.ErrInvalidResponse)
	case w.ExpiresIn == nil || *w.ExpiresIn <= 0 || *w.ExpiresIn > 24*3600:
		return nil, fmt.Errorf("par: %w: expires_in is missing or out of range", fapi.ErrInvalidResponse)
	}
	return &Response{RequestURI: *w.RequestURI, ExpiresIn: *w.ExpiresIn, Expiry: sent.Add(time.Duration(*w.ExpiresIn) * time.Second)}, nil
}

// AuthorizationURL returns the front-channel URL for a pushed request: the authorization
// endpoint with client_id and request_uri and nothing else (RFC 9126 §4; FAPI 2.0 requires
// that nothing else is sent there). A query the endpoint already has is kept.
func AuthorizationURL(authorizationEndpoint, clientID, requestURI string) (string, error) {
	u, err := httpx.CheckEndpoint("authorization endpoint", authorizationEndpoint)
	if err != nil {
		return "", fmt.Errorf("par: %w", err)
	}
	if clientID == "" || requestURI == "" {
		return "", fmt.Errorf("par: %w: client_id and request_uri are required", ErrInvalidRequest)
	}
	q := u.Query()
	q.Set("client_id", clientID)
	q.Set("request_uri", requestURI)
	u.RawQuery = q.Encode()
	u.Fragment = ""
	return u.String(), nil
}
