package helseid

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The shared key holds each input whole: inputs that differ only in where a byte sits between
// two fields (scopes and resources are not checked for NUL) make different keys, which are
// also the associated data a stored token is sealed with.
func TestSharedKeyFieldsCannotRunTogether(t *testing.T) {
	cfg := Config{Issuer: "https://helseid.example", ClientID: "c"}
	shared := newSharedTokens(nil, cfg, "jkt")
	org := Organization{Parent: "912345678"}
	for name, pair := range map[string][2]*tokenSpec{
		"NUL moved from scope to resource": {
			{grant: "client_credentials", scope: "a\x00b", resource: "c"},
			{grant: "client_credentials", scope: "a", resource: "b\x00c"},
		},
		"NUL moved from grant to scope": {
			{grant: "client_credentials\x00a", scope: "b"},
			{grant: "client_credentials", scope: "a\x00b"},
		},
		"resource looking like an organisation": {
			{grant: "client_credentials", scope: "a", resource: "r\x00912345678"},
			{grant: "client_credentials", scope: "a", resource: "r"},
		},
		"digits moved between length and field": {
			{grant: "client_credentials", scope: "1:a", resource: ""},
			{grant: "client_credentials", scope: "", resource: "a"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			assert.NotEqual(t, shared.keyFor(newTokenKey(pair[0], org)), shared.keyFor(newTokenKey(pair[1], org)))
		})
	}
	spec := &tokenSpec{grant: "client_credentials", scope: "a"}
	assert.NotEqual(t, shared.keyFor(newTokenKey(spec, org)), shared.keyFor(newTokenKey(spec, Organization{Parent: "912345678", Child: "987654321"})))
	other := newSharedTokens(nil, Config{Issuer: "https://helseid.example\x00c", ClientID: ""}, "jkt")
	assert.NotEqual(t, shared.keyFor(newTokenKey(spec, org)), other.keyFor(newTokenKey(spec, org)), "issuer and client id do not run together")
}
