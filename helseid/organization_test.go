package helseid

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAssertionDetailsGolden(t *testing.T) {
	cases := []struct {
		name    string
		org     Organization
		tenancy Tenancy
		want    string
	}{
		{"multi-tenant parent and child", Organization{Parent: "994598759", Child: "920773230"}, MultiTenant,
			`{"type":"helseid_authorization","practitioner_role":{"organization":{"identifier":{"system":"urn:oid:1.0.6523","type":"ENH","value":"NO:ORGNR:994598759:920773230"}}}}`},
		{"multi-tenant parent only", Organization{Parent: "994598759"}, MultiTenant,
			`{"type":"helseid_authorization","practitioner_role":{"organization":{"identifier":{"system":"urn:oid:1.0.6523","type":"ENH","value":"NO:ORGNR:994598759"}}}}`},
		{"single-tenant child", Organization{Child: "920773230"}, SingleTenant,
			`{"type":"helseid_authorization","practitioner_role":{"organization":{"identifier":{"system":"urn:oid:2.16.578.1.12.4.1.4.101","type":"ENH","value":"920773230"}}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.org.AssertionDetails(tc.tenancy)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
	none, err := Organization{}.AssertionDetails(MultiTenant)
	require.NoError(t, err)
	assert.Nil(t, none, "the zero organisation sends no details")
}

func TestOrganizationValidate(t *testing.T) {
	cases := []struct {
		name    string
		org     Organization
		tenancy Tenancy
		msg     string
	}{
		{"8 digits", Organization{Parent: "99459875"}, MultiTenant, "9 digits"},
		{"10 digits", Organization{Parent: "9945987590"}, MultiTenant, "9 digits"},
		{"letters", Organization{Parent: "99459875X"}, MultiTenant, "9 digits"},
		{"spaces", Organization{Parent: "994 598 759"}, MultiTenant, "9 digits"},
		{"unicode digits", Organization{Parent: "٩٩٤٥٩٨٧٥٩"}, MultiTenant, "9 digits"},
		{"bad child", Organization{Parent: "994598759", Child: "1"}, MultiTenant, "child"},
		{"multi-tenant without parent", Organization{Child: "920773230"}, MultiTenant, "must name the parent"},
		{"single-tenant with parent", Organization{Parent: "994598759", Child: "920773230"}, SingleTenant, "cannot name a parent"},
		{"unknown tenancy", Organization{Parent: "994598759"}, Tenancy(7), "unknown tenancy"},
		{"supplier with a parent", Organization{supplier: true, Parent: "994598759"}, MultiTenant, "SupplierOrganization names no"},
		{"supplier with a child", Organization{supplier: true, Child: "920773230"}, SingleTenant, "SupplierOrganization names no"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.org.Validate(tc.tenancy)
			require.ErrorIs(t, err, ErrInvalidOrganization)
			assert.Contains(t, err.Error(), tc.msg)
			_, err = tc.org.AssertionDetails(tc.tenancy)
			assert.ErrorIs(t, err, ErrInvalidOrganization)
		})
	}
	assert.Equal(t, "multi-tenant", MultiTenant.String())
	assert.Equal(t, "single-tenant", SingleTenant.String())
}

// SupplierOrganization is valid for both tenancies, sends no organisation numbers, and is told
// apart from the zero value.
func TestSupplierOrganization(t *testing.T) {
	s := SupplierOrganization()
	assert.True(t, s.IsSupplier())
	assert.False(t, s.IsZero(), "an explicit choice, not a missing one")
	assert.NotEqual(t, Organization{}, s)
	assert.False(t, Organization{}.IsSupplier())
	assert.True(t, Organization{}.IsZero())
	for _, tenancy := range []Tenancy{SingleTenant, MultiTenant} {
		require.NoError(t, s.Validate(tenancy))
		details, err := s.AssertionDetails(tenancy)
		require.NoError(t, err)
		assert.Nil(t, details, "no organisation numbers are sent")
	}
}
