// Package helseid is the HelseID profile of the SDK: it composes the RFC packages (dpop, par,
// pkce, resource, tokenexchange) with what HelseID requires of a client — private_key_jwt
// client assertions with typ client-authentication+jwt and aud set to the issuer, DPoP on every
// token request with the nonce handshake, organisation numbers in assertion_details, and the
// HelseID test and production environments.
//
// A Client serves every HelseID job of a client application: client credentials with a
// concurrent token cache and DPoP HTTP clients (Token, HTTPClient), per organisation for
// multi-tenant systems; user login with PAR, PKCE and ID-token validation (StartLogin,
// FinishLogin) and a UserSession with one token per API from the rotating refresh token;
// logout (LogoutURL, RevokeRefreshToken); and token exchange for APIs that call APIs on a
// user's behalf (OnBehalfOfHTTPClient). For API providers, Guard verifies HelseID's DPoP-bound
// access tokens (AccessTokenValidator plus dpop.Verifier) as net/http middleware.
//
// Keys are loaded from the private JWK that HelseID's self-service issues (ParseJWK), from PEM
// with an explicit algorithm (ParsePEM), or from any crypto.Signer such as an HSM or KMS key
// (NewKey). GenerateKey makes a new key pair to register.
//
// Each of these jobs has a runnable Example against helseidtest, the in-process HelseID. What
// HelseID expects of clients and APIs, and which of it is documented by Norsk helsenett or
// only observed, is written out in helseid/docs/profile.md in the SDK's repository.
package helseid
