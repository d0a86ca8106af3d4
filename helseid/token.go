package helseid

import "github.com/helseid-go/sdk/internal/accesstoken"

// Token is a cached DPoP-bound access token: AccessToken to send as
// "Authorization: DPoP <AccessToken>" with a proof, and its Expiry. Formatting and logging it
// never shows the token.
type Token = accesstoken.Token
