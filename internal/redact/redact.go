// Package redact is how the SDK's types that hold a secret (a token, refresh token, code,
// verifier, assertion or private key) show themselves in fmt, log/slog and encoding/json: as a
// fixed summary of their non-secret fields, built by one function per type. fmt would
// otherwise print every field by reflection, unexported ones included, and slog's JSON handler
// would marshal every exported one.
//
// A type gets String, GoString, Format and LogValue methods (and MarshalJSON where it is never
// marshalled for its data) that each call Summary's method of the same name.
package redact

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Redacted stands for a secret that is present.
const Redacted = "REDACTED"

// Summary is what a value shows instead of itself: its type and its non-secret attributes.
type Summary struct {
	Type  string // such as "resource.Session"
	Attrs []slog.Attr
}

// Of returns the summary of a value of type typ.
func Of(typ string, attrs ...slog.Attr) Summary { return Summary{Type: typ, Attrs: attrs} }

// Secret stands for a secret: "REDACTED" when it is set, "none" when it is empty.
func Secret(key, value string) slog.Attr {
	if value == "" {
		return slog.String(key, "none")
	}
	return slog.String(key, Redacted)
}

// Nil is the summary of a nil pointer: "<nil>", as fmt prints one.
var Nil = Summary{Type: "<nil>"}

// String renders the summary as Type{key=value key=value}, or Type alone when it has no
// attributes.
func (s Summary) String() string {
	if s.Attrs == nil {
		return s.Type
	}
	var b strings.Builder
	b.WriteString(s.Type)
	b.WriteByte('{')
	for i, a := range s.Attrs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.Key)
		b.WriteByte('=')
		if v := a.Value.Resolve(); v.Kind() == slog.KindTime {
			b.WriteString(v.Time().UTC().Format(time.RFC3339))
		} else {
			b.WriteString(v.String())
		}
	}
	b.WriteByte('}')
	return b.String()
}

// Format writes the summary for every verb, so no fmt verb (%v, %+v, %#v, %s, %q, %x, …)
// reaches the fields.
func (s Summary) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue is the summary as a slog group.
func (s Summary) LogValue() slog.Value { return slog.GroupValue(s.Attrs...) }

// MarshalJSON renders the summary's attributes as a JSON object.
func (s Summary) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(s.Attrs))
	for _, a := range s.Attrs {
		m[a.Key] = a.Value.Resolve().Any()
	}
	return json.Marshal(m)
}
