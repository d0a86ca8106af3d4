// Package tokenexchange implements the client side of RFC 8693, OAuth 2.0 Token Exchange: an
// API that received a user's access token exchanges it for one that a downstream API accepts,
// keeping the user's identity and naming itself as the actor, with client authentication and
// DPoP.
//
// An Exchanger sends one exchange (with the DPoP nonce handshake and bounded retries of
// transient failures, each with fresh client authentication and a fresh proof). A Cache in
// front of it keeps each result until the earlier of its own and the subject token's expiry,
// keyed by a hash of the subject token and the target, never the token itself, with one
// exchange in flight per key however many requests wait.
//
// The package knows nothing of HelseID, so any FAPI 2.0 client can use it; package helseid
// builds its on-behalf-of HTTP clients on it.
package tokenexchange
