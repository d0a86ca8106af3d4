package fapi

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds the retries of transient failures: a network error, a 5xx, or a 429. The
// zero value is the default policy (3 attempts, 200 ms doubling to at most 5 s, with jitter).
// Each attempt carries a fresh client assertion and DPoP proof. The single use_dpop_nonce
// retry is separate and does not count.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts; 0 means 3, 1 disables retries.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts (0: 200 ms and 5 s). A server's
	// Retry-After longer than MaxBackoff ends the retries: its request is not waited out.
	MinBackoff, MaxBackoff time.Duration
}

// Safety says which failures a request may be retried after without harm.
type Safety int

const (
	// Idempotent requests (client credentials, token exchange, PAR) may be retried after any
	// transient failure: a repeat only issues another token.
	Idempotent Safety = iota
	// ConsumesOnSuccess requests (a refresh with a rotating refresh token) are retried only
	// after an answer saying the request was not processed (429, 503, temporarily_unavailable),
	// never after a network error or a 500, 502 or 504, any of which may hide a success whose
	// new refresh token would be lost (a gateway can time out after the server rotated it).
	ConsumesOnSuccess
	// Once requests (the authorization-code exchange) are never retried.
	Once
)

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 3
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = 200 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 5 * time.Second
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = p.MinBackoff
	}
	return p
}

// backoff returns the wait before retry number n (1-based): MinBackoff doubled n-1 times,
// capped at MaxBackoff, with jitter drawn from its upper half so that clients failing together
// do not retry together.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.MinBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	if d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	half := d / 2
	return half + rand.N(half+1)
}

// errTransport marks an error that happened before any response was read.
type errTransport struct{ err error }

func (e *errTransport) Error() string { return e.err.Error() }
func (e *errTransport) Unwrap() error { return e.err }

// transient reports whether err may go away on its own.
func transient(err error) bool {
	var oe *Error
	if errors.As(err, &oe) {
		return oe.Temporary()
	}
	var te *errTransport
	if errors.As(err, &te) {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	return false
}

// notProcessed reports whether err is an answer that says the server did not act on the
// request: 429, 503, or temporarily_unavailable.
func notProcessed(err error) bool {
	var oe *Error
	if !errors.As(err, &oe) {
		return false
	}
	return oe.StatusCode == http.StatusTooManyRequests || oe.StatusCode == http.StatusServiceUnavailable || oe.Code == "temporarily_unavailable"
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 || secs > 24*3600 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// sleepContext waits d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
