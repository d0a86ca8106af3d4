package jose

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMisspeltMember(t *testing.T) {
	names := []string{"jti", "htm"}
	for name, want := range map[string]bool{
		"jti": false, "htm": false, "other": false, "jt": false, "jtix": false,
		"JTI": true, "Htm": true, "jtı": true, // dotless i: encoding/json folds it to I
		"ſub": false, // long s folds to S, but sub is not read
	} {
		assert.Equal(t, want, MisspeltMember([]byte(name), names), name)
	}
}

func TestStringMember(t *testing.T) {
	for raw, want := range map[string]struct {
		s           string
		present, ok bool
	}{
		`"plain"`: {"plain", true, true}, `"a\"b"`: {`a"b`, true, true}, `"\u00e9"`: {"é", true, true},
		"\"\xff\"": {"\ufffd", true, true}, `null`: {"", false, true}, `1`: {"", true, false}, `["a"]`: {"", true, false},
	} {
		s, present, ok := StringMember([]byte(raw))
		assert.Equal(t, want.s, s, raw)
		assert.Equal(t, want.present, present, raw)
		assert.Equal(t, want.ok, ok, raw)
	}
}

// FuzzEachMember: EachMember never panics, accepts exactly the JSON objects encoding/json
// accepts as a map, and gives the members DecodeObject gives (when no name appears twice).
func FuzzEachMember(f *testing.F) {
	for _, seed := range []string{`{"a":1,"b":[1,{"c":"}"}],"d":"\u0065"}`, `{"s":["a", "b\u0020" ,"c"],"t":[],"u":[null],"v":"x"}`, ` { } `, `{"a":1}x`, `[]`, `{"\u00e9":null,"b":true}`, "{\"\xff\":1}", `{"a":1,"A":2}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var names []string
		var values []string
		err := EachMember(data, func(name, value []byte) error {
			names, values = append(names, string(name)), append(values, string(value))
			return nil
		})
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil || m == nil {
			require.Error(t, err, "accepted what is not a JSON object")
			return
		}
		require.NoError(t, err)
		want, derr := DecodeObject(data, nil)
		if derr != nil {
			return // a name twice: DecodeObject refuses, EachMember leaves it to its caller
		}
		require.Len(t, names, len(want))
		for i, name := range names {
			assert.Equal(t, string(want[name]), values[i], name)
			// The fast readers of a member read what encoding/json reads.
			var one string
			s, present, ok := StringMember([]byte(values[i]))
			if jerr := json.Unmarshal([]byte(values[i]), &one); jerr != nil || values[i] == "null" {
				assert.False(t, ok && present, "StringMember read a %s", values[i])
			} else {
				assert.True(t, ok && present)
				assert.Equal(t, one, s)
			}
			var many []string
			list, ok := StringsMember([]byte(values[i]))
			if jerr := json.Unmarshal([]byte(values[i]), &many); jerr != nil {
				assert.False(t, ok, "StringsMember read a %s", values[i])
			} else {
				assert.True(t, ok)
				assert.Equal(t, len(many), len(list))
				for j := range many {
					assert.Equal(t, many[j], list[j])
				}
			}
		}
	})
}
