package helseid

// HelseID claim names (helseid/docs/profile.md, "Claims"). Which of them an access token
// carries is decided by the API's registration in HelseID.
const (
	ClaimPID           = "helseid://claims/identity/pid"
	ClaimPIDPseudonym  = "helseid://claims/identity/pid_pseudonym"
	ClaimSecurityLevel = "helseid://claims/identity/security_level"
	ClaimHPRNumber     = "helseid://claims/hpr/hpr_number"
	ClaimOrgNrParent   = "helseid://claims/client/claims/orgnr_parent"
	ClaimOrgNrChild    = "helseid://claims/client/claims/orgnr_child"
	ClaimOrgNrSupplier = "helseid://claims/client/claims/orgnr_supplier"
	ClaimClientTenancy = "helseid://claims/client/client_tenancy"
	ClaimClientName    = "helseid://claims/client/client_name"
)
