package fapi

import (
	"encoding/json"
	"fmt"
)

// Metadata is an authorization server's validated discovery document (OpenID Connect
// Discovery 1.0, RFC 8414), checked to name the configured issuer exactly and to use https
// endpoints. The typed fields cover what a FAPI 2.0 client reads; Raw holds the whole document
// for a server's extensions (see Extension). A *Metadata handed out by a cache is shared:
// callers must not modify it.
type Metadata struct {
	Issuer                             string `json:"issuer"`
	AuthorizationEndpoint              string `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                      string `json:"token_endpoint"`
	JWKSURI                            string `json:"jwks_uri"`
	UserinfoEndpoint                   string `json:"userinfo_endpoint,omitempty"`
	EndSessionEndpoint                 string `json:"end_session_endpoint,omitempty"`
	RevocationEndpoint                 string `json:"revocation_endpoint,omitempty"`
	IntrospectionEndpoint              string `json:"introspection_endpoint,omitempty"`
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint,omitempty"`

	RequirePushedAuthorizationRequests         bool `json:"require_pushed_authorization_requests,omitempty"`
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
	RequestParameterSupported                  bool `json:"request_parameter_supported,omitempty"`

	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported,omitempty"`
	GrantTypesSupported                        []string `json:"grant_types_supported,omitempty"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported,omitempty"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported,omitempty"`
	RequestObjectSigningAlgValuesSupported     []string `json:"request_object_signing_alg_values_supported,omitempty"`
	PromptValuesSupported                      []string `json:"prompt_values_supported,omitempty"`
	ClaimsSupported                            []string `json:"claims_supported,omitempty"`

	// Raw is the document exactly as received (validated as above).
	Raw json.RawMessage `json:"-"`
}

// Extension decodes the top-level member name of the raw document into v. It reports false,
// and leaves v alone, when the member is absent. Member names match exactly.
func (m *Metadata) Extension(name string, v any) (bool, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(m.Raw, &members); err != nil {
		return false, fmt.Errorf("metadata: the document is not a json object: %w", err)
	}
	raw, ok := members[name]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("metadata: member %.64q: %w", name, err)
	}
	return true, nil
}
