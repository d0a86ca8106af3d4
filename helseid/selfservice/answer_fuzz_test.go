package selfservice

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseAnswer feeds the answer parsers untrusted bodies: they never panic, a problem's
// fields stay printable, bounded UTF-8, and an expiration is returned only without error.
func FuzzParseAnswer(f *testing.F) {
	for _, seed := range []string{
		`{"expiration":"2027-03-01T12:00:00Z"}`,
		`{"expiration":"2027-03-01T13:00:00.1234567+01:00"}`,
		`{"expiration":"2027-03-01T12:00:00"}`,
		`{"type":"about:blank","title":"Bad Request","status":400,"detail":"alg is missing","instance":"/v1/client-secret"}`,
		`{"title":"` + strings.Repeat("é", 300) + `"}`,
		`{"expiration":"0001-01-01T00:00:00"}`,
		`{}`, `null`, `[]`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		if exp, err := parseExpiration(body, now); err == nil && !exp.After(now) {
			t.Fatalf("an expiration not in the future without error: %s", exp)
		}
		p := parseProblem(400, "application/problem+json", body)
		for _, s := range []string{p.Type, p.Title, p.Detail, p.Instance} {
			if !utf8.ValidString(s) || len(s) > maxProblemField+len("…") {
				t.Fatalf("field not bounded utf-8: %d bytes", len(s))
			}
			if strings.ContainsAny(s, "\n\r\x00\x1b") {
				t.Fatalf("control character in %q", s)
			}
		}
		if p.Status != 400 || p.Title == "" || p.Type == "" {
			t.Fatalf("problem lost its status, title or type: %+v", p)
		}
	})
}
