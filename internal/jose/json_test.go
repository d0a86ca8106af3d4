package jose

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "nl\ncr\rtab\t", "\x00\x1f", "<a>&b", "æøå Ærlig", "\u2028\u2029", "bad\xffutf8", "https://helseid-sts.test.nhn.no"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(AppendJSONString(nil, s)), "input %q", s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "nhn:kjernejournal/tillitsrammeverk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendJSONString(nil, s)
		var back string
		require.NoError(t, json.Unmarshal(out, &back))
		if utf8.ValidString(s) {
			assert.Equal(t, s, back)
		}
		want, _ := json.Marshal(s)
		assert.Equal(t, string(want), string(out))
	})
}
