package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// FetchError reports a GET of a public document (discovery, key set) answered with a status
// other than 200.
type FetchError struct {
	StatusCode int    // the HTTP status received
	URL        string // the document's URL (public; it holds no credentials)
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("GET %s: unexpected status %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// DefaultTimeout is the timeout of NewClient's client and the default bound of one fetch.
const DefaultTimeout = 30 * time.Second

const maxRedirects = 5

// NewClient returns the client used when a configuration names none: a timeout, and at most
// five redirects, followed only to https (or loopback http) URLs.
func NewClient() *http.Client {
	return &http.Client{
		Timeout: DefaultTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errors.New("too many redirects")
			}
			_, err := CheckEndpoint("redirect", req.URL.String())
			return err
		},
	}
}

// GetDocument GETs a public JSON document and returns its body, read through maxBody (see
// ReadBody). forced asks caches on the way for a fresh copy (Cache-Control: no-cache), for a
// refetch after an invalidation or an unknown key ID. A status other than 200 is a *FetchError.
func GetDocument(ctx context.Context, client *http.Client, url, accept string, forced bool, maxBody int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", accept)
	if forced {
		req.Header.Set("Cache-Control", "no-cache")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err // a *url.Error: it names the method and URL, which are public here
	}
	if resp.StatusCode != http.StatusOK {
		DrainAndClose(resp)
		return nil, &FetchError{StatusCode: resp.StatusCode, URL: url}
	}
	body, err := ReadBody(resp, maxBody)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return body, nil
}

// NoRedirects returns a copy of client that never follows a redirect: the 3xx response is
// returned as it is. Requests that carry credentials (a client assertion, a DPoP proof, a code)
// use it, because net/http would send a 307 or 308's body on to wherever the Location points.
func NoRedirects(client *http.Client) *http.Client {
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// SecureRedirects returns a copy of client that follows redirects only to https (or loopback
// http) URLs, at most five, and otherwise as client's own policy says. Fetches of public
// documents use it, so a caller's client cannot be led to plain http.
func SecureRedirects(client *http.Client) *http.Client {
	c := *client
	inner := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return errors.New("too many redirects")
		}
		if _, err := CheckEndpoint("redirect", req.URL.String()); err != nil {
			return err
		}
		if inner != nil {
			return inner(req, via)
		}
		return nil
	}
	return &c
}
