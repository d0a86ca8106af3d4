package helseid

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOrgNumberRoundTrip(t *testing.T) {
	for _, s := range []string{"", "000000000", "000000001", "912345678", "999999999", "100000000"} {
		assert.Equal(t, s, orgString(orgNumber(s)), s)
	}
	assert.NotEqual(t, orgNumber(""), orgNumber("000000000"))
	spec := &tokenSpec{}
	a := newTokenKey(spec, Organization{Parent: "912345678", Child: "987654321"})
	b := newTokenKey(spec, Organization{Parent: "987654321", Child: "912345678"})
	assert.NotEqual(t, a, b, "parent and child are not interchangeable")
	assert.Equal(t, Organization{Parent: "912345678", Child: "987654321"}, a.organization())
}
