// Package dpop implements the client side of RFC 9449, OAuth 2.0 Demonstrating Proof of
// Possession: a Proofer that signs proofs with one key, a NonceStore that keeps the newest
// server nonce per origin, a parser for the WWW-Authenticate challenges servers use to ask
// for a nonce or report a bad proof, and Transport, an http.RoundTripper that calls APIs with
// DPoP-bound tokens (a fresh proof per attempt, the API's nonce, one retry with a new token
// after invalid_token, and no credentials sent to another origin on a redirect).
//
// The package knows nothing of HelseID: it serves any FAPI 2.0 authorization server or
// resource server. A Proofer builds its protected header and key thumbprint once, so each
// proof costs little more than one signature; use one Proofer per key for the life of the
// process.
package dpop
