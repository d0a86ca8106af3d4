package httpx

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ErrInsecureURL reports an endpoint that is neither HTTPS nor plain HTTP to a loopback address.
var ErrInsecureURL = errors.New("url must use https (plain http is allowed only to loopback addresses)")

// IsLoopbackHost reports whether host (without port) names the local machine: "localhost" or
// a loopback IP address.
func IsLoopbackHost(host string) bool {
	// Only "localhost" itself: names under .localhost are not pinned to loopback by Go's
	// resolver, which may ask DNS for them.
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// CheckEndpoint parses raw as an absolute URL and requires https, or http to a loopback host.
// It refuses user information, fragments and empty hosts. what names the URL in errors.
func CheckEndpoint(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid url: %w", what, err)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%s: url %q must be absolute with a host", what, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: url must not contain user information", what)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, fmt.Errorf("%s: url %q must not contain a fragment", what, raw)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%s: %q: %w", what, raw, ErrInsecureURL)
}

// ValidDPoPNonce reports whether s has the syntax of a DPoP nonce (RFC 9449 §8.1):
// nonce = 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E, and at most 1024 characters.
func ValidDPoPNonce(s string) bool {
	if len(s) == 0 || len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7E {
			return false
		}
	}
	return true
}
