package dpop

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An htu already in the request URL's normal form is matched without parsing it (one
// allocation, the normal form itself), and that shortcut accepts nothing the full comparison
// refuses: no URL without a host, no scheme but http and https.
func TestHTUMatchesNormalForm(t *testing.T) {
	v, err := NewVerifier(VerifierConfig{})
	require.NoError(t, err)
	u := &url.URL{Scheme: "https", Host: "API.example.no:443", Path: "/journal/a b"}
	assert.True(t, v.htuMatches("https://api.example.no/journal/a%20b", u))
	assert.True(t, v.htuMatches("HTTPS://api.example.no:443/journal/a%20b", u), "the full comparison still normalises")
	plain := &url.URL{Scheme: "https", Host: "api.example.no", Path: "/journal/patients"}
	assert.LessOrEqual(t, testing.AllocsPerRun(50, func() { v.htuMatches("https://api.example.no/journal/patients", plain) }), 1.0)
	for name, tc := range map[string]struct {
		htu string
		u   *url.URL
	}{
		"no host":                   {"http:///x", &url.URL{Scheme: "http", Path: "/x"}},
		"ftp":                       {"ftp://a.example/x", &url.URL{Scheme: "ftp", Host: "a.example", Path: "/x"}},
		"no scheme":                 {"://a.example/x", &url.URL{Host: "a.example", Path: "/x"}},
		"another path":              {"https://a.example/y", &url.URL{Scheme: "https", Host: "a.example", Path: "/x"}},
		"a query too":               {"https://a.example/x?", &url.URL{Scheme: "https", Host: "a.example", Path: "/x"}},
		"empty":                     {"", &url.URL{Scheme: "https", Host: "a.example", Path: "/x"}},
		"a user":                    {"https://u@a.example/x", &url.URL{Scheme: "https", Host: "a.example", Path: "/x"}},
		"scheme-relative":           {"//a.example/x", &url.URL{Scheme: "https", Host: "a.example", Path: "/x"}},
		"a user in the Host header": {"http://user@a.example/x", &url.URL{Scheme: "http", Host: "user@a.example", Path: "/x"}},
	} {
		assert.False(t, v.htuMatches(tc.htu, tc.u), name)
	}
}
