package dpop_test

import (
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
)

const challengeTestRSDescription = "Resource server requires nonce in DPoP proof"

func TestParseChallengesVectors(t *testing.T) {
	multiple := "Multiple methods used to include access token"
	tests := []struct {
		name   string
		values []string
		want   []dpop.Challenge
	}{
		{
			name:   "RFC 9449 §7.1 algs",
			values: []string{`DPoP algs="ES256 PS256"`},
			want:   []dpop.Challenge{{Scheme: "DPoP", Params: map[string]string{"algs": "ES256 PS256"}}},
		},
		{
			name:   "RFC 9449 §7.1 invalid key binding",
			values: []string{`DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256"`},
			want: []dpop.Challenge{{Scheme: "DPoP", Params: map[string]string{
				"error": "invalid_token", "error_description": "Invalid DPoP key binding", "algs": "ES256",
			}}},
		},
		{
			name:   "RFC 9449 §7.2 bare Bearer then DPoP",
			values: []string{`Bearer, DPoP algs="ES256 PS256"`},
			want: []dpop.Challenge{
				{Scheme: "Bearer"},
				{Scheme: "DPoP", Params: map[string]string{"algs": "ES256 PS256"}},
			},
		},
		{
			name:   "RFC 9449 §7.2 Bearer error then DPoP",
			values: []string{`Bearer error="invalid_token", error_description="Invalid token", DPoP algs="ES256 PS256"`},
			want: []dpop.Challenge{
				{Scheme: "Bearer", Params: map[string]string{"error": "invalid_token", "error_description": "Invalid token"}},
				{Scheme: "DPoP", Params: map[string]string{"algs": "ES256 PS256"}},
			},
		},
		{
			name: "RFC 9449 §7.2 multiple methods (400)",
			values: []string{`Bearer error="invalid_request", error_description="Multiple methods used to include access token", ` +
				`DPoP algs="ES256 PS256", error="invalid_request", error_description="Multiple methods used to include access token"`},
			want: []dpop.Challenge{
				{Scheme: "Bearer", Params: map[string]string{"error": "invalid_request", "error_description": multiple}},
				{Scheme: "DPoP", Params: map[string]string{"algs": "ES256 PS256", "error": "invalid_request", "error_description": multiple}},
			},
		},
		{
			name:   "RFC 9449 §9 resource server nonce",
			values: []string{`DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`},
			want: []dpop.Challenge{{Scheme: "DPoP", Params: map[string]string{
				"error": "use_dpop_nonce", "error_description": challengeTestRSDescription,
			}}},
		},
		{
			name:   "conformance suite odd-case scheme",
			values: []string{`dPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`},
			want: []dpop.Challenge{{Scheme: "dPoP", Params: map[string]string{
				"error": "use_dpop_nonce", "error_description": challengeTestRSDescription,
			}}},
		},
		{
			name:   "RFC 9449 §7.2 split over two header fields",
			values: []string{`Bearer error="invalid_token", error_description="Invalid token"`, `DPoP algs="ES256 PS256"`},
			want: []dpop.Challenge{
				{Scheme: "Bearer", Params: map[string]string{"error": "invalid_token", "error_description": "Invalid token"}},
				{Scheme: "DPoP", Params: map[string]string{"algs": "ES256 PS256"}},
			},
		},
		{
			name:   "RFC 9110 §11.6.1 example with token68 and several params",
			values: []string{`Basic realm="simple", Newauth realm="apps", type=1, title="Login to \"apps\"", Other dGVzdA==, Last`},
			want: []dpop.Challenge{
				{Scheme: "Basic", Params: map[string]string{"realm": "simple"}},
				{Scheme: "Newauth", Params: map[string]string{"realm": "apps", "type": "1", "title": `Login to "apps"`}},
				{Scheme: "Other", Token68: "dGVzdA=="},
				{Scheme: "Last"},
			},
		},
		{
			name:   "optional whitespace, BWS and empty list elements",
			values: []string{" ,, \tDPoP \t algs = \"ES256\" ,\t, error=invalid_token ,, Bearer\t,  ,"},
			want: []dpop.Challenge{
				{Scheme: "DPoP", Params: map[string]string{"algs": "ES256", "error": "invalid_token"}},
				{Scheme: "Bearer"},
			},
		},
		{
			name:   "param names lower-cased, values and scheme as sent",
			values: []string{`DPOP Error="Use_DPoP_Nonce", ALGS=ES256`},
			want:   []dpop.Challenge{{Scheme: "DPOP", Params: map[string]string{"error": "Use_DPoP_Nonce", "algs": "ES256"}}},
		},
		{
			name:   "quoted-pair escapes and obs-text",
			values: []string{"DPoP a=\"x\\\"y\\\\z\\q\", b=\"\", c=\"tab\tand caf\xc3\xa9\""},
			want:   []dpop.Challenge{{Scheme: "DPoP", Params: map[string]string{"a": `x"y\zq`, "b": "", "c": "tab\tand caf\xc3\xa9"}}},
		},
		{
			name:   "comma inside a quoted-string does not split",
			values: []string{`DPoP error_description="a, DPoP b=c", algs="ES256"`},
			want:   []dpop.Challenge{{Scheme: "DPoP", Params: map[string]string{"error_description": "a, DPoP b=c", "algs": "ES256"}}},
		},
		{
			name:   "token68 forms",
			values: []string{"Negotiate a+b/c-d._~==, Basic x, Other error="},
			want: []dpop.Challenge{
				{Scheme: "Negotiate", Token68: "a+b/c-d._~=="},
				{Scheme: "Basic", Token68: "x"},
				{Scheme: "Other", Token68: "error="},
			},
		},
		{name: "no header", values: nil, want: nil},
		{name: "empty value", values: []string{""}, want: nil},
		{name: "only separators", values: []string{" , ,\t", ""}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dpop.ParseChallenges(tc.values...)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestChallengeAccessors(t *testing.T) {
	cs, err := dpop.ParseChallenges(`Bearer error="invalid_token"`, `dPoP ERROR="use_dpop_nonce", Algs="ES256 PS256"`)
	require.NoError(t, err)
	require.Len(t, cs, 2)

	c, ok := dpop.FindChallenge(cs, "DPoP")
	require.True(t, ok)
	assert.Equal(t, "dPoP", c.Scheme)
	assert.True(t, c.Is("dpop"))
	assert.True(t, c.Is("DPOP"))
	assert.False(t, c.Is("DPoP2"))
	assert.False(t, c.Is("Bearer"))
	assert.Equal(t, "use_dpop_nonce", c.Param("error"))
	assert.Equal(t, "use_dpop_nonce", c.Param("Error"))
	assert.Equal(t, "ES256 PS256", c.Param("ALGS"))
	assert.Empty(t, c.Param("error_description"))
	// Only ASCII case is folded: U+212A KELVIN SIGN is not "k".
	assert.False(t, dpop.Challenge{Scheme: "k"}.Is("\u212a"))
	assert.Empty(t, dpop.Challenge{Params: map[string]string{"k": "v"}}.Param("\u212a"))

	b, ok := dpop.FindChallenge(cs, "bearer")
	require.True(t, ok)
	assert.Equal(t, "invalid_token", b.Param("error"))

	_, ok = dpop.FindChallenge(cs, "Basic")
	assert.False(t, ok)
	_, ok = dpop.FindChallenge(nil, "DPoP")
	assert.False(t, ok)
	assert.Empty(t, dpop.Challenge{}.Param("error"), "nil Params")
}

func TestParseChallengesMalformed(t *testing.T) {
	const secretish = "s3cr3t-marker"
	params := func(n int) string {
		var b strings.Builder
		b.WriteString("DPoP ")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("p")
			b.WriteString(strings.Repeat("x", i))
			b.WriteString("=v")
		}
		return b.String()
	}
	tests := []struct {
		name   string
		values []string
	}{
		{"unterminated quoted-string", []string{`DPoP error="use_dpop_nonce` + secretish}},
		{"backslash at end", []string{`DPoP error="abc\`}},
		{"quoted-string across header fields", []string{`DPoP error="a`, `b"`}},
		{"param without value at end", []string{`DPoP algs="ES256", error=`}},
		{"param without value before comma", []string{`DPoP algs="ES256", error=, x=y`}},
		{"param without value before quote", []string{`DPoP a=b, c= ` + "\x01"}},
		{"missing =", []string{`DPoP algs "ES256"`}},
		{"missing comma between params", []string{`DPoP a=b c=d`}},
		{"text after quoted value", []string{`DPoP a="b"c`}},
		{"no space after scheme", []string{`DPoP"x"`}},
		{"bad character in scheme", []string{`DP@P algs="x"`}},
		{"scheme is quoted", []string{`"DPoP" algs="x"`}},
		{"leading =", []string{`=DPoP`}},
		{"param instead of challenge", []string{`algs="ES256"`}},
		{"param after bare scheme", []string{`DPoP ,algs="ES256"`}},
		{"param after token68", []string{`Basic abc, algs="ES256"`}},
		{"control character in quoted-string", []string{"DPoP error=\"a\x01b\""}},
		{"newline in quoted-string", []string{"DPoP error=\"a\nb\""}},
		{"DEL in quoted-string", []string{"DPoP error=\"a\x7fb\""}},
		{"control character in quoted-pair", []string{"DPoP error=\"a\\\x00b\""}},
		{"bad character between elements", []string{`DPoP a=b; Bearer`}},
		{"non-ascii token", []string{"DPoP a=caf\xc3\xa9"}},
		{"duplicate param", []string{`DPoP error="a", ERROR="b"`}},
		{"oversize value", []string{"DPoP algs=\"" + strings.Repeat("a", 16<<10) + "\""}},
		{"oversize across values", []string{strings.Repeat("a", 8<<10), strings.Repeat("b", 8<<10+1)}},
		{"65 params", []string{params(65)}},
		{"65 params over two challenges", []string{params(40), params(25)}},
		{"65 challenges", []string{strings.Repeat("A, ", 64) + "B"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dpop.ParseChallenges(tc.values...)
			require.Error(t, err)
			assert.ErrorIs(t, err, dpop.ErrMalformedChallenge)
			assert.Nil(t, got)
			msg := err.Error()
			assert.NotContains(t, msg, secretish, "error must not quote the input")
			assert.NotContains(t, msg, "use_dpop_nonce")
			assert.Equal(t, strings.ToLower(msg), msg, "error text is lower-case")
		})
	}

	// The bounds are inclusive.
	_, err := dpop.ParseChallenges(params(64))
	require.NoError(t, err, "64 params")
	_, err = dpop.ParseChallenges(strings.Repeat("A, ", 63) + "B")
	require.NoError(t, err, "64 challenges")
	_, err = dpop.ParseChallenges("DPoP algs=\"" + strings.Repeat("a", 16<<10-len("DPoP algs=\"\"")) + "\"")
	require.NoError(t, err, "exactly 16 KiB")
}

func challengeTestResponse(status int, header http.Header) *http.Response {
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(""))}
}

func TestUseDPoPNonce(t *testing.T) {
	const nonce = "eyJ7S_zG.eyJH0-Z.HX4w-7v" // RFC 9449 §9
	rs := `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name   string
		status int
		header http.Header
		ok     bool
	}{
		{"RFC 9449 §9", 401, hdr("WWW-Authenticate", rs, "DPoP-Nonce", nonce), true},
		{"odd-case scheme", 401, hdr("WWW-Authenticate", `dPoP error="use_dpop_nonce"`, "DPoP-Nonce", nonce), true},
		{"lower-case header names", 401, hdr("www-authenticate", `DPoP error=use_dpop_nonce`, "dpop-nonce", nonce), true},
		{"DPoP challenge after Bearer", 401, hdr("WWW-Authenticate", `Bearer realm="api", DPoP error="use_dpop_nonce", algs="ES256"`, "DPoP-Nonce", nonce), true},
		{"DPoP challenge in second header field", 401, hdr("WWW-Authenticate", `Bearer realm="api"`, "WWW-Authenticate", rs, "DPoP-Nonce", nonce), true},
		{"status 400", 400, hdr("WWW-Authenticate", rs, "DPoP-Nonce", nonce), false},
		{"status 200", 200, hdr("WWW-Authenticate", rs, "DPoP-Nonce", nonce), false},
		{"status 403", 403, hdr("WWW-Authenticate", rs, "DPoP-Nonce", nonce), false},
		{"no nonce header", 401, hdr("WWW-Authenticate", rs), false},
		{"empty nonce", 401, hdr("WWW-Authenticate", rs, "DPoP-Nonce", ""), false},
		{"two nonce headers", 401, hdr("WWW-Authenticate", rs, "DPoP-Nonce", nonce, "DPoP-Nonce", "other"), false},
		{"invalid nonce", 401, hdr("WWW-Authenticate", rs, "DPoP-Nonce", `a"b`), false},
		{"other error", 401, hdr("WWW-Authenticate", `DPoP error="invalid_token"`, "DPoP-Nonce", nonce), false},
		{"error code is case-sensitive", 401, hdr("WWW-Authenticate", `DPoP error="USE_DPOP_NONCE"`, "DPoP-Nonce", nonce), false},
		{"Bearer scheme", 401, hdr("WWW-Authenticate", `Bearer error="use_dpop_nonce"`, "DPoP-Nonce", nonce), false},
		{"no challenge", 401, hdr("DPoP-Nonce", nonce), false},
		{"DPoP without error", 401, hdr("WWW-Authenticate", `DPoP algs="ES256"`, "DPoP-Nonce", nonce), false},
		{"malformed challenge", 401, hdr("WWW-Authenticate", `DPoP error="use_dpop_nonce`, "DPoP-Nonce", nonce), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := dpop.UseDPoPNonce(challengeTestResponse(tc.status, tc.header))
			assert.Equal(t, tc.ok, ok)
			if tc.ok {
				assert.Equal(t, nonce, got)
			} else {
				assert.Empty(t, got)
			}
		})
	}

	got, ok := dpop.UseDPoPNonce(nil)
	assert.False(t, ok)
	assert.Empty(t, got)
}

// FuzzParseChallenges feeds header values (the input split at "\n", since a field value never
// holds one) to ParseChallenges. Properties: it never panics; every error wraps
// ErrMalformedChallenge; a success respects the bounds and yields only valid tokens; the
// canonical re-serialisation of a result parses back to the same result; and parsing the
// values separately equals parsing them joined with commas (RFC 9110 §5.3).
// The seed corpus, including the RFC 9449 vectors, is in testdata/fuzz/FuzzParseChallenges.
func FuzzParseChallenges(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		values := strings.Split(raw, "\n")
		cs, err := dpop.ParseChallenges(values...)
		if err != nil {
			if !errors.Is(err, dpop.ErrMalformedChallenge) {
				t.Fatalf("error does not wrap ErrMalformedChallenge: %v", err)
			}
			if cs != nil {
				t.Fatalf("challenges returned with an error")
			}
			return
		}
		checkParsedChallenges(t, cs)

		canonical := formatChallengesCanonical(cs)
		if len(canonical) <= 16<<10 {
			again, err := dpop.ParseChallenges(canonical)
			if err != nil {
				t.Fatalf("canonical form %q does not parse: %v", canonical, err)
			}
			if !equalParsedChallenges(cs, again) {
				t.Fatalf("round trip changed the challenges:\n%#v\n%#v\ncanonical %q", cs, again, canonical)
			}
			if again := formatChallengesCanonical(again); again != canonical {
				t.Fatalf("canonical form is not stable: %q then %q", canonical, again)
			}
		}

		if joined := strings.Join(values, ","); len(joined) <= 16<<10 {
			one, err := dpop.ParseChallenges(joined)
			if err != nil {
				t.Fatalf("values parse separately but not joined: %v", err)
			}
			if !equalParsedChallenges(cs, one) {
				t.Fatalf("joined values parse differently:\n%#v\n%#v", cs, one)
			}
		}
	})
}

func checkParsedChallenges(t *testing.T, cs []dpop.Challenge) {
	t.Helper()
	if len(cs) > 64 {
		t.Fatalf("%d challenges exceed the bound", len(cs))
	}
	params := 0
	for _, c := range cs {
		if !challengeTestIsToken(c.Scheme) {
			t.Fatalf("scheme %q is not a token", c.Scheme)
		}
		if c.Token68 != "" && c.Params != nil {
			t.Fatalf("challenge has both token68 and params")
		}
		if c.Token68 != "" && !challengeTestIsToken68(c.Token68) {
			t.Fatalf("token68 %q is invalid", c.Token68)
		}
		if c.Params != nil && len(c.Params) == 0 {
			t.Fatalf("empty non-nil Params")
		}
		for name, value := range c.Params {
			if !challengeTestIsToken(name) || name != strings.ToLower(name) {
				t.Fatalf("param name %q is not a lower-case token", name)
			}
			if c.Param(strings.ToUpper(name)) != value {
				t.Fatalf("Param is not case-insensitive for %q", name)
			}
			for i := 0; i < len(value); i++ {
				if b := value[i]; b < 0x20 && b != '\t' || b == 0x7f {
					t.Fatalf("param value %q holds a control character", value)
				}
			}
		}
		params += len(c.Params)
	}
	if params > 64 {
		t.Fatalf("%d params exceed the bound", params)
	}
}

// formatChallengesCanonical writes challenges in a canonical form: single spaces, ", " between list
// elements, params sorted by name, values as tokens when they are tokens and otherwise as
// quoted-strings escaping only '"' and '\'.
func formatChallengesCanonical(cs []dpop.Challenge) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Scheme)
		if c.Token68 != "" {
			b.WriteString(" ")
			b.WriteString(c.Token68)
			continue
		}
		names := make([]string, 0, len(c.Params))
		for name := range c.Params {
			names = append(names, name)
		}
		sort.Strings(names)
		for j, name := range names {
			if j == 0 {
				b.WriteString(" ")
			} else {
				b.WriteString(", ")
			}
			b.WriteString(name)
			b.WriteString("=")
			v := c.Params[name]
			if challengeTestIsToken(v) {
				b.WriteString(v)
				continue
			}
			b.WriteString(`"`)
			for k := 0; k < len(v); k++ {
				if v[k] == '"' || v[k] == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(v[k])
			}
			b.WriteString(`"`)
		}
	}
	return b.String()
}

func equalParsedChallenges(a, b []dpop.Challenge) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Scheme != b[i].Scheme || a[i].Token68 != b[i].Token68 || len(a[i].Params) != len(b[i].Params) ||
			(a[i].Params == nil) != (b[i].Params == nil) {
			return false
		}
		for k, v := range a[i].Params {
			if w, ok := b[i].Params[k]; !ok || w != v {
				return false
			}
		}
	}
	return true
}

func challengeTestIsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func challengeTestIsToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0 {
			continue
		}
		return false
	}
	return true
}
