package jose

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxCompactSize bounds the compact JWS ParseCompact reads. Access tokens, ID tokens and DPoP
// proofs are one or two KiB; anything far larger is refused before it is decoded.
const MaxCompactSize = 16 << 10

// ErrMalformed reports a JWS that is not a canonical compact serialisation (RFC 7515 §7.1)
// with a protected header this package accepts.
var ErrMalformed = errors.New("malformed jws")

// Header holds the protected-header members a verifier acts on. Other members are ignored,
// as RFC 7515 §4 allows, except crit, which refuses the JWS (no extension is understood).
type Header struct {
	Alg string // never empty after ParseCompact; the caller checks it against its allow-list
	Kid string
	Typ string
}

// Compact is a compact JWS split and decoded, not yet verified. Its Payload must not be
// trusted until Verify has returned nil.
type Compact struct {
	Header       Header
	Payload      []byte
	signingInput string
	signature    []byte
}

// ParseCompact splits a compact JWS and decodes its three parts, once: at most
// MaxCompactSize bytes; exactly three dot-separated segments drawn only from the base64url
// alphabet (no padding, no white space, no line breaks, which Go's decoder would otherwise
// skip); canonical base64url (Strict: unused trailing bits must be zero, so every JWS has
// one encoding); and a protected header that is a JSON object with
// no member twice (also as encoding/json folds names), a non-empty string alg, string kid
// and typ when present, and no crit. The alg is not checked against any allow-list here.
// Errors wrap ErrMalformed and quote nothing from the input.
func ParseCompact(token string) (Compact, error) {
	header, payload, signature, err := SplitCompact(token)
	if err != nil {
		return Compact{}, err
	}
	rawHeader, err := DecodeSegment(header)
	if err != nil {
		return Compact{}, fmt.Errorf("%w: its header is not canonical base64url", ErrMalformed)
	}
	rawPayload, err := DecodeSegment(payload)
	if err != nil {
		return Compact{}, fmt.Errorf("%w: its payload is not canonical base64url", ErrMalformed)
	}
	sig, err := DecodeSegment(signature)
	if err != nil {
		return Compact{}, fmt.Errorf("%w: its signature is not canonical base64url", ErrMalformed)
	}
	hdr, err := parseHeader(rawHeader)
	if err != nil {
		return Compact{}, err
	}
	return Compact{Header: hdr, Payload: rawPayload, signingInput: token[:len(header)+1+len(payload)], signature: sig}, nil
}

// SplitCompact checks the shape of a compact JWS without decoding it, for callers that parse
// the header their own way (the DPoP verifier keeps checked proof headers by their encoding):
// at most MaxCompactSize bytes, three dot-separated segments drawn only from the base64url
// alphabet, and a non-empty header. It returns the encoded segments; decode them with
// DecodeSegment. Errors wrap ErrMalformed.
func SplitCompact(token string) (header, payload, signature string, err error) {
	if len(token) > MaxCompactSize {
		return "", "", "", fmt.Errorf("%w: it is larger than %d bytes", ErrMalformed, MaxCompactSize)
	}
	dot1, dot2, dots := -1, -1, 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '.':
			dots++
			if dots == 1 {
				dot1 = i
			} else {
				dot2 = i
			}
		case !isB64URL(c):
			return "", "", "", fmt.Errorf("%w: it holds a character outside base64url", ErrMalformed)
		}
	}
	if dots != 2 {
		return "", "", "", fmt.Errorf("%w: it is not three dot-separated parts", ErrMalformed)
	}
	if dot1 == 0 {
		return "", "", "", fmt.Errorf("%w: its header is empty", ErrMalformed)
	}
	return token[:dot1], token[dot1+1 : dot2], token[dot2+1:], nil
}

// DecodeSegment decodes one segment of a compact JWS: base64url without padding, canonical
// (unused trailing bits must be zero, so a JWS has exactly one encoding).
func DecodeSegment(segment string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(segment)
}

// Verify checks the signature with pub under the header's alg (see the package-level
// Verify): the key must fit the alg; none and HS* never verify, nor does an empty signature
// (the shape of an unsecured JWS, which ParseCompact lets through so that the caller's
// allow-list names the refused alg).
func (c *Compact) Verify(pub crypto.PublicKey) error {
	if c.signingInput == "" {
		return fmt.Errorf("%w: not parsed", ErrMalformed)
	}
	return VerifyString(c.Header.Alg, pub, c.signingInput, c.signature)
}

func isB64URL(c byte) bool { return b64URL[c] }

// b64URL marks the bytes of the base64url alphabet: one load per byte of a token, where five
// range comparisons were measurable over a kilobyte.
var b64URL = func() (t [256]bool) {
	for c := range t {
		t[c] = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	}
	return t
}()

var headerNames = []string{"alg", "kid", "typ", "crit"}

func parseHeader(raw []byte) (Header, error) {
	m, err := DecodeObject(raw, headerNames)
	if err != nil {
		return Header{}, fmt.Errorf("%w: its header: %w", ErrMalformed, err)
	}
	if _, ok := m["crit"]; ok {
		return Header{}, fmt.Errorf("%w: its header has crit, and no extension is supported", ErrMalformed)
	}
	var h Header
	for _, f := range [...]struct {
		name string
		dst  *string
	}{{"alg", &h.Alg}, {"kid", &h.Kid}, {"typ", &h.Typ}} {
		v, ok := m[f.name]
		if !ok {
			continue
		}
		s, present, isString := StringMember(v)
		if !present || !isString {
			return Header{}, fmt.Errorf("%w: its header's %s is not a string", ErrMalformed, f.name)
		}
		*f.dst = s
	}
	if h.Alg == "" {
		return Header{}, fmt.Errorf("%w: its header has no alg", ErrMalformed)
	}
	return h, nil
}

