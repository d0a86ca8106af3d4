package helseidtest

import (
	"net/http"
	"slices"
)

// Discovery is the server's OpenID Provider metadata (OpenID Connect Discovery 1.0, RFC 8414,
// RFC 9126, RFC 9207, RFC 9449). Its fields follow HelseID's test environment's document, with
// the FAPI 2.0 policy applied: private_key_jwt only, S256 only, PAR required.
type Discovery struct {
	Issuer                                     string   `json:"issuer"`
	JWKSURI                                    string   `json:"jwks_uri"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	PushedAuthorizationRequestEndpoint         string   `json:"pushed_authorization_request_endpoint"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	RequirePushedAuthorizationRequests         bool     `json:"require_pushed_authorization_requests"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ScopesSupported                            []string `json:"scopes_supported"`
}

// Discovery returns the metadata document the server publishes.
func (s *Server) Discovery() Discovery {
	iss := s.issuer
	return Discovery{
		Issuer:                             iss,
		JWKSURI:                            iss + JWKSPath,
		AuthorizationEndpoint:              iss + AuthorizePath,
		TokenEndpoint:                      iss + TokenPath,
		PushedAuthorizationRequestEndpoint: iss + PARPath,
		EndSessionEndpoint:                 iss + EndSessionPath,
		RevocationEndpoint:                 iss + RevocationPath,
		RequirePushedAuthorizationRequests: true,
		AuthorizationResponseISSParameterSupported: true,
		TokenEndpointAuthMethodsSupported:          []string{"private_key_jwt"},
		TokenEndpointAuthSigningAlgValuesSupported: slices.Clone(assertionAlgs),
		// HelseID advertises RS/PS/ES 256–512; EdDSA proofs are accepted but not advertised.
		DPoPSigningAlgValuesSupported:    slices.Clone(assertionAlgs),
		IDTokenSigningAlgValuesSupported: []string{s.opts.IDTokenAlgorithm},
		GrantTypesSupported:              []string{GrantAuthorizationCode, GrantClientCredentials, GrantRefreshToken, GrantTokenExchange},
		ResponseTypesSupported:           []string{"code"},
		ResponseModesSupported:           []string{"query"},
		SubjectTypesSupported:            []string{"public"},
		CodeChallengeMethodsSupported:    []string{"S256"},
		ScopesSupported:                  s.registeredScopes(),
	}
}

func (s *Server) registeredScopes() []string {
	s.clientsMu.RLock()
	defer s.clientsMu.RUnlock()
	out := []string{}
	for _, c := range s.clients {
		out = append(out, c.reg.Scopes...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	d := s.Discovery()
	if s.loginFaults().DiscoveryIssuerMismatch {
		d.Issuer += "INVALID"
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !allowGet(w, r) {
		return
	}
	body, err := s.jwksJSON()
	if err != nil {
		writeError(w, newError(errServerError, "helseidtest: cannot encode JWKS"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{
		"error": errInvalidRequest, "error_description": "method not allowed",
	})
	return false
}
