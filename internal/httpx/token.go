package httpx

import (
	"net/http"
	"net/netip"
	"net/url"
)

// TokenURLAllowed reports whether an access token may be sent to u: over https, or over plain
// http to a loopback address, where it does not cross the network. It is the one rule of the
// SDK's HTTP clients (DPoP and Bearer) and allocates nothing, since it runs on every request.
// Names compare in ASCII case only: Unicode folding would take "localhoſt" for localhost.
func TokenURLAllowed(u *url.URL) bool {
	switch {
	case asciiEqualFold(u.Scheme, "https"):
		return true
	case !asciiEqualFold(u.Scheme, "http"):
		return false
	}
	host := u.Hostname()
	if asciiEqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// CloseRequestBody closes the body of a request that will not be sent, as the
// http.RoundTripper contract requires.
func CloseRequestBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
