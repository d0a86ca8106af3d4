package helseidtest

import (
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	// Grants the token endpoint implements (besides GrantTokenExchange).
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	// maxTokenRequestBytes bounds the token-request body.
	maxTokenRequestBytes = 64 << 10
)

// TokenResponse is the token endpoint's success body (RFC 6749 §5.1, RFC 9449 §5, RFC 8693
// §2.2.1).
type TokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in,omitempty"`
	Scope           string `json:"scope"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	// RTExpiresIn is HelseID's refresh-token lifetime in seconds.
	RTExpiresIn int64 `json:"rt_expires_in,omitempty"`
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.stats.tokenRequests.Add(1)
	if h := s.hook.Load(); h != nil && h.fn(w, r) {
		return
	}
	resp, oerr := s.token(r)
	switch s.opts.Nonce {
	case NonceRotating:
		// Read after issuing, so a 200 that rotated the nonce carries the new one.
		w.Header().Set("DPoP-Nonce", s.asNonce.value())
	case NonceSilentRotate:
		if oerr != nil && oerr.code == errUseDPoPNonce {
			w.Header().Set("DPoP-Nonce", s.asNonce.value())
		}
	}
	switch {
	case oerr == nil:
		s.stats.tokensIssued.Add(1)
		writeJSON(w, http.StatusOK, resp)
	case oerr.code == errUseDPoPNonce:
		s.stats.nonceChallenges.Add(1)
		writeError(w, oerr)
	default:
		s.stats.tokenErrors.Add(1)
		writeError(w, oerr)
	}
}

// token handles one token request. The checks run in this order, and the first failure is
// the response:
//
//  1. HTTP: POST, application/x-www-form-urlencoded, body ≤ 64 KiB, no URL query, no repeated
//     parameter (invalid_request).
//  2. Client authentication: private_key_jwt only; the assertion is fully checked and its jti
//     recorded: from here on, whatever the outcome, it is used up (invalid_client, 401).
//     With Options.ReusableAssertionAfterNonceChallenge the jti is only checked here and
//     recorded after step 4, so a use_dpop_nonce challenge leaves the assertion unused.
//  3. DPoP proof (invalid_dpop_proof); the proof's jti is recorded once the proof is valid
//     apart from its nonce.
//  4. DPoP nonce (use_dpop_nonce with DPoP-Nonce).
//  5. (lenient mode) The assertion's jti is recorded.
//  6. grant_type (invalid_request, unsupported_grant_type), scope and resource
//     (invalid_request, invalid_scope, invalid_target), assertion_details (invalid_request).
//  7. The token is issued.
//
// The grant is looked at only once the client is authenticated, as a server must to know whose
// code or refresh token it is: a request refused as invalid_client leaves its code or refresh
// token unused, which a client retrying with a rotation's other key relies on.
func (s *Server) token(r *http.Request) (*TokenResponse, *oauthError) {
	form, oerr := readTokenForm(r)
	if oerr != nil {
		return nil, oerr
	}
	// A proof is required unless a client registered with AllowBearer asks for a
	// client-credentials token (checked once the client is authenticated).
	proofRequired := proofAlways
	if form.Get("grant_type") == GrantClientCredentials {
		proofRequired = proofUnlessBearerClient
	}
	a, key, oerr := s.authenticateRequest(r, form, s.TokenEndpoint(), proofRequired)
	if oerr != nil {
		return nil, oerr
	}
	switch gt := form.Get("grant_type"); gt {
	case GrantAuthorizationCode:
		return s.redeemCode(a, form, key.jkt)
	case GrantRefreshToken:
		return s.refresh(a, form, key.jkt)
	case GrantClientCredentials:
	case GrantTokenExchange:
		resp, oerr := s.exchange(a.client, form, key.jkt, s.now())
		if oerr == nil {
			s.afterIssue()
		}
		return resp, oerr
	case "":
		return nil, newError(errInvalidRequest, "grant_type is missing")
	default:
		return nil, newError(errUnsupportedGrantType, "grant_type "+short(gt)+" is not supported")
	}
	scopes, api, oerr := checkScopes(a.client, form)
	if oerr != nil {
		return nil, oerr
	}
	org, oerr := resolveOrg(a.client, a.claims)
	if oerr != nil {
		return nil, oerr
	}
	now := s.now()
	jkt, tokenType := "", "Bearer" // no proof: an unbound token (AllowBearer)
	if key != nil {
		jkt, tokenType = key.jkt, "DPoP"
	}
	at, err := s.mintAccessToken(a.client, scopes, api, jkt, org, now)
	if err != nil {
		return nil, newError(errServerError, "helseidtest: cannot sign the access token")
	}
	s.afterIssue()
	return &TokenResponse{
		AccessToken: at,
		TokenType:   tokenType,
		ExpiresIn:   int64(s.opts.AccessTokenLifetime / time.Second),
		Scope:       strings.Join(scopes, " "),
	}, nil
}

// proofRule says when a request must carry a DPoP proof.
type proofRule int

const (
	proofOptional           proofRule = iota // at PAR
	proofAlways                              // at the token endpoint
	proofUnlessBearerClient                  // client credentials: optional for AllowBearer clients
)

// authenticateRequest authenticates the client of a token or PAR request and checks its DPoP
// proof for htu (required as proofRequired says; a missing optional proof returns a nil key).
// The assertion is used up before the proof is checked, unless
// Options.ReusableAssertionAfterNonceChallenge keeps it for the nonce retry.
func (s *Server) authenticateRequest(r *http.Request, form url.Values, htu string, proofRequired proofRule) (*clientAssertion, *publicKey, *oauthError) {
	a, oerr := s.authenticateClient(r, form)
	if oerr != nil {
		return nil, nil, oerr
	}
	required := proofRequired == proofAlways || proofRequired == proofUnlessBearerClient && !a.client.reg.AllowBearer
	lenient := s.opts.ReusableAssertionAfterNonceChallenge
	if !lenient {
		if oerr := s.consumeAssertion(a); oerr != nil {
			return nil, nil, oerr
		}
	}
	var key *publicKey
	if required || len(r.Header.Values("DPoP")) > 0 {
		pc := proofCheck{method: http.MethodPost, htu: htu}
		if s.opts.Nonce != NonceNone {
			pc.nonce = s.asNonce
		}
		var perr *proofError
		key, perr = s.checkProof(r, pc)
		if perr != nil {
			switch perr.kind {
			case proofNeedsNonce:
				if perr.stale {
					return nil, nil, newError(errUseDPoPNonce, "Authorization server requires a fresh nonce in DPoP proof")
				}
				return nil, nil, newError(errUseDPoPNonce, "Authorization server requires nonce in DPoP proof")
			case proofUnavailable:
				return nil, nil, newError(errTemporarilyUnavail, perr.desc)
			default:
				return nil, nil, newError(errInvalidDPoPProof, perr.desc)
			}
		}
	}
	if lenient {
		if oerr := s.consumeAssertion(a); oerr != nil {
			return nil, nil, oerr
		}
	}
	return a, key, nil
}

// afterIssue rotates the AS nonce as the mode says.
func (s *Server) afterIssue() {
	n := s.tokenCount.Add(1)
	switch s.opts.Nonce {
	case NonceSilentRotate:
		s.asNonce.rotate()
	case NonceRotating:
		if every := int64(s.opts.NonceRotateEvery); every > 0 && n%every == 0 {
			s.asNonce.rotate()
		}
	}
}

// readTokenForm applies the HTTP-level checks and parses the body. Only the body counts:
// RFC 6749 §3.2 puts token-request parameters in the entity body, and forbids repeating one;
// repeatable names the exceptions (resource at PAR, RFC 8707).
func readTokenForm(r *http.Request, repeatable ...string) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		return nil, newError(errInvalidRequest, "the token endpoint accepts POST only")
	}
	if r.URL.RawQuery != "" {
		return nil, newError(errInvalidRequest, "parameters must be in the request body, not the URL query")
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, newError(errInvalidRequest, "Content-Type must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, newError(errInvalidRequest, "the form body must be UTF-8")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenRequestBytes+1))
	if err != nil {
		return nil, newError(errInvalidRequest, "cannot read the request body")
	}
	if len(body) > maxTokenRequestBytes {
		return nil, newError(errInvalidRequest, "the request body is too large")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, newError(errInvalidRequest, "the form body is malformed")
	}
	for name, vals := range form {
		if len(vals) > 1 && !slices.Contains(repeatable, name) {
			return nil, newError(errInvalidRequest, "parameter "+short(name)+" is repeated")
		}
	}
	return form, nil
}
