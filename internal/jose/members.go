package jose

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// ErrNotObject reports input that is not one JSON object.
var ErrNotObject = errors.New("not a json object")

// EachMember calls fn with the name and the raw value of each top-level member of data, in
// order, after checking that data is one valid JSON object. It is DecodeObject without the map,
// for a caller that reads a few known members into a typed struct on a hot path: nothing is
// allocated for a name in plain ASCII without escapes (given as it is in data), and values alias
// data. A name with an escape or a byte outside ASCII is given decoded as encoding/json would
// decode it (invalid UTF-8 becomes U+FFFD). Duplicates are the caller's to refuse (see
// MisspeltMember for names spelt in another case). It stops at, and returns, the first error
// fn returns; a data that is not one object is ErrNotObject.
func EachMember(data []byte, fn func(name, value []byte) error) error {
	if !json.Valid(data) {
		return ErrNotObject
	}
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return ErrNotObject
	}
	for i = skipSpace(data, i+1); data[i] != '}'; {
		end := skipValue(data, i) // data[i] is the '"' of a member name
		name := data[i+1 : end-1]
		if !plainName(name) {
			var decoded string
			if json.Unmarshal(data[i:end], &decoded) != nil {
				return ErrNotObject
			}
			name = []byte(decoded)
		}
		i = skipSpace(data, end)
		i = skipSpace(data, i+1) // past ':'
		end = skipValue(data, i)
		if err := fn(name, data[i:end:end]); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return nil
}

// plainName reports whether a member name's literal content has no escape and no byte outside
// ASCII, so that it is its own value.
func plainName(lit []byte) bool {
	for _, c := range lit {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// MisspeltMember reports whether name is one of exact in another spelling that encoding/json
// would match to it ({"HTM": …} for htm, or a name with a Unicode letter that folds to one):
// a strict reader refuses such a member rather than ignore what a lenient one would read.
func MisspeltMember(name []byte, exact []string) bool {
	for _, want := range exact {
		if string(name) == want {
			return false
		}
	}
	ascii := plainName(name) // escapes were decoded by EachMember; only the bytes matter here
	for _, want := range exact {
		if ascii {
			if len(name) == len(want) && asciiFoldEqual(name, want) {
				return true
			}
		} else if foldEqual(string(name), want) {
			return true
		}
	}
	return false
}

// asciiFoldEqual compares ASCII a and b with letters folded; len(a) == len(b).
func asciiFoldEqual(a []byte, b string) bool {
	for i := range a {
		if foldASCII(a[i]) != foldASCII(b[i]) {
			return false
		}
	}
	return true
}

// StringMember reads a member's raw value, valid JSON as EachMember and DecodeObject give it,
// as a JSON string: present is false for null, ok is
// false for any other type. A string in plain ASCII without escapes is copied as it is; others
// are decoded by encoding/json, so the value is the one a json.Unmarshal into a string gives.
func StringMember(raw []byte) (s string, present, ok bool) {
	if string(raw) == "null" {
		return "", false, true
	}
	if len(raw) < 2 || raw[0] != '"' {
		return "", true, false
	}
	if plainName(raw[1 : len(raw)-1]) {
		return string(raw[1 : len(raw)-1]), true, true
	}
	if json.Unmarshal(raw, &s) != nil {
		return "", true, false
	}
	return s, true, true
}

// StringsMember reads a member's raw value, valid JSON as EachMember and DecodeObject give it,
// as an array of strings, as a
// json.Unmarshal into a []string does (null is a nil slice): an array of strings in plain ASCII
// without escapes is split where it lies, anything else goes through encoding/json.
func StringsMember(raw []byte) ([]string, bool) {
	if len(raw) > 0 && raw[0] == '[' && raw[len(raw)-1] == ']' {
		var list []string
		for i := skipSpace(raw, 1); i < len(raw) && raw[i] != ']'; {
			if raw[i] != '"' {
				return slowStrings(raw)
			}
			end := skipValue(raw, i)
			if !plainName(raw[i+1 : end-1]) {
				return slowStrings(raw)
			}
			list = append(list, string(raw[i+1:end-1]))
			if i = skipSpace(raw, end); i < len(raw) && raw[i] == ',' {
				i = skipSpace(raw, i+1)
			}
		}
		if list == nil {
			list = []string{}
		}
		return list, true
	}
	return slowStrings(raw)
}

func slowStrings(raw []byte) ([]string, bool) {
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return nil, false
	}
	return list, true
}
