// Package pkce implements RFC 7636, Proof Key for Code Exchange, with the S256 method only:
// the plain method protects nothing against an attacker who can read the authorization
// request, and FAPI 2.0 forbids it.
//
// A client makes a new Verifier for every authorization request, sends its Challenge with
// code_challenge_method=S256 (usually in the pushed authorization request), keeps the Verifier
// with the rest of the login state, and sends it as code_verifier when it redeems the code.
//
// A Verifier is a secret until the code is redeemed. It redacts itself when printed or logged
// (fmt, slog); string(v) and JSON encoding give the raw value, so it can be stored in a login
// record and sent to the token endpoint.
package pkce
