package dpop

import (
	"net/url"
	"strings"
)

// HTU returns the htu claim for a request to u (RFC 9449 §4.2): the URL without query and
// fragment. Scheme and host are lower-cased, the default port (80 for http, 443 for https) and
// an empty port are removed, and user information is dropped; the path is kept exactly as it
// is escaped on the wire (u.EscapedPath, so a RawPath such as "/a%2Fb" is preserved), and an
// empty path becomes "/". No other normalisation is done: servers compare htu with the URL
// they received, so the path must be the one the request carries.
//
// A request URL whose Opaque holds "//host/path" (net/http's way to send a path verbatim)
// contributes that path. u must be an absolute URL; HTU does not modify it.
func HTU(u *url.URL) string {
	path := u.EscapedPath()
	if u.Opaque != "" {
		path = opaquePath(u.Opaque)
	}
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	writeOrigin(&b, u, len(path))
	b.WriteString(path)
	return b.String()
}

// Origin returns u's origin, scheme://host[:port], normalised as in HTU. It is the key under
// which a NonceStore keeps a server's nonce. u must be an absolute URL.
func Origin(u *url.URL) string {
	var b strings.Builder
	writeOrigin(&b, u, 0)
	return b.String()
}

// writeOrigin writes u's normalised origin to b, growing b once for it and extra more bytes.
func writeOrigin(b *strings.Builder, u *url.URL, extra int) {
	scheme := asciiLower(u.Scheme)
	host := asciiLower(u.Hostname())
	port := u.Port()
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	ipv6 := strings.IndexByte(host, ':') >= 0
	if !plainHost(host) {
		// Escape the host as net/url does: an IPv6 zone's "%" becomes "%25", and so on.
		host = (&url.URL{Host: host}).String()[len("//"):]
	}
	b.Grow(len(scheme) + len("://[]:") + len(host) + len(port) + extra)
	b.WriteString(scheme)
	b.WriteString("://")
	if ipv6 {
		b.WriteByte('[')
		b.WriteString(host)
		b.WriteByte(']')
	} else {
		b.WriteString(host)
	}
	if port != "" {
		b.WriteByte(':')
		b.WriteString(port)
	}
}

// plainHost reports whether host needs no escaping: letters, digits, ".", "-", "_", "~" and
// the ":" of an IPv6 literal.
func plainHost(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == '_' || c == '~' || c == ':') {
			return false
		}
	}
	return true
}

// opaquePath returns the path of an opaque URL: for "//host/path" the part from the first "/"
// after the host, otherwise the opaque data itself; either without any "?" or "#" part.
func opaquePath(opaque string) string {
	if rest, ok := strings.CutPrefix(opaque, "//"); ok {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return ""
		}
		opaque = rest[i:]
	}
	if i := strings.IndexAny(opaque, "?#"); i >= 0 {
		opaque = opaque[:i]
	}
	return opaque
}
