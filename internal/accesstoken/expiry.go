package accesstoken

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// maxPayload bounds the JWT payload JWTExpiry decodes; access tokens are far smaller.
const maxPayload = 16 << 10

// JWTExpiry reads exp from an access token that is a JWT, without verifying it, or returns
// zero (an opaque token, no exp, or an exp out of range). The token comes from the token
// endpoint over TLS, so its exp is the server's word on its lifetime when the response gave
// no expires_in.
func JWTExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > maxPayload {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil || *claims.Exp <= 0 || *claims.Exp > 1e11 {
		return time.Time{}
	}
	return time.Unix(int64(*claims.Exp), 0)
}
