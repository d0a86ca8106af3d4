// Package clientauth builds private_key_jwt client assertions (RFC 7523 §2.2, OpenID Connect
// Core §9) the way HelseID and FAPI 2.0 want them: typ client-authentication+jwt, aud the
// issuer identifier as one JSON string, a short lifetime, and a fresh 128-bit jti for every
// HTTP attempt, because servers refuse a jti they have seen before.
package clientauth
