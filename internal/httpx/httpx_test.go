package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckEndpoint(t *testing.T) {
	ok := []string{"https://helseid-sts.nhn.no", "https://as.example/connect/token?x=1", "http://127.0.0.1:8080/t", "http://localhost/x", "http://[::1]:99/"}
	for _, raw := range ok {
		_, err := CheckEndpoint("t", raw)
		assert.NoError(t, err, raw)
	}
	bad := map[string]string{
		"http://helseid-sts.nhn.no":      "https",
		"http://127.0.0.1.example.com/":  "https",
		"http://localhost.evil.example/": "https",
		"http://api.localhost/":          "https",
		"ftp://as.example/":              "https",
		"/relative":                      "absolute",
		"https://user:pw@as.example/":    "user information",
		"https://as.example/#frag":       "fragment",
		"https://as.example/#":           "fragment",
		"::":                             "invalid url",
	}
	for raw, msg := range bad {
		_, err := CheckEndpoint("t", raw)
		require.Error(t, err, raw)
		assert.Contains(t, err.Error(), msg, raw)
		assert.NotContains(t, err.Error(), "pw@", "user information is never echoed")
	}
}

func TestGetDocument(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/doc", func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "application/json", r.Header.Get("Accept"))
		_, _ = w.Write([]byte(`{"a":1}`))
	})
	mux.HandleFunc("/forced", func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "no-cache", r.Header.Get("Cache-Control"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(strings.Repeat("x", 100))) })
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusGone) })
	mux.HandleFunc("/redirect-insecure", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://as.example/doc", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	client := NewClient()

	body, err := GetDocument(ctx, client, srv.URL+"/doc", "application/json", false, 0)
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, string(body))

	_, err = GetDocument(ctx, client, srv.URL+"/forced", "application/json", true, 0)
	require.NoError(t, err)

	_, err = GetDocument(ctx, client, srv.URL+"/big", "application/json", false, 10)
	assert.ErrorIs(t, err, ErrBodyTooLarge)

	_, err = GetDocument(ctx, client, srv.URL+"/gone", "application/json", false, 0)
	var fe *FetchError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, http.StatusGone, fe.StatusCode)

	_, err = GetDocument(ctx, client, srv.URL+"/redirect-insecure", "application/json", false, 0)
	assert.ErrorIs(t, err, ErrInsecureURL, "the default client follows redirects only to https or loopback")

	_, err = GetDocument(ctx, client, srv.URL+"/loop", "application/json", false, 0)
	assert.ErrorContains(t, err, "too many redirects")
}

func TestRedirectPolicies(t *testing.T) {
	var plainHits int
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainHits++ }))
	t.Cleanup(plain.Close)
	// A TLS server redirecting to a plain-http, non-loopback-looking URL on the same machine:
	// "localhost.example" would not resolve, so redirect to a public-looking name and check
	// that the policy refuses before any request.
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://as.example/doc", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(tlsSrv.Close)

	caller := tlsSrv.Client() // a caller's client with no redirect policy of its own
	_, err := GetDocument(context.Background(), SecureRedirects(caller), tlsSrv.URL, "application/json", false, 0)
	assert.ErrorIs(t, err, ErrInsecureURL)

	resp, err := NoRedirects(caller).Get(tlsSrv.URL)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode, "NoRedirects returns the 3xx itself")
	assert.Zero(t, plainHits)
	assert.Nil(t, caller.CheckRedirect, "the caller's client is not modified")
}

func TestValidDPoPNonce(t *testing.T) {
	assert.True(t, ValidDPoPNonce("eyJ7S_zG.eyJH0-Z.HX4w-7v"))
	for _, bad := range []string{"", "a b", `a"b`, `a\b`, "æ", strings.Repeat("a", 1025)} {
		assert.False(t, ValidDPoPNonce(bad), bad)
	}
}
