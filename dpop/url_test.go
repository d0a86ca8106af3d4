package dpop_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/helseid-go/sdk/dpop"
)

func TestHTUAndOrigin(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		htu    string
		origin string
	}{
		{"RFC 9449 token endpoint", "https://server.example.com/token", "https://server.example.com/token", "https://server.example.com"},
		{"RFC 9449 resource", "https://resource.example.org/protectedresource", "https://resource.example.org/protectedresource", "https://resource.example.org"},
		{"HelseID token endpoint", "https://helseid-sts.test.nhn.no/connect/token", "https://helseid-sts.test.nhn.no/connect/token", "https://helseid-sts.test.nhn.no"},
		{"query and fragment stripped", "https://api.example.com/r?a=1&b=2#frag", "https://api.example.com/r", "https://api.example.com"},
		{"empty query marker stripped", "https://api.example.com/r?", "https://api.example.com/r", "https://api.example.com"},
		{"empty path", "https://api.example.com", "https://api.example.com/", "https://api.example.com"},
		{"empty path with query", "https://api.example.com?x=1", "https://api.example.com/", "https://api.example.com"},
		{"upper-case scheme and host", "HTTPS://API.Example.COM/Path/To", "https://api.example.com/Path/To", "https://api.example.com"},
		{"explicit https default port", "https://api.example.com:443/x", "https://api.example.com/x", "https://api.example.com"},
		{"explicit http default port", "http://localhost:80/x", "http://localhost/x", "http://localhost"},
		{"empty port", "https://api.example.com:/x", "https://api.example.com/x", "https://api.example.com"},
		{"443 kept for http", "http://api.example.com:443/x", "http://api.example.com:443/x", "http://api.example.com:443"},
		{"80 kept for https", "https://api.example.com:80/x", "https://api.example.com:80/x", "https://api.example.com:80"},
		{"non-default port", "https://api.example.com:8443/x", "https://api.example.com:8443/x", "https://api.example.com:8443"},
		{"user info dropped", "https://user:pass@api.example.com/x", "https://api.example.com/x", "https://api.example.com"},
		{"IPv4", "http://127.0.0.1:8080/cb", "http://127.0.0.1:8080/cb", "http://127.0.0.1:8080"},
		{"IPv6 loopback", "http://[::1]:8080/x", "http://[::1]:8080/x", "http://[::1]:8080"},
		{"IPv6 default port", "https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x", "https://[2001:db8::1]"},
		{"IPv6 no port", "https://[2001:db8::1]/x", "https://[2001:db8::1]/x", "https://[2001:db8::1]"},
		{"IPv6 zone", "http://[fe80::1%25en0]:8080/x", "http://[fe80::1%25en0]:8080/x", "http://[fe80::1%25en0]:8080"},
		{"escaped path kept", "https://api.example.com/a%20b/%E2%82%AC", "https://api.example.com/a%20b/%E2%82%AC", "https://api.example.com"},
		{"encoded slash kept (RawPath)", "https://api.example.com/a%2Fb/c", "https://api.example.com/a%2Fb/c", "https://api.example.com"},
		{"lower-case escape kept (RawPath)", "https://api.example.com/a%2fb", "https://api.example.com/a%2fb", "https://api.example.com"},
		{"path case kept", "https://api.example.com/Patient/ABC", "https://api.example.com/Patient/ABC", "https://api.example.com"},
		{"dot segments kept", "https://api.example.com/a/../b/./c", "https://api.example.com/a/../b/./c", "https://api.example.com"},
		{"trailing slash kept", "https://api.example.com/a/", "https://api.example.com/a/", "https://api.example.com"},
		{"double slash kept", "https://api.example.com//a", "https://api.example.com//a", "https://api.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.in)
			require.NoError(t, err)
			before := *u
			assert.Equal(t, tc.htu, dpop.HTU(u))
			assert.Equal(t, tc.origin, dpop.Origin(u))
			assert.Equal(t, before, *u, "the caller's URL must not change")
		})
	}
}

func TestHTUConstructedURLs(t *testing.T) {
	tests := []struct {
		name string
		u    *url.URL
		want string
	}{
		{"Path with space, no RawPath", &url.URL{Scheme: "https", Host: "a.example", Path: "/a b"}, "https://a.example/a%20b"},
		{"RawPath used when it encodes Path", &url.URL{Scheme: "https", Host: "a.example", Path: "/a/b", RawPath: "/a%2Fb"}, "https://a.example/a%2Fb"},
		{"RawPath ignored when it does not encode Path", &url.URL{Scheme: "https", Host: "a.example", Path: "/x", RawPath: "/y"}, "https://a.example/x"},
		{"Opaque with authority", &url.URL{Scheme: "https", Host: "a.example", Opaque: "//a.example/v1/a%2Fb"}, "https://a.example/v1/a%2Fb"},
		{"Opaque authority only", &url.URL{Scheme: "https", Host: "a.example", Opaque: "//a.example"}, "https://a.example/"},
		{"RawQuery and Fragment dropped", &url.URL{Scheme: "https", Host: "a.example", Path: "/p", RawQuery: "q=1", Fragment: "f"}, "https://a.example/p"},
		{"non-ASCII host escaped as net/url does", &url.URL{Scheme: "https", Host: "æøå.example", Path: "/"}, "https://%C3%A6%C3%B8%C3%A5.example/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, dpop.HTU(tc.u))
		})
	}
}

func BenchmarkHTU(b *testing.B) {
	u, err := url.Parse("https://helseid-sts.test.nhn.no/connect/token?x=1")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		_ = dpop.HTU(u)
	}
}

func BenchmarkOrigin(b *testing.B) {
	u, err := url.Parse("https://api.example.com/fhir/Patient/123")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		_ = dpop.Origin(u)
	}
}
