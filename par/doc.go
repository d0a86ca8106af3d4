// Package par implements the client side of RFC 9126, OAuth 2.0 Pushed Authorization
// Requests: it pushes the authorization parameters to the server's PAR endpoint with client
// authentication (and optionally DPoP), and builds the front-channel authorization URL that
// carries only client_id and request_uri, as FAPI 2.0 requires. A signed request object
// (RFC 9101) is made anew for every attempt of a push (PushWithRequestObject), as the client
// authentication is, so that a retry never repeats its jti.
//
// The package knows nothing of HelseID, so any FAPI 2.0 client can use it.
package par
