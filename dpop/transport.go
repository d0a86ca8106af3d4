package dpop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/helseid-go/sdk/internal/httpx"
)

// TokenSource supplies DPoP-bound access tokens for API calls (the SDK's token cache
// implements it).
type TokenSource interface {
	// AccessToken returns a currently valid DPoP-bound access token for requests made with ctx.
	AccessToken(ctx context.Context) (string, error)
}

// TokenInvalidator is optionally implemented by a TokenSource. After a resource server
// answers 401 with error="invalid_token" for token, the Transport calls
// InvalidateToken(ctx, token) and then asks AccessToken again, expecting a new token.
type TokenInvalidator interface {
	InvalidateToken(ctx context.Context, token string)
}

var (
	// ErrBodyNotReplayable reports that a resource server asked for a retry (for a DPoP nonce
	// or after rejecting the access token) but the request body cannot be sent a second time:
	// the request has a body and no GetBody. http.NewRequest sets GetBody for *bytes.Buffer,
	// *bytes.Reader and *strings.Reader bodies.
	ErrBodyNotReplayable = errors.New("request body cannot be sent again")
	// ErrRequestHasCredentials reports a request that already carries an Authorization or
	// DPoP header. The Transport adds both itself and refuses to mix them with credentials
	// from elsewhere, or to overwrite them silently.
	ErrRequestHasCredentials = errors.New("request already has credentials")
	// ErrTransportConfig reports a Transport without a Proofer or a TokenSource.
	ErrTransportConfig = errors.New("incomplete dpop transport")
	// ErrInsecureURL reports a request the Transport refuses to attach a token to: one not
	// made over https, unless it goes over plain http to a loopback address (127.0.0.0/8, ::1
	// or "localhost"), where nothing crosses the network. Nothing is sent for it.
	ErrInsecureURL = errors.New("access token refused for a url that is not https")
)

// DefaultClientTimeout is the Timeout of the clients NewClient returns: it bounds a whole
// request, retries, redirects and the reading of the body included, so that an API that
// stops answering cannot hold a caller for ever.
const DefaultClientTimeout = 30 * time.Second

// Transport is an http.RoundTripper that makes resource requests with DPoP-bound access
// tokens (RFC 9449 §7): it sets "Authorization: DPoP <token>" and a DPoP header with a new
// proof (htm, htu, ath, and the server's newest nonce) on every attempt.
//
// It follows a resource server's lead at most once per kind per RoundTrip, so a request is
// sent at most three times and never loops:
//
//   - 401 with a DPoP challenge whose error is "use_dpop_nonce" and a valid DPoP-Nonce header
//     (RFC 9449 §9): one retry with a fresh proof carrying that nonce, even when Nonces holds
//     another by then (a concurrent response may have replaced it). A nonce equal to the one
//     the rejected proof already carried is not retried, since the answer would be the same.
//   - 401 with any challenge whose error is "invalid_token", when Tokens implements
//     TokenInvalidator: the token is invalidated and the request is retried once with a new
//     token from Tokens (if Tokens returns the same token again, the 401 is returned).
//
// A token is sent over https only, or over plain http to a loopback address (127.0.0.0/8, ::1,
// "localhost") as a test server or a local sidecar uses: any other request that would carry
// the token is refused with ErrInsecureURL before a token is asked for or anything is sent.
//
// Any other response, including a 401 it does not retry, is returned to the caller as it is.
// The DPoP-Nonce of every response (successes included, RFC 9449 §8.2) is recorded in Nonces
// under the response's origin, so the next request to that server needs one round trip.
//
// A retry sends the body again through Request.GetBody; a request with a body and without
// GetBody is not retried, and RoundTrip returns an error wrapping ErrBodyNotReplayable.
//
// Redirects: an http.Client calls RoundTrip again for each hop, with Request.Response set.
// The Transport walks back through Response.Request to the request the client started with
// and attaches a token and proof only when the hop has that request's origin (scheme, host
// and port, as Origin returns them, so https → http on the same host counts as another
// origin). A hop to any other origin, or one whose original request cannot be found, is passed
// to Base unchanged: no token is asked for and no Authorization or DPoP header is sent. A
// redirect that comes back to the original origin is authenticated again.
//
// The caller's request is never modified (each attempt is a clone), and a request that
// already has an Authorization or DPoP header is refused with ErrRequestHasCredentials.
// Returned responses have Request set to the caller's request rather than the clone, so the
// token and proof do not travel with the response into logs. Errors never contain the token
// or the proof. RoundTrip starts no goroutines and honours the request's context.
//
// A Transport is safe for concurrent use. Do not copy it after first use.
type Transport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Proofer signs the proofs. Required: its key is the one the tokens are bound to.
	Proofer *Proofer
	// Nonces keeps the servers' nonces. Nil means a store private to this Transport, created
	// on first use. Share a store with the token client only if both talk to the same origins
	// by design; nonces are kept per origin either way.
	Nonces *NonceStore
	// Tokens supplies the access tokens. Required. If it also implements TokenInvalidator,
	// a token the server rejects as invalid_token is replaced once per request.
	Tokens TokenSource

	noncesOnce sync.Once
	nonces     *NonceStore
}

