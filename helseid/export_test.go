package helseid

import (
	"context"
	"time"
)

// Verifications returns how many tokens v has checked in full (signature and claims), so
// tests can tell a remembered token from a verified one.
func Verifications(v *AccessTokenValidator) uint64 { return v.verifications.Load() }

// RememberedTokens returns how many tokens v's verified-token cache holds.
func RememberedTokens(v *AccessTokenValidator) int { return v.verified.len() }

// GuardValidator returns the access-token validator inside g.
func GuardValidator(g *Guard) *AccessTokenValidator { return g.tokens }

// ForgetVerifiedTokens makes v verify every token in full from now on, as if it had never
// seen it: for benchmarks of a token's first request.
func ForgetVerifiedTokens(v *AccessTokenValidator) { v.verified.disabled = true }

// SetRefreshStepHook makes c call hook at each step of a stored session's refresh, for the
// tests that crash a process there.
func SetRefreshStepHook(c *Client, hook func(step string)) { c.testRefreshStep = hook }

// SubjectTokenFromContext returns the token an on-behalf-of call would exchange, and its exp.
func SubjectTokenFromContext(ctx context.Context) (string, time.Time) {
	subj, ok := ctx.Value(subjectKey{}).(*subjectToken)
	if !ok {
		return "", time.Time{}
	}
	return subj.token, subj.expiry
}

// SetSessionSaveTimeout makes c give up retrying a stored session's write after d.
func SetSessionSaveTimeout(c *Client, d time.Duration) { c.testSaveTimeout = d }
