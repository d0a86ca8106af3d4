package helseidtest

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// Organisation-number detail: the helseid_authorization type and its identifier systems
// (helseid/docs/profile.md, "Organisation numbers").
const (
	// DetailTypeHelseIDAuthorization is the assertion_details type carrying organisation numbers.
	DetailTypeHelseIDAuthorization = "helseid_authorization"
	// OIDMultiTenant is the identifier system of a multi-tenant client's NO:ORGNR:<parent>[:<child>].
	OIDMultiTenant = "urn:oid:1.0.6523"
	// OIDSingleTenant is the identifier system of a single-tenant client's child organisation.
	OIDSingleTenant = "urn:oid:2.16.578.1.12.4.1.4.101"
	orgNrPrefix     = "NO:ORGNR:"
)

// orgClaims are the organisation claims of an access token.
type orgClaims struct {
	parent, child, supplier, tenancy string
}

func detailError(desc string) *oauthError {
	return newError(errInvalidRequest, "assertion_details: "+desc)
}

// resolveOrg works out the organisation claims from the client's registration and the
// assertion's assertion_details claim (an object, or an array of objects when there are
// several detail types). Items of unknown type are ignored; at most one
// helseid_authorization item is allowed. Without one, the parent is the client's own
// organisation (and, for a multi-tenant client, so is the supplier).
func resolveOrg(c *registeredClient, claims members) (orgClaims, *oauthError) {
	if _, ok := claims["authorization_details"]; ok {
		return defaultOrg(c), newError(errInvalidRequest, "client assertion: organisation numbers go in assertion_details; authorization_details belongs in request objects")
	}
	return orgFromDetails(c, claims["assertion_details"])
}

// defaultOrg is the organisation of a client that names none.
func defaultOrg(c *registeredClient) orgClaims {
	org := orgClaims{parent: c.reg.OrgNumber, tenancy: c.tenancy()}
	if c.reg.MultiTenant {
		org.supplier = c.reg.OrgNumber
	}
	return org
}

// orgFromDetails reads a details claim (assertion_details of an assertion, or
// authorization_details of a request object); nil means none.
func orgFromDetails(c *registeredClient, raw json.RawMessage) (orgClaims, *oauthError) {
	org := defaultOrg(c)
	if raw == nil {
		return org, nil
	}
	raw = bytes.TrimSpace(raw)
	var items []json.RawMessage
	switch {
	case len(raw) > 0 && raw[0] == '{':
		items = []json.RawMessage{raw}
	case len(raw) > 0 && raw[0] == '[':
		if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
			return org, detailError("must be an object or a non-empty array of objects")
		}
	default:
		return org, detailError("must be an object or a non-empty array of objects")
	}
	found := false
	for _, item := range items {
		item = bytes.TrimSpace(item)
		if len(item) == 0 || item[0] != '{' {
			return org, detailError("every item must be an object")
		}
		m, err := decodeObject(item)
		if err != nil {
			return org, detailError("malformed item")
		}
		typ, err := members(m).requiredStr("type")
		if err != nil {
			return org, detailError("every item needs a string type")
		}
		if typ != DetailTypeHelseIDAuthorization {
			continue // other detail types (SFM journal id, Tillitsrammeverk) are not modelled
		}
		if found {
			return org, detailError("more than one " + DetailTypeHelseIDAuthorization + " item")
		}
		found = true
		id, oerr := parseIdentifier(item)
		if oerr != nil {
			return org, oerr
		}
		if oerr := applyIdentifier(c, id, &org); oerr != nil {
			return org, oerr
		}
	}
	return org, nil
}

type orgIdentifier struct {
	System *string `json:"system"`
	Type   *string `json:"type"`
	Value  *string `json:"value"`
}

func parseIdentifier(item []byte) (*orgIdentifier, *oauthError) {
	var d struct {
		PractitionerRole *struct {
			Organization *struct {
				Identifier *orgIdentifier `json:"identifier"`
			} `json:"organization"`
		} `json:"practitioner_role"`
	}
	if err := json.Unmarshal(item, &d); err != nil {
		return nil, detailError("helseid_authorization is malformed")
	}
	if d.PractitionerRole == nil || d.PractitionerRole.Organization == nil || d.PractitionerRole.Organization.Identifier == nil {
		return nil, detailError("helseid_authorization needs practitioner_role.organization.identifier")
	}
	id := d.PractitionerRole.Organization.Identifier
	if id.System == nil || id.Type == nil || id.Value == nil {
		return nil, detailError("the organization identifier needs system, type and value")
	}
	if *id.Type != "ENH" {
		return nil, detailError(`the organization identifier type must be "ENH"`)
	}
	return id, nil
}

func applyIdentifier(c *registeredClient, id *orgIdentifier, org *orgClaims) *oauthError {
	if c.reg.MultiTenant {
		if *id.System != OIDMultiTenant {
			return detailError("a multi-tenant client must use system " + OIDMultiTenant)
		}
		rest, ok := strings.CutPrefix(*id.Value, orgNrPrefix)
		if !ok {
			return detailError("the value must be NO:ORGNR:<parent> or NO:ORGNR:<parent>:<child>")
		}
		parts := strings.Split(rest, ":")
		if len(parts) > 2 {
			return detailError("the value must be NO:ORGNR:<parent> or NO:ORGNR:<parent>:<child>")
		}
		parent, child := parts[0], ""
		if len(parts) == 2 {
			child = parts[1] // "" for the NO:ORGNR:<parent>: form
		}
		if !isOrgNumber(parent) || (child != "" && !isOrgNumber(child)) {
			return detailError("organisation numbers must be exactly 9 digits")
		}
		if len(c.reg.DelegatedParents) > 0 && !slices.Contains(c.reg.DelegatedParents, parent) {
			return detailError("organisation " + parent + " has not delegated to the client's organisation")
		}
		org.parent, org.child = parent, child
		return nil
	}
	if *id.System != OIDSingleTenant {
		return detailError("a single-tenant client must use system " + OIDSingleTenant)
	}
	if !isOrgNumber(*id.Value) {
		return detailError("organisation numbers must be exactly 9 digits")
	}
	if !slices.Contains(c.reg.ChildOrgNumbers, *id.Value) {
		return detailError("child organisation " + *id.Value + " is not registered for the client")
	}
	org.child = *id.Value
	return nil
}
