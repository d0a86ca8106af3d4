package helseidtest

import (
	"crypto/rand"
	"crypto/subtle"
	"sync"
)

// NonceMode selects how the token endpoint uses DPoP nonces (RFC 9449 §8).
type NonceMode int

const (
	// NonceRotating (the default): a nonce is required at the token endpoint. The server sends
	// its current nonce in DPoP-Nonce on every token-endpoint response it writes (the 400
	// use_dpop_nonce challenge, other errors and 200 successes). The nonce changes on
	// RotateNonce and, when Options.NonceRotateEvery is set, after every that many issued
	// tokens; the previous nonce is refused from then on. A client that keeps the newest
	// nonce makes one round trip per token after the first.
	NonceRotating NonceMode = iota
	// NonceSilentRotate behaves like the OpenID conformance suite and the HelseID behaviour
	// observed in the official libraries: a nonce is required, it changes after every issued
	// token, and it is sent only with the use_dpop_nonce challenge, never on success. Every
	// token request therefore gets exactly one challenge.
	NonceSilentRotate
	// NonceNone requires no nonce; a nonce present in a proof is ignored, and no DPoP-Nonce
	// header is sent.
	NonceNone
)

// String returns the mode's name.
func (m NonceMode) String() string {
	switch m {
	case NonceRotating:
		return "NonceRotating"
	case NonceSilentRotate:
		return "NonceSilentRotate"
	case NonceNone:
		return "NonceNone"
	}
	return "NonceMode(?)"
}

// nonceSource holds one server-issued DPoP nonce (the AS's or the demo API's).
type nonceSource struct {
	mu      sync.Mutex
	current string
}

func newNonceSource() *nonceSource {
	n := &nonceSource{}
	n.rotate()
	return n
}

// value returns the current nonce.
func (n *nonceSource) value() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.current
}

// rotate replaces the current nonce with a fresh random one; the old one stops matching.
func (n *nonceSource) rotate() {
	v := randomToken(24)
	n.mu.Lock()
	n.current = v
	n.mu.Unlock()
}

// matches reports whether v is the current nonce (in constant time).
func (n *nonceSource) matches(v string) bool {
	cur := n.value()
	return v != "" && subtle.ConstantTimeCompare([]byte(v), []byte(cur)) == 1
}

// randomToken returns n random bytes, base64url encoded: valid as a DPoP nonce (NQCHAR), a jti,
// a key id.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it aborts the program instead).
	return b64.EncodeToString(b)
}
