package helseidtest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/helseid/helseidtest"
)

func TestNonceRotating(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	c := h.client("c", readScope)

	// First contact: challenged, with the nonce.
	res := h.send(h.tokenReq(c))
	require.Equal(t, http.StatusBadRequest, res.Status)
	require.Equal(t, "use_dpop_nonce", res.code())
	assert.Equal(t, "Authorization server requires nonce in DPoP proof", res.JSON["error_description"])
	n1 := res.Header.Get("DPoP-Nonce")
	require.NotEmpty(t, n1)

	// Retry with the nonce: 200, and the 200 carries the (same) current nonce.
	res = h.send(h.tokenReq(c))
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	assert.Equal(t, n1, res.Header.Get("DPoP-Nonce"))

	// A client that keeps the newest nonce needs one round trip per token.
	before := h.srv.Stats()
	for i := 0; i < 3; i++ {
		res = h.send(h.tokenReq(c))
		require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	}
	after := h.srv.Stats()
	assert.Equal(t, before.TokenRequests+3, after.TokenRequests)
	assert.Equal(t, before.NonceChallenges, after.NonceChallenges)

	// Errors other than the challenge carry the nonce too.
	r := h.tokenReq(c)
	r.Form.Set("scope", "openid")
	res = h.send(r)
	require.Equal(t, "invalid_scope", res.code())
	assert.Equal(t, n1, res.Header.Get("DPoP-Nonce"))

	// After RotateNonce the old nonce is refused and the challenge names the new one.
	h.srv.RotateNonce()
	res = h.send(h.tokenReq(c))
	require.Equal(t, "use_dpop_nonce", res.code())
	n2 := res.Header.Get("DPoP-Nonce")
	assert.NotEqual(t, n1, n2)
	res = h.send(h.tokenReq(c))
	assert.Equal(t, http.StatusOK, res.Status, string(res.Body))
}

func TestNonceRotateEvery(t *testing.T) {
	h := newHarness(t, helseidtest.Options{NonceRotateEvery: 2})
	c := h.client("c", readScope)
	h.token(c) // handshake, token 1
	n1 := h.currentNonce()

	res := h.send(h.tokenReq(c)) // token 2 rotates; its 200 carries the new nonce
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	n2 := res.Header.Get("DPoP-Nonce")
	require.NotEmpty(t, n2)
	assert.NotEqual(t, n1, n2)

	// The previous nonce is no longer accepted.
	r := h.tokenReq(c)
	r.PClaims["nonce"] = n1
	res = h.send(r)
	assert.Equal(t, "use_dpop_nonce", res.code())
	assert.Equal(t, n2, res.Header.Get("DPoP-Nonce"))

	res = h.send(h.tokenReq(c)) // token 3 with n2: no rotation
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	assert.Equal(t, n2, res.Header.Get("DPoP-Nonce"))
}

func TestNonceSilentRotate(t *testing.T) {
	h := newHarness(t, helseidtest.Options{Nonce: helseidtest.NonceSilentRotate})
	c := h.client("c", readScope)
	const n = 4
	for i := 0; i < n; i++ {
		// Even with the last nonce it saw, a client is challenged exactly once per token.
		res := h.send(h.tokenReq(c))
		require.Equal(t, "use_dpop_nonce", res.code(), "request %d", i)
		require.NotEmpty(t, res.Header.Get("DPoP-Nonce"))
		res = h.send(h.tokenReq(c))
		require.Equal(t, http.StatusOK, res.Status, string(res.Body))
		assert.Empty(t, res.Header.Get("DPoP-Nonce"), "no nonce on success")
	}
	st := h.srv.Stats()
	assert.EqualValues(t, n, st.NonceChallenges)
	assert.EqualValues(t, n, st.TokensIssued)
	assert.EqualValues(t, 2*n, st.TokenRequests)
	assert.Zero(t, st.TokenErrors)
}

func TestNonceNone(t *testing.T) {
	h := newHarness(t, helseidtest.Options{Nonce: helseidtest.NonceNone})
	c := h.client("c", readScope)
	res := h.send(h.tokenReq(c))
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	assert.Empty(t, res.Header.Get("DPoP-Nonce"))

	r := h.tokenReq(c)
	r.PClaims["nonce"] = "whatever"
	res = h.send(r)
	assert.Equal(t, http.StatusOK, res.Status, "a nonce is ignored when none is required")
	assert.Zero(t, h.srv.Stats().NonceChallenges)
}

// By default a nonce challenge uses up both the assertion and the proof: the retry needs
// fresh ones, as the OpenID conformance suite requires.
func TestNonceChallengeBurnsAssertionAndProof(t *testing.T) {
	h := newHarness(t, helseidtest.Options{})
	c := h.client("c", readScope)

	first := h.tokenReq(c)
	res := h.send(first)
	require.Equal(t, "use_dpop_nonce", res.code())

	r := h.tokenReq(c)
	r.Assertion = first.Assertion
	res = h.send(r)
	assert.Equal(t, "invalid_client", res.code(), "an assertion resent after a nonce challenge is a replay")
	assert.Contains(t, res.JSON["error_description"], "already been used")

	res = h.send(h.tokenReq(c))
	assert.Equal(t, http.StatusOK, res.Status, "fresh assertion and proof: accepted")
}

// With ReusableAssertionAfterNonceChallenge a use_dpop_nonce challenge does not use up the
// client assertion (HelseID lets the Java library resend it), but it does use up the proof.
func TestNonceChallengeKeepsAssertionBurnsProof(t *testing.T) {
	h := newHarness(t, helseidtest.Options{ReusableAssertionAfterNonceChallenge: true})
	c := h.client("c", readScope)

	first := h.tokenReq(c)
	res := h.send(first)
	require.Equal(t, "use_dpop_nonce", res.code())

	// The same proof jti with the nonce added: refused as a replay.
	r := h.tokenReq(c)
	r.Assertion = first.Assertion
	r.PClaims["jti"] = first.PClaims["jti"]
	res = h.send(r)
	require.Equal(t, "invalid_dpop_proof", res.code())
	assert.Contains(t, res.JSON["error_description"], "already been used")

	// The same assertion with a fresh proof: accepted.
	r = h.tokenReq(c)
	r.Assertion = first.Assertion
	res = h.send(r)
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))

	// Now it is used up.
	r = h.tokenReq(c)
	r.Assertion = first.Assertion
	res = h.send(r)
	assert.Equal(t, "invalid_client", res.code())
	assert.Contains(t, res.JSON["error_description"], "already been used")
}

// Once past the DPoP checks, a failing request uses up the assertion too.
func TestAssertionUsedUpByLaterFailure(t *testing.T) {
	h := newHarness(t, helseidtest.Options{Nonce: helseidtest.NonceNone})
	c := h.client("c", readScope)
	r := h.tokenReq(c)
	r.Form.Set("scope", "openid")
	res := h.send(r)
	require.Equal(t, "invalid_scope", res.code())

	again := h.tokenReq(c)
	again.Assertion = r.Assertion
	res = h.send(again)
	assert.Equal(t, "invalid_client", res.code())
}
