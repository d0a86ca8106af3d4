// Package tokenendpoint sends authenticated form POSTs to an OAuth 2.0 token endpoint (and to
// endpoints that work like it, such as PAR): a fresh client assertion and a fresh DPoP proof
// for every HTTP attempt, exactly one retry when the server answers use_dpop_nonce, bodies read
// through a size limit, RFC 6749 error bodies turned into *Error, and token responses checked
// and typed.
package tokenendpoint
