package helseid

import "context"

type organizationKey struct{}

// WithOrganization returns a context that names the organisation tokens are for. A
// multi-tenant system sets it per incoming request; the SDK's token calls and DPoP HTTP clients
// then use that organisation's token, and tokens of different organisations are never mixed.
// An Organization given on a request itself takes precedence. A multi-tenant client refuses a
// call whose request and context name none (ErrNoOrganization); put SupplierOrganization in
// the context for code that runs on the supplier's own behalf.
func WithOrganization(ctx context.Context, org Organization) context.Context {
	return context.WithValue(ctx, organizationKey{}, org)
}

// OrganizationFromContext returns the organisation set with WithOrganization, if any.
func OrganizationFromContext(ctx context.Context) (Organization, bool) {
	org, ok := ctx.Value(organizationKey{}).(Organization)
	return org, ok
}
