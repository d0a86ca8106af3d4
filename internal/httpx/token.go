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
	case ASCIIEqualFold(u.Scheme, "https"):
		return true
	case !ASCIIEqualFold(u.Scheme, "http"):
		return false
	}
	host := u.Hostname()
	if ASCIIEqualFold(host, "localhost") {
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

// ASCIIEqualFold reports whether a and b are equal with ASCII letters compared case-insensitively
// (HTTP header names, URL schemes, host names), without strings.EqualFold's Unicode folding.
func ASCIIEqualFold(a, b string) bool {
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

// CredentialHeader returns the first header of h named one of names (ASCII case ignored, so
// also keys set directly in a form other than the canonical one), or "".
func CredentialHeader(h http.Header, names ...string) string {
	for key := range h {
		for _, name := range names {
			if ASCIIEqualFold(key, name) {
				return key
			}
		}
	}
	return ""
}

// maxRedirectDepth bounds the walk back through Response.Request to the original request;
// net/http's Client stops at 10 redirects.
const maxRedirectDepth = 64

// SameOriginAsFirst reports whether req, a request of a redirect chain, goes to the origin
// (as origin normalises it) of the chain's first request: a token is sent only there.
func SameOriginAsFirst(req *http.Request, origin func(*url.URL) string) bool {
	first := req
	for i := 0; first.Response != nil; i++ {
		if first.Response.Request == nil || i == maxRedirectDepth {
			return false
		}
		first = first.Response.Request
	}
	if first.URL == nil || first.URL.Host == "" || req.URL.Host == "" {
		return false
	}
	return origin(first.URL) == origin(req.URL)
}
