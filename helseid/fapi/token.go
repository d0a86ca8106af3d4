package fapi

import (
	"fmt"
	"log/slog"
	"time"
)

// Token is an access token as the SDK hands it out (from caches, sessions and exchanges): one
// type across packages helseid, resource and tokenexchange. Formatting and logging it never
// shows the token.
type Token struct {
	// AccessToken is the token to send as "Authorization: DPoP <AccessToken>" with a proof.
	AccessToken string
	// Expiry is when the token stops being handed out (counted from when it was requested,
	// so slightly early).
	Expiry time.Time
}

func (t Token) redacted() string {
	return "Token{AccessToken:REDACTED, Expiry:" + t.Expiry.UTC().Format(time.RFC3339) + "}"
}

// String redacts the token.
func (t Token) String() string { return t.redacted() }

// GoString redacts the token.
func (t Token) GoString() string { return t.redacted() }

// Format redacts the token for every verb.
func (t Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(t.redacted())) }

// LogValue redacts the token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_token", "REDACTED"), slog.Time("expiry", t.Expiry))
}
