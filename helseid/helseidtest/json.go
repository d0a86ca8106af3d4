package helseidtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// maxJSONDepth bounds the nesting of any JSON document the server parses.
const maxJSONDepth = 32

// decodeObject parses data as one JSON object and returns its members undecoded. It refuses
// anything else: a non-object, trailing data, nesting deeper than maxJSONDepth and, at any
// depth, a member name that appears twice (RFC 7515 §5.2 and RFC 7519 §4 let a parser reject
// duplicates; a strict server must, or two parsers can read different claims from one token).
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// checkJSON walks a JSON document token by token and enforces the rules of decodeObject.
func checkJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return errors.New("invalid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	if err := walkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after JSON object")
	}
	return nil
}

func walkObject(dec *json.Decoder, depth int) error {
	seen := make(map[string]struct{})
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("invalid JSON")
		}
		name, ok := tok.(string)
		if !ok {
			return errors.New("invalid JSON")
		}
		if _, dup := seen[name]; dup {
			return fmt.Errorf("duplicate JSON member %q", name)
		}
		seen[name] = struct{}{}
		if err := walkValue(dec, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return errors.New("invalid JSON")
	}
	return nil
}

func walkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return errors.New("invalid JSON")
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= maxJSONDepth {
		return errors.New("JSON nested too deeply")
	}
	switch d {
	case '{':
		return walkObject(dec, depth+1)
	case '[':
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return errors.New("invalid JSON")
		}
	}
	return nil
}

// members is a decoded JSON object whose values are still raw: JOSE headers and JWT claim sets.
type members map[string]json.RawMessage

// str returns the member name as a string. A present member that is not a JSON string is an error.
func (m members) str(name string) (value string, present bool, err error) {
	raw, ok := m[name]
	if !ok {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", true, fmt.Errorf("%s must be a JSON string", name)
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		return "", true, fmt.Errorf("%s must be a JSON string", name)
	}
	return value, true, nil
}

// requiredStr is str for a member that must be present and non-empty.
func (m members) requiredStr(name string) (string, error) {
	v, ok, err := m.str(name)
	if err != nil {
		return "", err
	}
	if !ok || v == "" {
		return "", fmt.Errorf("%s is missing", name)
	}
	return v, nil
}

// maxNumericDate rejects dates that are plainly milliseconds (year 5138 and later).
const maxNumericDate = 1e11

// date returns the member name as an RFC 7519 NumericDate: a JSON number of seconds since the
// epoch (fractions allowed). Strings, negative values and millisecond-sized values are errors.
func (m members) date(name string) (t time.Time, present bool, err error) {
	raw, ok := m[name]
	if !ok {
		return time.Time{}, false, nil
	}
	// json.Number also accepts a JSON string holding a number; a NumericDate must be a number.
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return time.Time{}, true, fmt.Errorf("%s must be a JSON number", name)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return time.Time{}, true, fmt.Errorf("%s must be a JSON number", name)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f >= maxNumericDate {
		return time.Time{}, true, fmt.Errorf("%s is not a valid NumericDate", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// requiredDate is date for a member that must be present.
func (m members) requiredDate(name string) (time.Time, error) {
	t, ok, err := m.date(name)
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		return time.Time{}, fmt.Errorf("%s is missing", name)
	}
	return t, nil
}
