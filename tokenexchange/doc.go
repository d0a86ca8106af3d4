// Package tokenexchange implements the client side of RFC 8693, OAuth 2.0 Token Exchange: an
// API that received a user's access token exchanges it for one that a downstream API accepts,
// keeping the user's identity and naming itself as the actor, with client authentication and
// DPoP.
//
// The package knows nothing of HelseID, so any FAPI 2.0 client can use it. Its requests arrive
// with the token-exchange work (issue 5); until then the package holds only this description.
package tokenexchange
