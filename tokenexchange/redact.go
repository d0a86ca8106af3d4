package tokenexchange

import (
	"fmt"
	"log/slog"

	"github.com/helseid-go/sdk/internal/redact"
)

// summary is all a Request shows of itself: everything but the subject and actor tokens.
func (r Request) summary() redact.Summary {
	return redact.Of("tokenexchange.Request",
		redact.Secret("subject_token", r.SubjectToken), slog.String("subject_token_type", r.SubjectTokenType),
		slog.Any("scopes", r.Scopes), slog.Any("resources", r.Resources), slog.Any("audiences", r.Audiences),
		redact.Secret("actor_token", r.ActorToken), slog.String("actor_token_type", r.ActorTokenType),
		slog.String("requested_token_type", r.RequestedTokenType), slog.Time("subject_expiry", r.SubjectExpiry))
}

// String never shows the subject or actor token.
func (r Request) String() string { return r.summary().String() }

// GoString never shows the subject or actor token.
func (r Request) GoString() string { return r.summary().String() }

// Format never shows the subject or actor token, whatever the verb.
func (r Request) Format(f fmt.State, verb rune) { r.summary().Format(f, verb) }

// LogValue never shows the subject or actor token.
func (r Request) LogValue() slog.Value { return r.summary().LogValue() }

// MarshalJSON never shows the subject or actor token: a Request is sent as a form, never
// stored, and slog's JSON handler marshals it when it is a field of a logged struct.
func (r Request) MarshalJSON() ([]byte, error) { return r.summary().MarshalJSON() }

// summary is all a Cache shows of itself: its type. Printing its fields by reflection would show
// the exchanged tokens and read fields its goroutines write.
func (c *Cache) summary() redact.Summary {
	if c == nil {
		return redact.Nil
	}
	return redact.Of("tokenexchange.Cache")
}

// String never shows a cached token.
func (c *Cache) String() string { return c.summary().String() }

// GoString never shows a cached token.
func (c *Cache) GoString() string { return c.summary().String() }

// Format never shows a cached token, whatever the verb.
func (c *Cache) Format(f fmt.State, verb rune) { c.summary().Format(f, verb) }

// LogValue never shows a cached token.
func (c *Cache) LogValue() slog.Value { return c.summary().LogValue() }

// MarshalJSON never shows a cached token.
func (c *Cache) MarshalJSON() ([]byte, error) { return c.summary().MarshalJSON() }
