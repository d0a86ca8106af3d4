// Package jose is the SDK's JOSE fast path: the signing algorithms it allows, the checks that
// a key fits its algorithm, canonical public JWKs and RFC 7638 thumbprints, and a compact-JWS
// signer that takes a pre-encoded protected header and writes the result with a single buffer.
//
// Client assertions and DPoP proofs are signed on every token request and every API call, so
// this package avoids maps, reflection and repeated header encoding; verification of
// untrusted tokens stays with jwx, which is thorough rather than fast.
package jose
