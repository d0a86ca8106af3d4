package dpop

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/helseid-go/sdk/internal/httpx"
)

// Bounds on what ParseChallenges accepts. Real servers send one to three short challenges;
// the bounds keep a hostile server from making the client spend memory or time on the header.
const (
	maxChallengeBytes  = 16 << 10 // total length of all header values
	maxChallengeParams = 64       // auth-params, counted over all challenges
	maxChallenges      = 64
)

// ErrMalformedChallenge reports a WWW-Authenticate header that does not follow the RFC 9110
// §11.6.1 grammar or exceeds the parser's bounds.
var ErrMalformedChallenge = errors.New("malformed www-authenticate challenge")

// Challenge is one authentication challenge from a WWW-Authenticate header (RFC 9110 §11.6.1).
// It carries either auth-params or a token68, never both.
type Challenge struct {
	// Scheme is the auth-scheme as the server sent it. Schemes are case-insensitive: compare
	// them with Is or FindChallenge, not with ==.
	Scheme string
	// Params maps auth-param names, lower-cased, to their values, with quoted-strings
	// unquoted and unescaped. It is nil when the challenge has no auth-params.
	Params map[string]string
	// Token68 is the token68 form of the challenge, as sent, when the challenge uses it.
	Token68 string
}

// Param returns the value of the auth-param name (matched case-insensitively), or "" when the
// challenge does not have it.
func (c Challenge) Param(name string) string {
	if v, ok := c.Params[name]; ok {
		return v
	}
	return c.Params[asciiLower(name)]
}

// Is reports whether the challenge's scheme is scheme, ignoring ASCII case.
func (c Challenge) Is(scheme string) bool { return httpx.ASCIIEqualFold(c.Scheme, scheme) }

// FindChallenge returns the first challenge in cs whose scheme is scheme (ignoring ASCII
// case), and whether there is one.
func FindChallenge(cs []Challenge, scheme string) (Challenge, bool) {
	for _, c := range cs {
		if c.Is(scheme) {
			return c, true
		}
	}
	return Challenge{}, false
}

// UseDPoPNonce reports whether resp is a resource server's request for a DPoP nonce (RFC 9449
// §9): status 401, a WWW-Authenticate header with a DPoP challenge (scheme matched
// case-insensitively) whose error is "use_dpop_nonce", and exactly one syntactically valid
// DPoP-Nonce header, whose value it returns. The caller retries the request once with a fresh
// proof carrying the nonce.
//
// An authorization server asks for a nonce differently, with a 400 response and a JSON error
// body; that case is not handled here. A malformed WWW-Authenticate header yields false.
func UseDPoPNonce(resp *http.Response) (nonce string, ok bool) {
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		return "", false
	}
	nonce, ok = responseNonce(resp.Header)
	if !ok {
		return "", false
	}
	cs, err := ParseChallenges(resp.Header.Values("Www-Authenticate")...)
	if err != nil {
		return "", false
	}
	for _, c := range cs {
		if c.Is("DPoP") && c.Param("error") == "use_dpop_nonce" {
			return nonce, true
		}
	}
	return "", false
}

// ParseChallenges parses the values of one or more WWW-Authenticate header fields (RFC 9110
// §11.6.1) into challenges, in order. Each value may hold several comma-separated challenges;
// several values are the same as one value joined with commas. It accepts optional whitespace,
// empty list elements, quoted-strings with backslash escapes and token68, and tells a comma
// that starts a new challenge from one that separates auth-params by what follows it: a token
// followed by "=" is an auth-param, any other token a new auth-scheme. As the grammar says,
// what follows a scheme is a token68 when it can be one: `Basic dXNlcg==`, but also `DPoP a=`.
//
// An empty input gives no challenges and no error. Input over 16 KiB in total, with more than
// 64 challenges or more than 64 auth-params, with an auth-param repeated within a challenge,
// or not following the grammar is refused with an error wrapping ErrMalformedChallenge. The
// error says where parsing stopped but does not quote the input.
func ParseChallenges(headerValues ...string) ([]Challenge, error) {
	total := 0
	for _, v := range headerValues {
		total += len(v)
		if total > maxChallengeBytes {
			return nil, fmt.Errorf("%w: header longer than %d bytes", ErrMalformedChallenge, maxChallengeBytes)
		}
	}
	var p challengeParser
	for i, v := range headerValues {
		p.s, p.pos, p.value = v, 0, i
		if err := p.parseValue(); err != nil {
			return nil, err
		}
	}
	return p.out, nil
}

// challengeParser holds the state of ParseChallenges: the header value being read, the
// position in it, and the challenges and auth-params found so far across all values.
type challengeParser struct {
	s      string
	pos    int
	value  int // index of s among the header values, for error messages
	out    []Challenge
	params int
}

func (p *challengeParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s (header value %d, offset %d)",
		ErrMalformedChallenge, fmt.Sprintf(format, args...), p.value, p.pos)
}

func (p *challengeParser) eof() bool { return p.pos >= len(p.s) }

// skipOWS skips optional whitespace (SP / HTAB) and returns how much it skipped.
func (p *challengeParser) skipOWS() int {
	start := p.pos
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
	return p.pos - start
}

// skipEmptyElements skips whitespace and the commas of empty list elements.
func (p *challengeParser) skipEmptyElements() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == ',') {
		p.pos++
	}
}

// token reads a token (1*tchar), returning "" when there is none at the current position.
func (p *challengeParser) token() string {
	start := p.pos
	for p.pos < len(p.s) && isChallengeTchar(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos]
}

