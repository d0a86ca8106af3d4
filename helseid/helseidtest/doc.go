// Package helseidtest runs an in-process, strict fake of HelseID, Norway's national OAuth 2.0 /
// OpenID Connect service (FAPI 2.0 profile), in the style of net/http/httptest: start it, use
// its URL, Close it. Nothing is global; any number of servers can run side by side.
//
//	srv := helseidtest.NewServer(t)                     // closed by t.Cleanup
//	key, _ := srv.GenerateClient("my-client", "nhn:helseidtest-api/read")
//	// configure the code under test with srv.Issuer(), "my-client" and key ...
//
// Programs (examples) use Start and Close instead of NewServer.
//
// # Endpoints
//
// The paths are HelseID's: discovery (DiscoveryPath), the JWKS (JWKSPath), PAR (PARPath),
// authorize (AuthorizePath), the token endpoint (TokenPath), end session (EndSessionPath),
// revocation (RevocationPath), a demo DPoP-protected API (APIPath, any method, any
// sub-path) and the self-service key registration (ClientSecretPath). The issuer is the server's base URL with no trailing slash. The token endpoint
// implements authorization_code (PKCE, single-use codes, one resource per token),
// refresh_token (rotating; a reused one revokes the grant), client_credentials and token
// exchange (ClientRegistration.ExchangeAudience).
//
// # User login
//
// PAR takes the pushed parameters with private_key_jwt (an optional DPoP proof and dpop_jkt
// bind the code; a request object may name the organisation) and returns a single-use
// request_uri valid for RequestURILifetime. Authorize accepts only client_id and request_uri,
// logs Options.User in at once (DefaultTestUser when unset: pid, security level 4, HPR number)
// and redirects to the redirect URI with code, state and iss. ID tokens are RS256 with nonce,
// at_hash, sid and the user's claims. SetLoginFaults makes the login endpoints misbehave in
// every way the OpenID conformance suite tests clients with (wrong or missing iss and state,
// each bad ID-token claim, alg none, an unknown signing key, a Bearer token type, …).
// IssueUserToken issues a user's access token directly, as HelseID's Test Token Service does.
//
// # Strictness
//
// The server is an independent implementation (jwx for keys and signing, the standard library
// for signature checks) meant to catch clients that misread the specifications. It accepts
// only what HelseID and FAPI 2.0 require and refuses everything else with the right OAuth
// error: invalid_client (401) for client-authentication failures, and 400 with invalid_request,
// invalid_dpop_proof, use_dpop_nonce, unsupported_grant_type, invalid_scope or invalid_target
// for the others. Error bodies are RFC 6749 JSON with Cache-Control: no-store; descriptions
// never contain a token, assertion or proof.
//
// Client assertions (private_key_jwt): typ exactly "client-authentication+jwt"; alg in
// RS/PS/ES 256/384/512 and equal to the registered key's alg; kid naming a registered key;
// signature; iss == sub == client_id (and == the client_id form parameter when sent);
// aud exactly the issuer as one JSON string (not an array, not the token endpoint, no slash
// added or removed); exp present, not passed, at most 60 s ahead; iat present, not in the
// future; nbf, if present, not in the future; jti present and never used before by that
// client. No Authorization header and no client_secret. JOSE headers and claim sets with a
// repeated member, or with crit or b64, are refused.
//
// Scopes: required; space-separated without empty or repeated tokens; no identity scopes
// (openid, profile, offline_access, helseid://scopes/...); all registered for the client; all
// of one API. A scope's API is the part before its first '/' (nhn:phr/mhd/read-document is
// a scope of nhn:phr); it becomes the token's single aud. A resource parameter, if sent, must
// name that API (invalid_target otherwise).
//
// DPoP proofs (RFC 9449): exactly one DPoP header; typ "dpop+jwt"; alg in RS/PS/ES 256/384/512
// or EdDSA; a public-only jwk that fits alg (RSA ≥ 2048 bits, P-256/384/521, Ed25519); the
// signature; jti never used before (token endpoint and API share one record); htm; htu
// exactly the endpoint URL without query or fragment (the token endpoint's htu is Issuer() +
// TokenPath, the API's is the request URL as the server sees it); iat within
// Options.ProofWindow; no ath at the token endpoint, the right ath at the API; the nonce
// as Options.Nonce says.
//
// # Check order and replay records
//
// The token endpoint checks, in order: the HTTP request (POST, form body, no URL query,
// no repeated parameter); client authentication; the DPoP proof; the DPoP nonce; then
// grant_type, scope and resource, and assertion_details. The first failure is the answer.
// Every grant requires a DPoP proof (invalid_dpop_proof without one), except client
// credentials for a client registered with AllowBearer: without a proof it gets an unbound
// token, token_type Bearer and no cnf claim.
//
// A proof's jti is recorded as soon as the proof is valid apart from its nonce, so the retry
// after use_dpop_nonce needs a new proof (as RFC 9449 expects). The client assertion's jti is
// recorded only after the proof and its nonce have passed: a use_dpop_nonce challenge (or a
// bad proof) does not use up the assertion, as HelseID behaves (HelseID.Library.Java resends
// the same assertion and succeeds). From that point every outcome uses it up, success or
// invalid_scope alike. Records are kept until the assertion's exp plus leeway, or the proof's
// iat plus the proof window, and are then pruned: memory is bounded by the traffic of one
// window. Recording is an atomic check-and-set, so concurrent replays have one winner.
//
// # Time
//
// Every time check uses Options.Now. Client-assertion times allow Options.Leeway (default
// 5 s) of clock skew; proof iat may be Options.ProofWindow (default 60 s) either side of now;
// the demo API checks its own tokens' exp, nbf and iat without leeway.
//
// # Nonces
//
// NonceRotating (default) sends the current nonce on every token-endpoint response, so a
// client that keeps it needs one round trip per token; NonceSilentRotate mimics the OpenID
// conformance suite and observed HelseID, costing every request one challenge; NonceNone
// turns nonces off. The demo API can separately demand its own resource-server nonce
// (RequireAPINonce, from a dpop.NonceSource), answered with 401 and WWW-Authenticate: DPoP
// error="use_dpop_nonce".
//
// # Organisation numbers
//
// The assertion_details claim (HelseID's helseid_authorization detail) sets the token's
// organisation claims: a multi-tenant client names NO:ORGNR:<parent>[:[<child>]] under
// urn:oid:1.0.6523; a single-tenant client names a registered child under
// urn:oid:2.16.578.1.12.4.1.4.101. Numbers must be exactly 9 digits. authorization_details
// in a client assertion is refused (it belongs in request objects).
//
// # Demo API
//
// APIURL is protected by the SDK's own helseid.Guard, the middleware an API provider uses, so
// every test that calls it exercises those checks: Authorization: DPoP <token> (scheme
// case-insensitive, Bearer refused), the token (RS256 by a published key, typ at+jwt, iss, aud
// exactly APIAudience, sub, client_id and jti present, exp, nbf and iat without leeway) and a
// proof (dpop.Verifier: typ, algorithm, public jwk, signature, htm, htu, iat within
// ProofWindow, ath, one use per jti) by the key of the token's cnf.jkt. Failures are 401 (400
// for a malformed request) with WWW-Authenticate: DPoP error="invalid_token" or
// "invalid_dpop_proof" and algs; unlike a production API it names the failed check in
// error_description, to help debug clients. A request with no Authorization header gets the
// bare challenge DPoP algs="..." (RFC 6750 §3.1). On success it echoes the request and the
// token's claims as an APIResponse. RotateSigningKey is passed on to the API at once (a real
// API would see it when its JWKS cache refreshes).
//
// # Self-service and client keys
//
// ClientSecretPath under SelfServiceURL is HelseID's self-service (Selvbetjening) endpoint
// for key rotation: POST a public JWK (one key with kid, alg and use "sig", no private part)
// as application/json, with a DPoP-bound token for SelfServiceScope (audience
// SelfServiceAudience, checked by a helseid.Guard like the demo API). The new key replaces the
// client's keys at once, so assertions signed by the old one are refused with invalid_client
// from that answer on, and expires after Options.ClientKeyLifetime; the answer is
// {"expiration": RFC 3339}. Errors are RFC 9457 problem+json (type, title, status, detail).
// Keys given at registration expire at ClientRegistration.KeysExpire, if set. An assertion
// signed by an expired key is refused with invalid_client. ClientKeyIDs shows which keys a
// client has.
//
// # Fault injection and concurrency
//
// SetTokenHook lets a test answer token requests itself (errors, garbage, slow or reset
// connections). All methods are safe for concurrent use; Stats reports counters. Close
// closes client connections and waits for handlers, so no server goroutine outlives it.
package helseidtest
