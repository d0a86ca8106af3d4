// Package jose is the SDK's JOSE fast path: the signing algorithms it allows, the checks that
// a key fits its algorithm, canonical public JWKs and RFC 7638 thumbprints, a compact-JWS
// signer that takes a pre-encoded protected header and writes the result with a single buffer,
// and the one path by which the SDK verifies every JWS it accepts.
//
// Client assertions and DPoP proofs are signed on every token request and every API call, so
// this package avoids maps, reflection and repeated header encoding. Access tokens and ID
// tokens are verified here too, each parsed once: ParseCompact checks the compact
// serialisation (canonical base64url, a header with no member twice, no crit) and
// Compact.Verify the signature; DPoP proofs use the same Verify. Verify never admits none or
// HS*, and a key must fit its algorithm. jwx is kept where it serves best, loading private keys and writing JWKs;
// it no longer verifies untrusted input.
package jose
