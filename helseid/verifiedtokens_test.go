package helseid_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/internal/fakeclock"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tokenFor signs goodClaims, changed by mutate, with issuer key k1.
func tokenFor(t *testing.T, ti *testIssuer, mutate func(map[string]any)) string {
	t.Helper()
	c := goodClaims(ti.URL)
	if mutate != nil {
		mutate(c)
	}
	payload, err := json.Marshal(c)
	require.NoError(t, err)
	return sign(t, issuerKeys[0], jwa.RS256, "at+jwt", "k1", payload)
}

// A token seen again is answered from the verified-token cache: no second signature check,
// the same claims, and a caller that changes its copy does not change the next caller's.
func TestAccessTokenRemembered(t *testing.T) {
	ti := newTestIssuer(t)
	v := newValidator(t, ti, fakeclock.New(tokenNow), "nhn:test-api/read")
	token := tokenFor(t, ti, nil)

	first, err := v.Validate(context.Background(), token)
	require.NoError(t, err)
	first.Subject = "changed by a handler"
	second, err := v.Validate(context.Background(), token)
	require.NoError(t, err)
	assert.EqualValues(t, 1, helseid.Verifications(v), "the second request pays no signature check")
	assert.Equal(t, 1, helseid.RememberedTokens(v))
	assert.Equal(t, "client-1", second.Subject)
	assert.Equal(t, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", second.JKT)

	// A remembered token is still checked against this validator's scopes.
	other := newValidator(t, ti, fakeclock.New(tokenNow), "nhn:test-api/admin")
	for range 2 {
		_, err = other.Validate(context.Background(), token)
		assert.ErrorIs(t, err, helseid.ErrInsufficientScope)
	}
	// A refused token is not remembered: every request checks it again.
	bad := tokenFor(t, ti, func(c map[string]any) { c["aud"] = "nhn:other" })
	for range 2 {
		_, err = v.Validate(context.Background(), bad)
		assert.ErrorIs(t, err, helseid.ErrInvalidToken)
	}
	assert.EqualValues(t, 3, helseid.Verifications(v))
	assert.Equal(t, 1, helseid.RememberedTokens(v))
}

// exp, nbf and iat are compared with the clock on every request: a remembered token is
// refused the moment a fresh check would refuse it, and leaves the cache at its exp.
func TestAccessTokenRememberedTimes(t *testing.T) {
	ti := newTestIssuer(t)
	clock := fakeclock.New(tokenNow)
	v := newValidator(t, ti, clock)
	token := tokenFor(t, ti, nil) // nbf = iat = tokenNow, exp = tokenNow + 10 min, leeway 10 s
	_, err := v.Validate(context.Background(), token)
	require.NoError(t, err)

	clock.Set(tokenNow.Add(10*time.Minute + 10*time.Second - time.Nanosecond))
	_, err = v.Validate(context.Background(), token)
	require.NoError(t, err, "within the leeway after exp")

	clock.Set(tokenNow.Add(-10*time.Second - time.Nanosecond)) // the clock was stepped back
	_, err = v.Validate(context.Background(), token)
	require.ErrorIs(t, err, helseid.ErrInvalidToken)
	assert.Contains(t, err.Error(), "not valid yet")
	assert.Equal(t, 1, helseid.RememberedTokens(v), "a token not valid yet may become valid")

	clock.Set(tokenNow.Add(10*time.Minute + 10*time.Second))
	_, err = v.Validate(context.Background(), token)
	require.ErrorIs(t, err, helseid.ErrInvalidToken)
	assert.Contains(t, err.Error(), "expired")
	assert.Equal(t, 0, helseid.RememberedTokens(v), "evicted at exp")
	assert.EqualValues(t, 1, helseid.Verifications(v), "refused from the cache's own time check")
	_, err = newValidator(t, ti, clock).Validate(context.Background(), token)
	assert.ErrorContains(t, err, "expired", "as a fresh check refuses it")
}

// An expired entry does not stay in memory until someone presents its token again: the next
// insertion after the earliest exp sweeps it out.
func TestAccessTokenRememberedSweep(t *testing.T) {
	ti := newTestIssuer(t)
	clock := fakeclock.New(tokenNow)
	v := newValidator(t, ti, clock)
	short := tokenFor(t, ti, func(c map[string]any) { c["jti"], c["exp"] = "short", tokenNow.Add(time.Minute).Unix() })
	long := tokenFor(t, ti, func(c map[string]any) { c["jti"], c["exp"] = "long", tokenNow.Add(time.Hour).Unix() })
	for _, tok := range []string{short, long} {
		_, err := v.Validate(context.Background(), tok)
		require.NoError(t, err)
	}
	assert.Equal(t, 2, helseid.RememberedTokens(v))
	clock.Advance(2 * time.Minute)
	_, err := v.Validate(context.Background(), tokenFor(t, ti, func(c map[string]any) { c["jti"] = "next" }))
	require.NoError(t, err)
	assert.Equal(t, 2, helseid.RememberedTokens(v), "the expired token made room for the new one")
	_, err = v.Validate(context.Background(), long)
	require.NoError(t, err)
	assert.EqualValues(t, 3, helseid.Verifications(v), "the long-lived token is still remembered")
}

// A key the issuer withdraws from its key set stops its tokens once the validator's copy of
// the set is refreshed (after the key set's 1 h TTL), remembered or not; before that the
// validator holds the old set and accepts them, as it would without the cache.
func TestAccessTokenRememberedKeyWithdrawn(t *testing.T) {
	ti := newTestIssuer(t)
	clock := fakeclock.New(tokenNow)
	v := newValidator(t, ti, clock)
	token := tokenFor(t, ti, func(c map[string]any) { c["exp"] = tokenNow.Add(3 * time.Hour).Unix() })
	_, err := v.Validate(context.Background(), token)
	require.NoError(t, err)

	ti.publish("k2", issuerKeys[1])
	ti.withdraw("k1")
	_, err = v.Validate(context.Background(), token)
	require.NoError(t, err, "the cached key set still holds k1 until its TTL")

	clock.Advance(time.Hour + time.Second)
	_, err = v.Validate(context.Background(), token)
	require.NoError(t, err, "a stale set is served while it refreshes in the background")
	// A token with a kid the set does not know waits for the refresh in flight, then has
	// its own refetch: after it the validator holds the issuer's current set.
	payload, _ := json.Marshal(goodClaims(ti.URL))
	_, err = v.Validate(context.Background(), sign(t, issuerKeys[1], jwa.RS256, "at+jwt", "k3", payload))
	require.ErrorIs(t, err, helseid.ErrInvalidToken)

	_, err = v.Validate(context.Background(), token)
	require.ErrorIs(t, err, helseid.ErrInvalidToken)
	assert.Contains(t, err.Error(), "no matching signing key")
	assert.Equal(t, 0, helseid.RememberedTokens(v))
	assert.EqualValues(t, 2, helseid.Verifications(v), "refused by the remembered token's own key check")
}

// When the issuer's kid comes to name another key, a remembered token is verified afresh
// against it, and its signature no longer holds.
func TestAccessTokenRememberedKidReused(t *testing.T) {
	ti := newTestIssuer(t)
	clock := fakeclock.New(tokenNow)
	v := newValidator(t, ti, clock)
	token := tokenFor(t, ti, func(c map[string]any) { c["exp"] = tokenNow.Add(3 * time.Hour).Unix() })
	_, err := v.Validate(context.Background(), token)
	require.NoError(t, err)

	ti.publish("k1", issuerKeys[1])
	clock.Advance(time.Hour + time.Second)
	_, err = v.Validate(context.Background(), token)
	require.NoError(t, err, "the stale set is served while it refreshes")
	payload, _ := json.Marshal(goodClaims(ti.URL))
	_, _ = v.Validate(context.Background(), sign(t, issuerKeys[1], jwa.RS256, "at+jwt", "k9", payload)) // waits for the refresh

	_, err = v.Validate(context.Background(), token)
	require.ErrorIs(t, err, helseid.ErrInvalidToken)
	assert.Contains(t, err.Error(), "signature does not verify")
}

// Many requests with a few tokens at once, while the clock moves past some tokens' exp.
func TestAccessTokenRememberedConcurrent(t *testing.T) {
	ti := newTestIssuer(t)
	clock := fakeclock.New(tokenNow)
	v := newValidator(t, ti, clock)
	tokens := make([]string, 4)
	for i := range tokens {
		tokens[i] = tokenFor(t, ti, func(c map[string]any) {
			c["jti"], c["exp"] = string(rune('a'+i)), tokenNow.Add(time.Duration(i+1)*time.Minute).Unix()
		})
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if g == 0 && i%10 == 0 {
					clock.Advance(15 * time.Second)
				}
				tok := tokens[(g+i)%len(tokens)]
				now := clock.Now()
				claims, err := v.Validate(context.Background(), tok)
				if err == nil {
					// The validator read the clock after now, and it only moves forward.
					assert.True(t, now.Before(claims.Expiry.Add(10*time.Second)), "never accepted past exp")
				} else {
					assert.ErrorContains(t, err, "expired")
				}
			}
		}()
	}
	wg.Wait()
}