// parseValue parses one header value: #challenge.
func (p *challengeParser) parseValue() error {
	for {
		p.skipEmptyElements()
		if p.eof() {
			return nil
		}
		if err := p.parseChallenge(); err != nil {
			return err
		}
	}
}

// parseChallenge parses auth-scheme [ 1*SP ( token68 / #auth-param ) ] and leaves the
// position at the end of the value or at the comma (or the start of the scheme) that
// begins the next challenge.
func (p *challengeParser) parseChallenge() error {
	if len(p.out) == maxChallenges {
		return p.errorf("more than %d challenges", maxChallenges)
	}
	scheme := p.token()
	if scheme == "" {
		return p.errorf("expected an auth-scheme")
	}
	c := Challenge{Scheme: scheme}
	ws := p.skipOWS()
	if p.eof() || p.s[p.pos] == ',' {
		p.out = append(p.out, c)
		return nil
	}
	if ws == 0 {
		return p.errorf("expected a space after the auth-scheme")
	}
	if t68, ok := p.token68(); ok {
		c.Token68 = t68
		p.out = append(p.out, c)
		return nil
	}
	for {
		if err := p.parseParam(&c); err != nil {
			return err
		}
		p.skipOWS()
		if p.eof() {
			break
		}
		if p.s[p.pos] != ',' {
			return p.errorf("expected a comma after an auth-param")
		}
		p.skipEmptyElements()
		if p.eof() || !p.atParam() {
			break // the end, or the next challenge's auth-scheme
		}
	}
	p.out = append(p.out, c)
	return nil
}

// token68 reads a token68 when the rest of the challenge is exactly one:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", then OWS, then the end of the
// value or a comma. Otherwise it reads nothing and returns false.
func (p *challengeParser) token68() (string, bool) {
	i := p.pos
	for i < len(p.s) && isToken68Char(p.s[i]) {
		i++
	}
	if i == p.pos {
		return "", false
	}
	for i < len(p.s) && p.s[i] == '=' {
		i++
	}
	end := i
	for i < len(p.s) && (p.s[i] == ' ' || p.s[i] == '\t') {
		i++
	}
	if i < len(p.s) && p.s[i] != ',' {
		return "", false
	}
	t68 := p.s[p.pos:end]
	p.pos = end
	return t68, true
}

// atParam reports whether an auth-param (token BWS "=") starts at the current position,
// without moving.
func (p *challengeParser) atParam() bool {
	i := p.pos
	for i < len(p.s) && isChallengeTchar(p.s[i]) {
		i++
	}
	if i == p.pos {
		return false
	}
	for i < len(p.s) && (p.s[i] == ' ' || p.s[i] == '\t') {
		i++
	}
	return i < len(p.s) && p.s[i] == '='
}

// parseParam parses auth-param = token BWS "=" BWS ( token / quoted-string ) into c.
func (p *challengeParser) parseParam(c *Challenge) error {
	name := p.token()
	if name == "" {
		return p.errorf("expected an auth-param")
	}
	p.skipOWS()
	if p.eof() || p.s[p.pos] != '=' {
		return p.errorf("expected \"=\" after an auth-param name")
	}
	p.pos++
	p.skipOWS()
	var value string
	if !p.eof() && p.s[p.pos] == '"' {
		v, err := p.quotedString()
		if err != nil {
			return err
		}
		value = v
	} else if value = p.token(); value == "" {
		return p.errorf("auth-param has no value")
	}
	if p.params == maxChallengeParams {
		return p.errorf("more than %d auth-params", maxChallengeParams)
	}
	p.params++
	name = asciiLower(name)
	if _, dup := c.Params[name]; dup {
		return p.errorf("auth-param repeated in one challenge")
	}
	if c.Params == nil {
		c.Params = make(map[string]string, 4)
	}
	c.Params[name] = value
	return nil
}

// quotedString parses DQUOTE *( qdtext / quoted-pair ) DQUOTE and returns the unescaped
// content. Control characters other than HTAB are refused.
func (p *challengeParser) quotedString() (string, error) {
	p.pos++ // opening DQUOTE
	start := p.pos
	var buf []byte // used only once an escape is seen
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			var v string
			if buf != nil {
				v = string(buf)
			} else {
				v = p.s[start:p.pos]
			}
			p.pos++
			return v, nil
		case c == '\\':
			if buf == nil {
				buf = append(make([]byte, 0, len(p.s)-start), p.s[start:p.pos]...)
			}
			p.pos++
			if p.eof() {
				return "", p.errorf("unterminated quoted-string")
			}
			if e := p.s[p.pos]; !isQuotedPairChar(e) {
				return "", p.errorf("invalid character in quoted-pair")
			}
			buf = append(buf, p.s[p.pos])
			p.pos++
		case isQdtext(c):
			if buf != nil {
				buf = append(buf, c)
			}
			p.pos++
		default:
			return "", p.errorf("invalid character in quoted-string")
		}
	}
	return "", p.errorf("unterminated quoted-string")
}

// isChallengeTchar reports whether c is an RFC 9110 tchar.
func isChallengeTchar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isToken68Char reports whether c may appear in a token68 before its "=" padding.
func isToken68Char(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// isQdtext reports whether c is qdtext: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
func isQdtext(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || 0x23 <= c && c <= 0x5B || 0x5D <= c && c != 0x7F
}

// isQuotedPairChar reports whether c may follow a backslash: HTAB / SP / VCHAR / obs-text.
func isQuotedPairChar(c byte) bool {
	return c == '\t' || 0x20 <= c && c != 0x7F
}

// asciiLower lower-cases ASCII letters only, so that no Unicode case folding (such as the
// Kelvin sign folding to "k") can make two different names equal. It does not allocate when
// s has no upper-case letter.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
