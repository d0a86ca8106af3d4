package helseidtest

import (
	"net/url"
	"slices"
	"strings"
)

// validScopeToken reports whether s is an RFC 6749 §3.3 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// isIdentityScope reports whether s asks for claims about a user (or the client's own
// information), which client_credentials cannot grant: HelseID answers invalid_scope.
func isIdentityScope(s string) bool {
	switch s {
	case "openid", "profile", "email", "address", "phone", "offline_access":
		return true
	}
	return strings.HasPrefix(s, "helseid://scopes/")
}

// apiOf returns the API (audience) of a scope: the part before the first '/', e.g.
// "nhn:helseidtest-api/read" → "nhn:helseidtest-api" and "nhn:phr/mhd/read-document" →
// "nhn:phr" (HelseID's scopes are "<audience>/<name>", and a name may itself contain '/';
// audiences never do). "" if the scope names no API.
func apiOf(scope string) string {
	i := strings.IndexByte(scope, '/')
	if i <= 0 || i == len(scope)-1 {
		return ""
	}
	return scope[:i]
}

// checkScopes validates the scope and resource parameters of a client_credentials request:
// scope required, well-formed (single spaces, no duplicates), no identity scopes, every scope
// registered for the client, all of ONE API; resource, if sent, must be that API
// (RFC 8707, HelseID style: an audience name, not a URL). It returns the scopes in request
// order and the API, which becomes the token's aud.
func checkScopes(c *registeredClient, form url.Values) ([]string, string, *oauthError) {
	raw, ok := form["scope"]
	if !ok || raw[0] == "" {
		return nil, "", newError(errInvalidRequest, "scope is required")
	}
	scopes := strings.Split(raw[0], " ")
	seen := make(map[string]bool, len(scopes))
	for _, sc := range scopes {
		if !validScopeToken(sc) {
			return nil, "", newError(errInvalidScope, "scope is malformed (scope tokens separated by single spaces)")
		}
		if seen[sc] {
			return nil, "", newError(errInvalidScope, "scope "+sc+" is repeated")
		}
		seen[sc] = true
	}
	for _, sc := range scopes {
		if isIdentityScope(sc) {
			return nil, "", newError(errInvalidScope, "identity scope "+sc+" cannot be used with client_credentials")
		}
	}
	for _, sc := range scopes {
		if !slices.Contains(c.reg.Scopes, sc) {
			return nil, "", newError(errInvalidScope, "scope "+sc+" is not allowed for the client")
		}
	}
	api := apiOf(scopes[0])
	for _, sc := range scopes[1:] {
		if a := apiOf(sc); a != api {
			return nil, "", newError(errInvalidScope, "scopes of several APIs ("+api+", "+a+"); request one API per token")
		}
	}
	if res, ok := form["resource"]; ok && res[0] != api {
		return nil, "", newError(errInvalidTarget, "resource must be the API of the requested scopes, "+api)
	}
	return scopes, api, nil
}
