package pkce_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/pkce"
)

// The test vector of RFC 7636 Appendix B.
var (
	rfcOctets = []byte{
		116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
		22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
	}
	rfcVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfcHash     = []byte{
		19, 211, 30, 150, 26, 26, 216, 236, 47, 22, 177, 12, 76, 152, 46, 8,
		118, 168, 120, 173, 109, 241, 68, 86, 110, 225, 137, 74, 203, 112, 249, 195,
	}
	rfcChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

func TestRFC7636AppendixB(t *testing.T) {
	v, err := pkce.NewVerifierFrom(bytes.NewReader(rfcOctets))
	require.NoError(t, err)
	assert.Equal(t, rfcVerifier, string(v), "octets -> code_verifier")

	sum := sha256.Sum256([]byte(rfcVerifier))
	assert.Equal(t, rfcHash, sum[:], "SHA256(ASCII(code_verifier))")
	assert.Equal(t, rfcChallenge, v.Challenge(), "code_challenge")
	assert.Equal(t, "S256", pkce.Method)

	parsed, err := pkce.ParseVerifier(rfcVerifier)
	require.NoError(t, err)
	assert.Equal(t, v, parsed)
}

func TestNewVerifierFromReadsExactly32Octets(t *testing.T) {
	src := bytes.NewReader(append(append([]byte(nil), rfcOctets...), 0xff, 0xff))
	v, err := pkce.NewVerifierFrom(src)
	require.NoError(t, err)
	assert.Equal(t, rfcVerifier, string(v))
	assert.Equal(t, 2, src.Len(), "must not read beyond 32 octets")
}

func TestNewVerifier(t *testing.T) {
	const n = 1000
	seen := make(map[pkce.Verifier]struct{}, n)
	for range n {
		v, err := pkce.NewVerifier()
		require.NoError(t, err)
		require.Len(t, string(v), 43)
		_, err = pkce.ParseVerifier(string(v))
		require.NoError(t, err, "a new verifier must pass its own syntax check")
		raw, err := base64.RawURLEncoding.DecodeString(string(v))
		require.NoError(t, err)
		require.Len(t, raw, 32)
		seen[v] = struct{}{}
	}
	assert.Len(t, seen, n, "verifiers must be unique")
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestNewVerifierFromFailingReader(t *testing.T) {
	boom := errors.New("entropy source failed")
	v, err := pkce.NewVerifierFrom(failingReader{boom})
	require.Error(t, err)
	assert.ErrorIs(t, err, boom)
	assert.Empty(t, string(v))

	// A source that runs dry before 32 octets is an error too, never a short verifier.
	v, err = pkce.NewVerifierFrom(bytes.NewReader(rfcOctets[:31]))
	require.Error(t, err)
	assert.Empty(t, string(v))
}

func TestParseVerifier(t *testing.T) {
	unreserved := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{"empty", "", false},
		{"42 chars", strings.Repeat("a", 42), false},
		{"43 chars", strings.Repeat("a", 43), true},
		{"128 chars", strings.Repeat("a", 128), true},
		{"129 chars", strings.Repeat("a", 129), false},
		{"every unreserved character", unreserved, true},
		{"rfc vector", rfcVerifier, true},
		{"space", strings.Repeat("a", 42) + " ", false},
		{"plus", strings.Repeat("a", 42) + "+", false},
		{"slash", strings.Repeat("a", 42) + "/", false},
		{"padding", strings.Repeat("a", 42) + "=", false},
		{"percent", strings.Repeat("a", 42) + "%", false},
		{"nul", strings.Repeat("a", 42) + "\x00", false},
		{"newline", strings.Repeat("a", 42) + "\n", false},
		{"non-ascii", strings.Repeat("a", 41) + "é", false},
		{"bad first char", "*" + strings.Repeat("a", 42), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := pkce.ParseVerifier(tc.in)
			if tc.valid {
				require.NoError(t, err)
				assert.Equal(t, tc.in, string(v))
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, pkce.ErrInvalidVerifier)
			assert.Empty(t, string(v))
			if tc.in != "" {
				assert.NotContains(t, err.Error(), tc.in, "error must not contain the verifier")
			}
			assert.Equal(t, strings.ToLower(err.Error()), err.Error(), "error text is lower-case")
		})
	}
}

func TestVerifierRedaction(t *testing.T) {
	v := pkce.Verifier(rfcVerifier)
	const want = "pkce.Verifier(REDACTED)"

	assert.Equal(t, want, v.String())
	assert.Equal(t, want, v.GoString())
	for _, verb := range []string{"%v", "%s", "%q", "%#v", "%+v", "%x", "%X", "%d", "%10s", "%-40v"} {
		got := fmt.Sprintf(verb, v)
		assert.NotContains(t, got, rfcVerifier, verb)
		assert.Contains(t, got, "REDACTED", verb)
	}
	// Inside other values: structs, pointers, slices, maps.
	record := struct {
		State    string
		Verifier pkce.Verifier
	}{"xyz", v}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		for _, arg := range []any{record, &record, []pkce.Verifier{v}, map[string]pkce.Verifier{"k": v}} {
			got := fmt.Sprintf(verb, arg)
			assert.NotContains(t, got, rfcVerifier, verb)
			assert.Contains(t, got, "REDACTED", verb)
		}
	}
	assert.NotContains(t, fmt.Sprint(v), rfcVerifier)
	assert.NotContains(t, fmt.Sprintln(v), rfcVerifier)

	assert.Equal(t, want, v.LogValue().String())
	for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		logger := slog.New(newHandler(&buf))
		logger.Info("login started", "verifier", v, slog.Any("any", v), slog.Group("g", "v", v))
		out := buf.String()
		assert.NotContains(t, out, rfcVerifier)
		assert.Equal(t, 3, strings.Count(out, "REDACTED"), out)
	}
}

func TestVerifierJSONRoundTrip(t *testing.T) {
	type loginRecord struct {
		State    string        `json:"state"`
		Verifier pkce.Verifier `json:"code_verifier"`
	}
	in := loginRecord{State: "xyz", Verifier: pkce.Verifier(rfcVerifier)}
	data, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `{"state":"xyz","code_verifier":"`+rfcVerifier+`"}`, string(data))

	var out loginRecord
	require.NoError(t, json.Unmarshal(data, &out))
	assert.Equal(t, in, out)

	// An empty verifier (none stored) round-trips too.
	require.NoError(t, json.Unmarshal([]byte(`{"code_verifier":""}`), &out))
	assert.Empty(t, string(out.Verifier))

	// A tampered record is refused on decoding, without echoing the value.
	bad := strings.Repeat("a", 42) + "!"
	err = json.Unmarshal([]byte(`{"code_verifier":"`+bad+`"}`), &out)
	require.Error(t, err)
	assert.ErrorIs(t, err, pkce.ErrInvalidVerifier)
	assert.NotContains(t, err.Error(), bad)
}

func TestChallengeDependsOnEveryCharacter(t *testing.T) {
	a := pkce.Verifier(rfcVerifier)
	b := pkce.Verifier(rfcVerifier[:42] + "Y")
	assert.NotEqual(t, a.Challenge(), b.Challenge())
	assert.Len(t, a.Challenge(), 43)
	assert.NotContains(t, a.Challenge(), "=")
}

func BenchmarkNewVerifier(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pkce.NewVerifier(); err != nil {
			b.Fatal(err)
		}
	}
}
