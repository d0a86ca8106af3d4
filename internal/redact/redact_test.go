package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type holder struct{ token, name string }

func (h holder) summary() Summary {
	return Of("x.Holder", slog.String("name", h.name), Secret("token", h.token), Secret("other", ""))
}
func (h holder) Format(f fmt.State, verb rune) { h.summary().Format(f, verb) }
func (h holder) LogValue() slog.Value          { return h.summary().LogValue() }
func (h holder) MarshalJSON() ([]byte, error) {
	return h.summary().MarshalJSON()
}

func TestSummary(t *testing.T) {
	h := holder{token: "s3cret", name: "n"}
	want := "x.Holder{name=n token=REDACTED other=none}"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		assert.Equal(t, want, fmt.Sprintf(verb, h), verb)
		assert.Equal(t, want, fmt.Sprintf(verb, &h), verb)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "h", h)
	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	assert.Equal(t, map[string]any{"name": "n", "token": "REDACTED", "other": "none"}, rec["h"])
	js, err := json.Marshal(struct{ H holder }{h})
	require.NoError(t, err)
	assert.JSONEq(t, `{"H":{"name":"n","token":"REDACTED","other":"none"}}`, string(js))
	assert.Equal(t, "t{at=2025-01-02T03:04:05Z}", Of("t", slog.Time("at", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))).String())
}