// NewClient returns an http.Client that sends its requests through t, with a Timeout of
// DefaultClientTimeout; set the returned client's Timeout to change it (zero means none, for
// long downloads bounded by their contexts instead).
//
// It keeps net/http's default redirect policy (at most 10 hops) and does not refuse
// cross-origin redirects: the Transport itself never sends a token or proof to an origin
// other than the one the request was made for, so such a redirect is followed without
// credentials (the usual case is an API handing out a pre-signed download URL). Note that
// a 307 or 308 redirect re-sends the body to the new location, as net/http always does; set
// CheckRedirect on the returned client to refuse redirects when that matters.
func NewClient(t *Transport) *http.Client {
	return &http.Client{Transport: t, Timeout: DefaultClientTimeout}
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *Transport) nonceStore() *NonceStore {
	if t.Nonces != nil {
		return t.Nonces
	}
	t.noncesOnce.Do(func() { t.nonces = NewNonceStore() })
	return t.nonces
}

// RoundTrip sends req with a DPoP-bound access token and a proof, retrying as described on
// Transport. It implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		httpx.CloseRequestBody(req)
		return nil, fmt.Errorf("dpop: %w: request has no URL", ErrInvalidProofInput)
	}
	if t.Proofer == nil || t.Tokens == nil {
		httpx.CloseRequestBody(req)
		return nil, fmt.Errorf("dpop: %w: Proofer and Tokens are required", ErrTransportConfig)
	}
	if req.Response != nil && !httpx.SameOriginAsFirst(req, Origin) {
		return t.base().RoundTrip(req)
	}
	if !httpx.TokenURLAllowed(req.URL) {
		httpx.CloseRequestBody(req)
		return nil, fmt.Errorf("dpop: %w: %s to %q, which is not a loopback address", ErrInsecureURL, req.URL.Scheme, req.URL.Hostname())
	}
	if name := httpx.CredentialHeader(req.Header, "Authorization", "DPoP"); name != "" {
		httpx.CloseRequestBody(req)
		return nil, fmt.Errorf("dpop: %w: the request has a %s header", ErrRequestHasCredentials, name)
	}

	ctx := req.Context()
	nonces := t.nonceStore()
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	token, err := t.Tokens.AccessToken(ctx)
	if err != nil {
		httpx.CloseRequestBody(req)
		return nil, fmt.Errorf("dpop: get access token: %w", err)
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil

	var nonceRetried, tokenRetried bool
	// challenged is the nonce of the use_dpop_nonce answer the next attempt replies to. The
	// retry signs that very nonce: the shared store may hold another by then (a concurrent
	// response, or another server on the same origin), which this server did not ask for.
	challenged := ""
	for attempt := 0; ; attempt++ {
		r := req.Clone(ctx)
		if r.Header == nil {
			r.Header = make(http.Header, 2)
		}
		if attempt > 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if req.Body != nil && req.Body != http.NoBody {
				if r.Body, err = req.GetBody(); err != nil {
					return nil, fmt.Errorf("dpop: get the request body again for the retry: %w", err)
				}
			}
		}
		nonce := challenged
		if nonce == "" {
			nonce = nonces.NonceFor(r.URL)
		}
		challenged = ""
		proof, err := t.Proofer.Proof(method, r.URL, nonce, token)
		if err != nil {
			httpx.CloseRequestBody(r) // the caller's body on the first attempt, GetBody's later
			return nil, fmt.Errorf("dpop: proof: %w", err)
		}
		r.Header.Set("Authorization", "DPoP "+token)
		r.Header.Set("DPoP", proof)

		resp, err := t.base().RoundTrip(r)
		if err != nil {
			return nil, err
		}
		nonces.Observe(r.URL, resp.Header)
		resp.Request = req
		if resp.StatusCode != http.StatusUnauthorized {
			return resp, nil
		}

		// A 401: answer the server's challenge if it is one we answer, and only once.
		var reason string
		newToken := false
		if n, ok := UseDPoPNonce(resp); ok && !nonceRetried && n != nonce {
			nonceRetried, challenged = true, n
			reason = "the server asked for a DPoP nonce (use_dpop_nonce)"
		} else if inv, ok := t.Tokens.(TokenInvalidator); ok && !tokenRetried && invalidTokenChallenge(resp) {
			tokenRetried, newToken = true, true
			reason = "the server rejected the access token (invalid_token)"
			inv.InvalidateToken(ctx, token)
		} else {
			return resp, nil
		}
		if !replayable {
			httpx.DrainAndClose(resp)
			return nil, fmt.Errorf("dpop: %w: %s, but the request body cannot be sent again; "+
				"set Request.GetBody (http.NewRequest does for *bytes.Buffer, *bytes.Reader and *strings.Reader bodies)",
				ErrBodyNotReplayable, reason)
		}
		if newToken {
			next, err := t.Tokens.AccessToken(ctx)
			if err != nil {
				httpx.DrainAndClose(resp)
				return nil, fmt.Errorf("dpop: get a new access token after invalid_token: %w", err)
			}
			if next == token {
				return resp, nil // the source has no other token: the server's answer stands
			}
			token = next
		}
		httpx.DrainAndClose(resp)
	}
}

// invalidTokenChallenge reports whether any challenge in resp's WWW-Authenticate header has
// error="invalid_token" (RFC 6750 §3.1, RFC 9449 §7.1).
func invalidTokenChallenge(resp *http.Response) bool {
	cs, err := ParseChallenges(resp.Header.Values("Www-Authenticate")...)
	if err != nil {
		return false
	}
	for _, c := range cs {
		if c.Param("error") == "invalid_token" {
			return true
		}
	}
	return false
}
