// Package jwks fetches and caches an issuer's JSON Web Key Set (RFC 7517) and selects the
// public key that verifies an ID token, an access token or another JWS from that issuer.
//
// Key selection is strict. A key is returned only if its kid equals the token's kid (when the
// token has none, exactly one key may fit), its type and curve fit the algorithm, its own
// "alg" (if any) is that algorithm, its "use" (if any) is "sig" and its "key_ops" (if any)
// include "verify". RSA keys must have 2048 to 16384 bits, EC points must lie on their curve.
// Symmetric keys are never used, and a key whose private members appear in the set is
// refused as compromised: anyone can read the set, so anyone could sign with it. Keys the
// package does not understand are skipped, as RFC 7517 §5 asks, without failing the set.
// The caller still owns the algorithm allow-list (for example PS256, ES256 and EdDSA under
// FAPI 2.0, or what the issuer advertises for ID tokens); this package only refuses
// algorithms no key can fit, such as "none" and HS*.
//
// Refresh policy (the lesson of go-oidc and oauth4webapi):
//
//   - an unknown kid triggers a refetch at once, so a key rotated just after start-up still
//     verifies. One fetch is in flight at a time and every caller that needs it waits for
//     it, each only as long as its own context allows. A kid missing from the very first
//     fetch (or from a TTL refresh) gets that refetch too: the set may have come from a cache
//     in front of the issuer, or from a server in the middle of a rotation;
//   - only repeated misses are rate-limited: after a refetch for an unknown kid (whether it
//     found the kid or not), further unknown kids wait until MissRefetchInterval (10 s by
//     default) has passed since it started, and after a failed fetch every fetch waits as
//     long, so random kids in forged tokens cannot turn the verifier into a load generator
//     against the issuer;
//   - a set older than TTL (1 h by default) is refreshed in the background while its keys are
//     still served; a failed refresh keeps the previous set;
//   - the fetch runs on a context detached from the caller that started it, bounded by
//     Config.Timeout, and is the only goroutine that may outlive a call.
package jwks
