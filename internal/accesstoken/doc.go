// Package accesstoken reads what the SDK needs from an access token it did not issue: its JWT
// exp (JWTExpiry), never trusting it for more than when to stop using the token.
package accesstoken
