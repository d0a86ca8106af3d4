// Package dpop implements RFC 9449, OAuth 2.0 Demonstrating Proof of Possession, for both
// sides of a request.
//
// Client side: a Proofer that signs proofs with one key, a NonceStore that keeps the newest
// server nonce per origin, a parser for the WWW-Authenticate challenges servers use to ask
// for a nonce or report a bad proof, and Transport, an http.RoundTripper that calls APIs with
// DPoP-bound tokens (a fresh proof per attempt, the API's nonce, one retry with a new token
// after invalid_token, and no credentials sent to another origin on a redirect).
//
// Server side: a Verifier that checks a request's proof (typ, an algorithm allow-list, a
// public jwk only, the signature, htm, htu as the client called it, iat, ath, the server's
// nonce) and accepts each proof once through a ReplayStore (MemoryReplayStore in one process;
// a shared store such as Redis across machines), and a NonceSource that issues stateless,
// HMAC-stamped nonces every machine of an API accepts. The key's thumbprint comes back in
// Proof.JKT, for the caller to compare with the token's cnf.jkt.
//
// The package knows nothing of HelseID: it serves any FAPI 2.0 authorization server or
// resource server. A Proofer builds its protected header and key thumbprint once, so each
// proof costs little more than one signature; a Verifier keeps the checked header of each
// client key, so each verification costs little more than one signature check.
package dpop
