// Package par implements the client side of RFC 9126, OAuth 2.0 Pushed Authorization
// Requests: it pushes the authorization parameters to the server's PAR endpoint with client
// authentication (and optionally DPoP), and builds the front-channel authorization URL that
// carries only client_id and request_uri, as FAPI 2.0 requires.
//
// The package knows nothing of HelseID, so any FAPI 2.0 client can use it.
package par
