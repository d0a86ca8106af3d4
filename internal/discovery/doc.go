// Package discovery fetches, validates and caches an authorization server's OpenID Connect
// discovery document (OpenID Connect Discovery 1.0 §4, RFC 8414).
//
// Parse is the validation step on its own: the document must be one JSON object whose
// "issuer" equals the configured issuer byte for byte (OIDC Discovery §4.3, RFC 8414 §3.3;
// HelseID's issuer has no trailing slash, the OpenID conformance suite's has one, and neither
// is normalised), it must name a token endpoint and a key set, and every endpoint it names
// must be https (plain http only to a loopback address). A mismatch is ErrIssuerMismatch and
// any other defect ErrInvalidMetadata; a client that gets either must stop the flow.
//
// Cache keeps one validated document per issuer:
//
//   - while the document is younger than Config.TTL (24 h by default) it is returned with no
//     network traffic and no lock (an atomic load);
//   - when it is absent, stale or invalidated, one fetch runs for all callers (single flight).
//     The fetch runs on a context detached from the caller that started it, bounded by
//     Config.Timeout, so a caller whose own context ends returns at once with ctx.Err() while
//     the others still get the result;
//   - a failure is remembered: calls inside the backoff window (exponential from MinRetry to
//     MaxRetry, with jitter) get the remembered error without a request;
//   - when a stale document exists, a failed refresh is not an error: the stale document keeps
//     being served (metadata changes rarely, and a brief outage of the discovery endpoint must
//     not stop token requests). The error surfaces only when there is no document at all.
//
// Invalidate makes the next call fetch again, skipping the backoff window.
package discovery
