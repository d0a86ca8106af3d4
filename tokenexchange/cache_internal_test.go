package tokenexchange

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Every field that changes what is asked for changes the key; SubjectExpiry does not, and the
// default subject_token_type is the access-token type.
func TestKeyCoversEveryField(t *testing.T) {
	base := Request{SubjectToken: "s", Scopes: []string{"a"}, Resources: []string{"r"}, Audiences: []string{"u"},
		ActorToken: "act", ActorTokenType: TokenTypeJWT, RequestedTokenType: TokenTypeAccessToken}
	k := keyOf(base)
	for name, mutate := range map[string]func(*Request){
		"subject":      func(r *Request) { r.SubjectToken = "t" },
		"subject type": func(r *Request) { r.SubjectTokenType = TokenTypeJWT },
		"scope":        func(r *Request) { r.Scopes = []string{"b"} },
		"more scopes":  func(r *Request) { r.Scopes = []string{"a", "b"} },
		"scope to resource": func(r *Request) {
			r.Scopes, r.Resources = nil, []string{"a", "r"}
		},
		"resource":       func(r *Request) { r.Resources = []string{"x"} },
		"audience":       func(r *Request) { r.Audiences = nil },
		"actor":          func(r *Request) { r.ActorToken = "other" },
		"actor type":     func(r *Request) { r.ActorTokenType = TokenTypeIDToken },
		"requested type": func(r *Request) { r.RequestedTokenType = TokenTypeJWT },
		"concatenation":  func(r *Request) { r.SubjectToken, r.Scopes = "sa", nil },
	} {
		r := base
		mutate(&r)
		assert.NotEqual(t, k, keyOf(r), name)
	}
	same := base
	same.SubjectExpiry = time.Now()
	assert.Equal(t, k, keyOf(same), "SubjectExpiry only bounds the lifetime")
	explicit := Request{SubjectToken: "s", SubjectTokenType: TokenTypeAccessToken}
	assert.Equal(t, keyOf(Request{SubjectToken: "s"}), keyOf(explicit))
}
