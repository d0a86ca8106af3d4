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

// IsLoopbackHost reports whether host (without port) names the local machine: "localhost",
// a name under ".localhost", or a loopback IP address.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
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
