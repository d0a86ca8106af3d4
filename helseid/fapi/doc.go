// Package fapi holds the FAPI 2.0 client building blocks for any authorization server: the
// private_key_jwt client authenticator (PrivateKeyJWT), the request settings written once and
// shared by every request to the server (Settings: client authentication, DPoP proofer and
// nonce store, HTTP client, retry policy, clock), and one method per protocol step on a Client
// of one endpoint: ClientCredentials, ExchangeCode (PKCE, redirect_uri, one resource), Refresh,
// and Post for endpoints that work like the token endpoint. Packages par, resource and
// tokenexchange take the same Settings, and the SDK's own HelseID client is built on them.
//
// Every HTTP attempt carries a fresh client assertion and a fresh DPoP proof; the server's
// use_dpop_nonce answer is retried exactly once with its nonce; transient failures (network
// errors, 5xx, 429) are retried as RetryPolicy allows and as the grant permits (never an
// authorization-code exchange, a refresh only when the server did not act on it). Bodies are
// read through a size limit, error bodies become *Error, token responses are typed and their
// token_type checked against what was asked for (DPoP with a proof, so a Bearer answer is a
// downgrade and refused).
//
// The package imports nothing HelseID-specific: it serves any FAPI 2.0 server. Its defaults
// are HelseID's profile where that is also FAPI 2.0's (assertion typ
// client-authentication+jwt, aud the issuer, a 10 s lifetime); it sits under helseid/ only so
// that the RFC packages can import it without importing package helseid.
package fapi