// ErrDuplicateMember reports a JSON object that names a member twice, or names a member the
// caller reads in a different case.
var ErrDuplicateMember = errors.New("json member appears twice")

// DecodeObject decodes data, which must be one JSON object, into its members, refusing an
// object that names a member twice. Two names count as the same when they are equal or when
// encoding/json would fold them together (it matches struct fields case-insensitively), so
// a later typed decode cannot read a different member than a strict parser would. Members
// that fold to one of exact but are not spelt exactly so are refused too: {"AUD": …} is not an
// aud claim. Errors quote at most a member's name, shortened.
func DecodeObject(data []byte, exact []string) (map[string]json.RawMessage, error) {
	// One validating scan, then one split of the top level; values alias data. This is
	// several times cheaper than json.Unmarshal into a map, which copies every value.
	if !json.Valid(data) {
		return nil, errors.New("not a json object")
	}
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return nil, errors.New("not a json object")
	}
	m := make(map[string]json.RawMessage, countMembers(data))
	// Two plain names (lower-case ASCII letters, digits and punctuation: nearly every claim)
	// fold together only when they are equal, which the map finds; so only the other names
	// (upper case, non-ASCII, which may fold to a plain one: "AUD", "ſub") are compared by
	// folding, against every name and every exact one. That keeps the common object linear.
	plainExact := true
	for _, want := range exact {
		plainExact = plainExact && foldFree(want)
	}
	var odd []string
	for i = skipSpace(data, i+1); data[i] != '}'; {
		end := skipValue(data, i) // data[i] is the '"' of a member name
		name, err := memberName(data[i:end])
		if err != nil {
			return nil, errors.New("not a json object")
		}
		i = skipSpace(data, end)
		i = skipSpace(data, i+1) // past ':'
		end = skipValue(data, i)
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("%w: %.40q and %.40q", ErrDuplicateMember, name, name)
		}
		if plain := foldFree(name); !plain || !plainExact {
			for _, want := range exact {
				if name != want && foldEqual(name, want) {
					return nil, fmt.Errorf("%w: %.40q is not spelt %q", ErrDuplicateMember, name, want)
				}
			}
			if !plain {
				for seen := range m {
					if foldEqual(name, seen) {
						return nil, fmt.Errorf("%w: %.40q and %.40q", ErrDuplicateMember, seen, name)
					}
				}
				odd = append(odd, name)
			}
		}
		for _, o := range odd {
			if o != name && foldEqual(name, o) {
				return nil, fmt.Errorf("%w: %.40q and %.40q", ErrDuplicateMember, o, name)
			}
		}
		m[name] = json.RawMessage(data[i:end:end])
		i = skipSpace(data, end)
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return m, nil
}

// memberName decodes a member name (a JSON string literal, already validated). Names in plain
// ASCII without escapes, nearly all of them, are taken as they are; others go through
// encoding/json, so invalid UTF-8 becomes U+FFFD exactly as it would there.
func memberName(lit []byte) (string, error) {
	plain := true
	for _, c := range lit[1 : len(lit)-1] {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(lit[1 : len(lit)-1]), nil
	}
	var name string
	err := json.Unmarshal(lit, &name)
	return name, err
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value that starts at data[i], in JSON already
// validated: a string, an object or array (strings inside skipped), or a literal.
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		for i++; data[i] != '"'; i++ {
			if data[i] == '\\' {
				i++
			}
		}
		return i + 1
	case '{', '[':
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				i = skipValue(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(data) && data[i] != ',' && data[i] != '}' && data[i] != ']' && data[i] != ' ' &&
		data[i] != '\t' && data[i] != '\n' && data[i] != '\r' {
		i++
	}
	return i
}

// foldEqual reports whether encoding/json would match a and b to one struct field: equal
// after folding ASCII letters to upper case and other runes to upper(lower(r)). Names decoded
// by encoding/json are valid UTF-8, and UTF-8 is prefix-free, so comparing rune by rune is
// comparing the folded strings.
func foldEqual(a, b string) bool {
	for a != "" && b != "" {
		var ra, rb rune
		if a[0] < utf8.RuneSelf {
			ra, a = foldASCII(a[0]), a[1:]
		} else {
			r, n := utf8.DecodeRuneInString(a)
			ra, a = unicode.ToUpper(unicode.ToLower(r)), a[n:]
		}
		if b[0] < utf8.RuneSelf {
			rb, b = foldASCII(b[0]), b[1:]
		} else {
			r, n := utf8.DecodeRuneInString(b)
			rb, b = unicode.ToUpper(unicode.ToLower(r)), b[n:]
		}
		if ra != rb {
			return false
		}
	}
	return a == "" && b == ""
}

// foldFree reports whether name has no byte that case folding changes or that may be part of
// a character folding to ASCII: no upper-case letter and nothing outside ASCII.
func foldFree(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

func foldASCII(c byte) rune {
	if 'a' <= c && c <= 'z' {
		c -= 'a' - 'A'
	}
	return rune(c)
}

// countMembers counts the top-level member names of data, a JSON object that
// encoding/json has already accepted (so the scan need not validate).
func countMembers(data []byte) int {
	depth, n := 0, 0
	expectName := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '"':
			if depth == 1 && expectName {
				n++
				expectName = false
			}
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			expectName = depth == 1 && c == '{'
		case '}', ']':
			depth--
		case ',':
			expectName = depth == 1
		}
	}
	return n
}
