package helseid

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidOrganization reports organisation numbers HelseID would refuse.
var ErrInvalidOrganization = errors.New("invalid organisation number")

// ErrNoOrganization reports a call of a multi-tenant client that names no organisation,
// neither on the request nor in the context (WithOrganization). It also matches
// ErrInvalidRequestParams. A call that wants the supplier's own token names
// SupplierOrganization.
var ErrNoOrganization = errors.New("no organisation named for a multi-tenant client")

// Tenancy says how a client is registered in HelseID, which decides how it names
// organisations: a multi-tenant client names parent and child, a single-tenant one only a
// child (helseid/docs/profile.md, "Organisation numbers").
type Tenancy int

const (
	// SingleTenant clients belong to one organisation; HelseID takes the parent organisation
	// from the client's registration, and the client may name only a child (underenhet).
	SingleTenant Tenancy = iota
	// MultiTenant clients act for many organisations that have delegated to the supplier in
	// Altinn; every request names the parent organisation and optionally a child.
	MultiTenant
)

func (t Tenancy) String() string {
	switch t {
	case SingleTenant:
		return "single-tenant"
	case MultiTenant:
		return "multi-tenant"
	}
	return fmt.Sprintf("Tenancy(%d)", int(t))
}

// Organization names the organisation a token is for: the parent (overenhet) and optionally a
// child (underenhet), each a 9-digit Norwegian organisation number.
//
// The zero value names none. For a single-tenant client it means the client's own
// organisation, and sends no organisation numbers. A multi-tenant client's calls refuse it
// (ErrNoOrganization) unless they find an organisation in the context: a request whose
// context lost its organisation must not get the supplier's token in its stead. A
// multi-tenant client that wants the supplier's own token says so with SupplierOrganization.
type Organization struct {
	Parent string
	Child  string

	supplier bool // SupplierOrganization: the client's own, asked for explicitly
}

// SupplierOrganization returns the Organization that asks explicitly for the client's own
// token: no organisation numbers are sent, and HelseID issues the token for the organisation
// the client is registered to (a multi-tenant system's supplier). Use it on a request or in a
// context (WithOrganization) where a multi-tenant client would otherwise refuse a call that
// names no organisation. It is not the zero Organization (IsZero reports false).
func SupplierOrganization() Organization { return Organization{supplier: true} }

// IsSupplier reports whether o is SupplierOrganization.
func (o Organization) IsSupplier() bool { return o.supplier }

// IsZero reports whether o is the zero Organization: no organisation numbers, and not
// SupplierOrganization either.
func (o Organization) IsZero() bool { return o.Parent == "" && o.Child == "" && !o.supplier }

// Validate checks the numbers for a client of the given tenancy. The zero Organization and
// SupplierOrganization are valid for both tenancies; whether a call may name no organisation
// is the Client's rule (see Organization).
func (o Organization) Validate(t Tenancy) error {
	if o.supplier {
		if o.Parent != "" || o.Child != "" {
			return fmt.Errorf("%w: SupplierOrganization names no organisation numbers", ErrInvalidOrganization)
		}
		return nil
	}
	if o.IsZero() {
		return nil
	}
	if err := checkOrgNumber("parent", o.Parent, t == MultiTenant); err != nil {
		return err
	}
	if err := checkOrgNumber("child", o.Child, false); err != nil {
		return err
	}
	switch t {
	case MultiTenant:
		return nil
	case SingleTenant:
		if o.Parent != "" {
			return fmt.Errorf("%w: a single-tenant client cannot name a parent organisation; HelseID takes it from the client registration", ErrInvalidOrganization)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown tenancy %s", ErrInvalidOrganization, t)
}

func checkOrgNumber(role, n string, required bool) error {
	if n == "" {
		if required {
			return fmt.Errorf("%w: a multi-tenant client must name the parent organisation", ErrInvalidOrganization)
		}
		return nil
	}
	// The errors quote a copy of n: quoting n itself would make every caller's request escape
	// to the heap, on the hit path too.
	if len(n) != 9 {
		return fmt.Errorf("%w: %s %.20q must have 9 digits", ErrInvalidOrganization, role, strings.Clone(n))
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return fmt.Errorf("%w: %s %.20q must have 9 digits", ErrInvalidOrganization, role, strings.Clone(n))
		}
	}
	return nil
}

// Identifier systems of HelseID's helseid_authorization detail: NO:ORGNR:<parent>[:<child>]
// for multi-tenant clients, the bare child number for single-tenant ones.
const (
	multiTenantSystem  = "urn:oid:1.0.6523"
	singleTenantSystem = "urn:oid:2.16.578.1.12.4.1.4.101"
)

type identifier struct {
	System string `json:"system"`
	Type   string `json:"type"`
	Value  string `json:"value"`
}

type authorizationDetail struct {
	Type             string `json:"type"`
	PractitionerRole struct {
		Organization struct {
			Identifier identifier `json:"identifier"`
		} `json:"organization"`
	} `json:"practitioner_role"`
}

// AssertionDetails returns the helseid_authorization detail naming o, in the form HelseID
// expects from a client of tenancy t, for the assertion_details claim of a client assertion.
// It returns nil for the zero Organization and for SupplierOrganization.
//
// Multi-tenant: system urn:oid:1.0.6523, value NO:ORGNR:<parent> or NO:ORGNR:<parent>:<child>.
// Single-tenant: system urn:oid:2.16.578.1.12.4.1.4.101, value <child>.
func (o Organization) AssertionDetails(t Tenancy) (json.RawMessage, error) {
	if err := o.Validate(t); err != nil {
		return nil, err
	}
	if o.IsZero() || o.supplier {
		return nil, nil
	}
	var d authorizationDetail
	d.Type = "helseid_authorization"
	id := &d.PractitionerRole.Organization.Identifier
	id.Type = "ENH"
	if t == MultiTenant {
		id.System = multiTenantSystem
		id.Value = "NO:ORGNR:" + o.Parent
		if o.Child != "" {
			id.Value += ":" + o.Child
		}
	} else {
		id.System = singleTenantSystem
		id.Value = o.Child
	}
	return json.Marshal(d)
}
