package dpop

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProofClaims(t *testing.T) {
	for name, tc := range map[string]struct {
		payload string
		want    proofClaims // compared when ok
		ok      bool
	}{
		"all members": {`{"jti":"j1","htm":"GET","htu":"https://a.example/p","iat":1562262618.5,"nonce":"n","ath":"h"}`,
			proofClaims{jti: "j1", htm: "GET", htu: "https://a.example/p", iat: 1562262618.5, hasIAT: true, nonce: "n", hasNonce: true, ath: "h", hasATH: true}, true},
		"white space and unknown members": {" {\n\"x\":{\"jti\":[1,\"}\"]} , \"jti\" : \"j\",\"iat\":1,\"y\":null}\t",
			proofClaims{jti: "j", iat: 1, hasIAT: true}, true},
		"null counts as absent":  {`{"jti":null,"iat":null,"nonce":null,"ath":null}`, proofClaims{}, true},
		"escapes decoded":        {`{"jti":"a\"b\u00e9","htu":"https:\/\/a.example\/"}`, proofClaims{jti: "a\"bé", htu: "https://a.example/"}, true},
		"escaped name":           {`{"\u006ati":"j"}`, proofClaims{jti: "j"}, true},
		"empty object":           {`{}`, proofClaims{}, true},
		"not json":               {`{"jti":"j"`, proofClaims{}, false},
		"trailing data":          {`{"jti":"j"} {}`, proofClaims{}, false},
		"an array":               {`["jti"]`, proofClaims{}, false},
		"a string":               {`"jti"`, proofClaims{}, false},
		"jti twice":              {`{"jti":"a","jti":"b"}`, proofClaims{}, false},
		"iat twice":              {`{"iat":1,"iat":2}`, proofClaims{}, false},
		"another case":           {`{"HTM":"GET"}`, proofClaims{}, false},
		"escaped other case":     {`{"\u0048tm":"GET"}`, proofClaims{}, false},
		"dotless i folds to jti": {`{"jt\u0131":"j"}`, proofClaims{}, false}, // encoding/json reads it as jti
		"an unknown name folded": {`{"ath":"x","\u017fub":"y"}`, proofClaims{ath: "x", hasATH: true}, true},
		"jti a number":           {`{"jti":1}`, proofClaims{}, false},
		"htm an array":           {`{"htm":["GET"]}`, proofClaims{}, false},
		"iat a string":           {`{"iat":"1"}`, proofClaims{}, false},
		"iat out of range":       {`{"iat":1e400}`, proofClaims{}, false},
		"iat true":               {`{"iat":true}`, proofClaims{}, false},
		"nonce an object":        {`{"nonce":{}}`, proofClaims{}, false},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := parseProofClaims([]byte(tc.payload))
			if !tc.ok {
				require.Error(t, err)
				assert.Equal(t, proofClaims{}, got)
				assert.NotContains(t, err.Error(), tc.payload)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// jsonProofClaims is how proofs were decoded before parseProofClaims: encoding/json into a
// struct, which FuzzParseProofClaims holds the parser to.
type jsonProofClaims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	Nonce *string  `json:"nonce"`
	ATH   *string  `json:"ath"`
}

// FuzzParseProofClaims: the parser never panics, and whatever it accepts encoding/json accepts
// too, with the same values (it may refuse more: members twice or spelt in another case).
func FuzzParseProofClaims(f *testing.F) {
	for _, seed := range []string{
		`{"jti":"j1","htm":"GET","htu":"https://a.example/p","iat":1562262618,"nonce":"n","ath":"h"}`,
		`{"jti":"a\"b\u00e9","iat":1.5e9,"x":[{"jti":1}]}`, `{"jti":null}`, `{"HTM":"GET"}`, `{}`, `[]`, `{"iat":-0}`,
		`{"jti":"\ud800"}`, "{\"jti\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := parseProofClaims(payload)
		if err != nil {
			return
		}
		var ref jsonProofClaims
		if err := json.Unmarshal(payload, &ref); err != nil {
			t.Fatalf("accepted what encoding/json refuses (%v)", err)
		}
		want := proofClaims{jti: ref.JTI, htm: ref.HTM, htu: ref.HTU}
		if ref.IAT != nil {
			want.iat, want.hasIAT = *ref.IAT, true
		}
		if ref.Nonce != nil {
			want.nonce, want.hasNonce = *ref.Nonce, true
		}
		if ref.ATH != nil {
			want.ath, want.hasATH = *ref.ATH, true
		}
		if got != want {
			t.Fatalf("got %+v, encoding/json reads %+v", got, want)
		}
	})
}
