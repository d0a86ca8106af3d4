package helseidtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Lifetimes of the user-login artefacts.
const (
	RequestURILifetime   = 60 * time.Second // a pushed request_uri
	CodeLifetime         = 60 * time.Second // an authorization code
	IDTokenLifetime      = 300 * time.Second
	RefreshTokenLifetime = 8 * time.Hour // absolute: rotation does not extend it
	requestURIPrefix     = "urn:ietf:params:oauth:request_uri:"
	maxLoginEntries      = 100_000
)

// pushed is an authorization request stored by PAR.
type pushed struct {
	clientID, redirectURI, scope, state, nonce, challenge, jkt string
	scopes, resources                                          []string
	org                                                        orgClaims // from a request object, or the client's own
	expires                                                    time.Time
}

// authCode is an issued authorization code and what it grants.
type authCode struct {
	req      *pushed
	user     TestUser
	sid      string
	authTime time.Time
	expires  time.Time
	used     bool
	grant    *grant // the grant its redemption created, revoked if the code is replayed
}

// grant is a user's consent to a client: the refresh-token family of one login.
type grant struct {
	clientID          string
	org               orgClaims // the login's; a refresh with assertion_details changes it
	scopes, resources []string
	user              TestUser
	sid               string
	expires           time.Time
	current           string // the newest refresh token
	revoked           bool
}

// logins holds the state of user logins, pruned as it expires.
type logins struct {
	mu      sync.Mutex
	pushed  map[string]*pushed // by request_uri
	codes   map[string]*authCode
	refresh map[string]*grant // every refresh token ever issued (old ones detect reuse)
}

func (l *logins) init() {
	l.pushed, l.codes, l.refresh = map[string]*pushed{}, map[string]*authCode{}, map[string]*grant{}
}

// pruneLocked drops expired entries once the maps grow; l.mu must be held.
func (l *logins) pruneLocked(now time.Time) bool {
	if len(l.pushed)+len(l.codes)+len(l.refresh) < maxLoginEntries {
		return true
	}
	for k, p := range l.pushed {
		if !now.Before(p.expires) {
			delete(l.pushed, k)
		}
	}
	for k, c := range l.codes {
		if !now.Before(c.expires) {
			delete(l.codes, k)
		}
	}
	for k, g := range l.refresh {
		if g.revoked || !now.Before(g.expires) {
			delete(l.refresh, k)
		}
	}
	return len(l.pushed)+len(l.codes)+len(l.refresh) < maxLoginEntries
}

// servePAR is the pushed authorization request endpoint (RFC 9126): private_key_jwt, an
// optional DPoP proof (and dpop_jkt, which must name the proof's key) binding the code, and the
// FAPI 2.0 checks of the pushed parameters.
func (s *Server) servePAR(w http.ResponseWriter, r *http.Request) {
	resp, oerr := s.par(r)
	if s.opts.Nonce == NonceRotating || (oerr != nil && oerr.code == errUseDPoPNonce) {
		w.Header().Set("DPoP-Nonce", s.asNonce.value())
	}
	if oerr != nil {
		writeError(w, oerr)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) par(r *http.Request) (map[string]any, *oauthError) {
	form, oerr := readTokenForm(r, "resource")
	if oerr != nil {
		return nil, oerr
	}
	if _, ok := form["request_uri"]; ok {
		return nil, newError(errInvalidRequest, "request_uri must not be pushed (RFC 9126 §2.1)")
	}
	a, key, oerr := s.authenticateRequest(r, form, s.issuer+PARPath, proofOptional)
	if oerr != nil {
		return nil, oerr
	}
	c := a.client
	org := defaultOrg(c)
	if raw, ok := form["request"]; ok {
		if org, oerr = s.requestObjectOrg(c, raw[0]); oerr != nil {
			return nil, oerr
		}
	}
	p := &pushed{clientID: c.reg.ID, redirectURI: form.Get("redirect_uri"), scope: form.Get("scope"), state: form.Get("state"),
		nonce: form.Get("nonce"), challenge: form.Get("code_challenge"), resources: form["resource"], org: org, expires: s.now().Add(RequestURILifetime)}
	switch jkt := form.Get("dpop_jkt"); {
	case key != nil && jkt != "" && jkt != key.jkt:
		return nil, newError(errInvalidRequest, "dpop_jkt is not the thumbprint of the DPoP proof's key")
	case key != nil:
		p.jkt = key.jkt
	default:
		p.jkt = jkt
	}
	switch {
	case form.Get("response_type") != "code":
		return nil, newError(errInvalidRequest, "response_type must be code")
	case form.Get("client_id") != c.reg.ID:
		return nil, newError(errInvalidRequest, "client_id must be the authenticated client")
	case !slices.Contains(c.reg.RedirectURIs, p.redirectURI):
		return nil, newError(errInvalidRequest, "redirect_uri is not registered for the client")
	case p.challenge == "" || form.Get("code_challenge_method") != "S256":
		return nil, newError(errInvalidRequest, "PKCE with code_challenge_method S256 is required")
	case len(p.state) > 512 || len(p.nonce) > 512:
		return nil, newError(errInvalidRequest, "state or nonce is too long")
	}
	if p.scope == "" {
		return nil, newError(errInvalidRequest, "scope is required")
	}
	p.scopes = strings.Split(p.scope, " ")
	if !slices.Contains(p.scopes, "openid") {
		return nil, newError(errInvalidScope, "scope must contain openid")
	}
	for _, sc := range p.scopes {
		if !validScopeToken(sc) || !slices.Contains(c.reg.Scopes, sc) {
			return nil, newError(errInvalidScope, "scope "+short(sc)+" is malformed or not allowed for the client")
		}
	}
	apis := apisOf(p.scopes)
	for _, res := range p.resources {
		if !slices.Contains(apis, res) {
			return nil, newError(errInvalidTarget, "resource "+short(res)+" is not the API of a requested scope")
		}
	}
	id := requestURIPrefix + randomToken(24)
	s.login.mu.Lock()
	defer s.login.mu.Unlock()
	if !s.login.pruneLocked(s.now()) {
		return nil, newError(errTemporarilyUnavail, "helseidtest: too many pending logins")
	}
	s.login.pushed[id] = p
	return map[string]any{"request_uri": id, "expires_in": int64(RequestURILifetime / time.Second)}, nil
}

// requestObjectOrg checks a request object pushed with PAR as HelseID's samples make it (signed
// like a client assertion by the client's key, with client_id) and returns
// the organisation of its authorization_details.
func (s *Server) requestObjectOrg(c *registeredClient, raw string) (orgClaims, *oauthError) {
	ro, err := s.validateAssertion(raw, c.reg.ID)
	if err != nil {
		return orgClaims{}, newError(errInvalidRequestObject, "request object: "+err.Error())
	}
	if ro.client != c {
		return orgClaims{}, newError(errInvalidRequestObject, "request object: signed for another client")
	}
	if id, _, _ := ro.claims.str("client_id"); id != c.reg.ID {
		return orgClaims{}, newError(errInvalidRequestObject, "request object: client_id must be the client")
	}
	if oerr := s.consumeAssertion(ro); oerr != nil {
		return orgClaims{}, newError(errInvalidRequestObject, "request object: jti has already been used")
	}
	return orgFromDetails(c, ro.claims["authorization_details"])
}

// apisOf returns the APIs the scopes belong to, in order, without repeats.
func apisOf(scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		if api := apiOf(sc); api != "" && !isIdentityScope(sc) && !slices.Contains(out, api) {
			out = append(out, api)
		}
	}
	return out
}

// serveAuthorize is the authorization endpoint: it takes only client_id and request_uri (PAR
// is required), logs the configured test user in at once, and redirects to the pushed
// redirect_uri with code, state and iss (RFC 9207). Faults set with SetLoginFault apply here.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, newError(errInvalidRequest, "the authorization endpoint accepts GET"))
		return
	}
	q := r.URL.Query()
	for name := range q {
		if name != "client_id" && name != "request_uri" {
			writeError(w, newError(errInvalidRequest, "only client_id and request_uri may be sent to the authorization endpoint (PAR is required)"))
			return
		}
	}
	now := s.now()
	s.login.mu.Lock()
	p := s.login.pushed[q.Get("request_uri")]
	delete(s.login.pushed, q.Get("request_uri")) // single use, whatever happens next
	if p == nil || !now.Before(p.expires) || p.clientID != q.Get("client_id") {
		s.login.mu.Unlock()
		writeError(w, newError(errInvalidRequest, "request_uri is unknown, used, expired or for another client"))
		return
	}
	code := randomToken(32)
	user := s.opts.User
	if user == (TestUser{}) {
		user = DefaultTestUser()
	}
	s.login.codes[code] = &authCode{req: p, user: user, sid: randomToken(16), authTime: now, expires: now.Add(CodeLifetime)}
	s.login.mu.Unlock()

	back := url.Values{"code": {code}, "iss": {s.issuer}}
	if p.state != "" {
		back.Set("state", p.state)
	}
	s.loginFaults().applyToCallback(back)
	target, _ := url.Parse(p.redirectURI)
	qs := target.Query()
	for k, v := range back {
		qs[k] = v
	}
	target.RawQuery = qs.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

// redeemCode is the authorization_code grant: the pushed redirect_uri, PKCE S256, a code used
// once (a replay revokes what the first use granted), the key bound at PAR, at most one
// resource, and no scope parameter (HelseID takes the pushed scope).
func (s *Server) redeemCode(a *clientAssertion, form url.Values, jkt string) (*TokenResponse, *oauthError) {
	c := a.client
	if _, ok := a.claims["assertion_details"]; ok {
		// HelseID's HID-1009: organisation numbers at the code exchange belong in a request
		// object; switch organisation with a refresh instead.
		return nil, newError(errInvalidRequest, "assertion_details is not accepted with authorization_code (HID-1009); use a refresh")
	}
	if _, ok := form["scope"]; ok {
		return nil, newError(errInvalidRequest, "scope is not accepted with authorization_code; it was pushed")
	}
	now := s.now()
	s.login.mu.Lock()
	defer s.login.mu.Unlock()
	code := s.login.codes[form.Get("code")]
	switch {
	case code == nil || code.req.clientID != c.reg.ID || !now.Before(code.expires):
		return nil, newError(errInvalidGrant, "code is unknown, expired or for another client")
	case code.used:
		if code.grant != nil {
			code.grant.revoked = true
		}
		return nil, newError(errInvalidGrant, "code has already been used; what it granted is revoked")
	}
	code.used = true
	p := code.req
	if form.Get("redirect_uri") != p.redirectURI {
		return nil, newError(errInvalidGrant, "redirect_uri is not the one of the authorization request")
	}
	verifier := form.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	if len(verifier) < 43 || len(verifier) > 128 || subtle.ConstantTimeCompare([]byte(b64.EncodeToString(sum[:])), []byte(p.challenge)) != 1 {
		return nil, newError(errInvalidGrant, "code_verifier does not match the code_challenge")
	}
	if p.jkt != "" && p.jkt != jkt {
		return nil, newError(errInvalidGrant, "the DPoP key is not the one bound at PAR")
	}
	api, oerr := pickResource(form, p.scopes, p.resources)
	if oerr != nil {
		return nil, oerr
	}
	resp, oerr := s.userTokens(c, p.org, p.scopes, api, jkt, code.user, code.sid, code.authTime, p.nonce, true, now)
	if oerr != nil {
		return nil, oerr
	}
	if slices.Contains(p.scopes, "offline_access") {
		g := &grant{clientID: c.reg.ID, org: p.org, scopes: p.scopes, resources: p.resources, user: code.user, sid: code.sid, expires: now.Add(RefreshTokenLifetime)}
		s.issueRefreshLocked(g, resp, now)
		code.grant = g
	}
	s.afterIssue()
	return resp, nil
}

// refresh is the refresh_token grant with rotation: every use returns a new refresh token,
// and presenting an old one revokes the whole grant (as the OpenID conformance suite and
// one-time-use servers do). At most one resource per request.
func (s *Server) refresh(a *clientAssertion, form url.Values, jkt string) (*TokenResponse, *oauthError) {
	c := a.client
	if _, ok := form["scope"]; ok {
		return nil, newError(errInvalidRequest, "helseidtest: scope is not supported with refresh_token; use resource")
	}
	now := s.now()
	s.login.mu.Lock()
	defer s.login.mu.Unlock()
	rt := form.Get("refresh_token")
	g := s.login.refresh[rt]
	switch {
	case g == nil || g.clientID != c.reg.ID:
		return nil, newError(errInvalidGrant, "refresh_token is unknown or for another client")
	case g.revoked:
		return nil, newError(errInvalidGrant, "the grant is revoked")
	case !now.Before(g.expires):
		return nil, newError(errInvalidGrant, "refresh_token has expired")
	case g.current != rt:
		g.revoked = true
		return nil, newError(errInvalidGrant, "refresh_token was already used: the grant is revoked")
	}
	api, oerr := pickResource(form, g.scopes, g.resources)
	if oerr != nil {
		return nil, oerr
	}
	// The organisation may change with a refresh (assertion_details in its assertion) and
	// stays changed for the grant.
	if _, named := a.claims["assertion_details"]; named {
		org, oerr := resolveOrg(c, a.claims)
		if oerr != nil {
			return nil, oerr
		}
		g.org = org
	}
	resp, oerr := s.userTokens(c, g.org, g.scopes, api, jkt, g.user, g.sid, time.Time{}, "", false, now)
	if oerr != nil {
		return nil, oerr
	}
	s.issueRefreshLocked(g, resp, now)
	s.afterIssue()
	return resp, nil
}

func (s *Server) issueRefreshLocked(g *grant, resp *TokenResponse, now time.Time) {
	g.current = randomToken(32)
	s.login.refresh[g.current] = g
	resp.RefreshToken = g.current
	resp.RTExpiresIn = int64(g.expires.Sub(now) / time.Second)
}

// pickResource returns the API of the one token: the resource parameter (one of the pushed
// ones, or of the scopes' APIs), or the only API when the scopes name one.
func pickResource(form url.Values, scopes, resources []string) (string, *oauthError) {
	apis := apisOf(scopes)
	if res, ok := form["resource"]; ok {
		allowed := resources
		if len(allowed) == 0 {
			allowed = apis
		}
		if !slices.Contains(allowed, res[0]) {
			return "", newError(errInvalidTarget, "resource "+short(res[0])+" was not part of the authorization request")
		}
		return res[0], nil
	}
	if len(apis) == 1 {
		return apis[0], nil
	}
	return "", newError(errInvalidTarget, "name exactly one resource: HelseID APIs accept tokens with one audience")
}

// userTokens issues a user's access token for api (with the scopes of that API), and with
// withIDToken the ID token (RS256; nonce, at_hash, sid, auth_time and the user's claims).
func (s *Server) userTokens(c *registeredClient, org orgClaims, scopes []string, api, jkt string, user TestUser, sid string, authTime time.Time, nonce string, withIDToken bool, now time.Time) (*TokenResponse, *oauthError) {
	var apiScopes []string
	for _, sc := range scopes {
		if !isIdentityScope(sc) && apiOf(sc) == api {
			apiScopes = append(apiScopes, sc)
		}
	}
	claims := s.accessTokenClaims(c, apiScopes, api, jkt, org, now)
	claims.Subject = pseudonym(user.PID)
	claims.PID, claims.SecurityLevel, claims.HPRNumber, claims.Name = user.PID, user.SecurityLevel, user.HPRNumber, user.Name
	at, err := s.signAccessToken(claims)
	if err != nil {
		return nil, newError(errServerError, "helseidtest: cannot sign the access token")
	}
	resp := &TokenResponse{AccessToken: at, TokenType: "DPoP", ExpiresIn: int64(s.opts.AccessTokenLifetime / time.Second), Scope: strings.Join(scopes, " ")}
	if withIDToken {
		resp.IDToken, err = s.idToken(c.reg.ID, user, sid, authTime, nonce, at, now)
		if err != nil {
			return nil, newError(errServerError, "helseidtest: cannot sign the id token")
		}
	}
	s.loginFaults().applyToTokenResponse(resp)
	return resp, nil
}

// idToken signs an OpenID Connect ID token the way HelseID does: RS256 (or
// Options.IDTokenAlgorithm) with kid, typ JWT.
func (s *Server) idToken(clientID string, user TestUser, sid string, authTime time.Time, nonce, accessToken string, now time.Time) (string, error) {
	sum := sha256.Sum256([]byte(accessToken))
	claims := map[string]any{
		"iss": s.issuer, "sub": pseudonym(user.PID), "aud": clientID,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(IDTokenLifetime).Unix(),
		"auth_time": authTime.Unix(), "sid": sid, "at_hash": b64.EncodeToString(sum[:16]),
		"idp": "testidp-oidc", "amr": []string{"pwd"},
		ClaimPID: user.PID, ClaimSecurityLevel: user.SecurityLevel,
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if user.HPRNumber != "" {
		claims[ClaimHPRNumber] = user.HPRNumber
	}
	if user.Name != "" {
		claims["name"] = user.Name
	}
	alg, key := jwa.SignatureAlgorithm(s.opts.IDTokenAlgorithm), any(s.keys.current().priv)
	kid := s.keys.current().kid
	faults := s.loginFaults()
	faults.applyToIDToken(claims, clientID, s.issuer, now)
	if faults.IDTokenAltKey {
		alg, key, kid = jwa.RS256, s.altKey().priv, s.altKey().kid
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	if faults.IDTokenAlgNone {
		return b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64.EncodeToString(payload) + ".", nil
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
		return "", err
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", err
	}
	tok, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", err
	}
	if faults.IDTokenBadSignature {
		tok[len(tok)-5] ^= 0x01
	}
	return string(tok), nil
}

// Claim names of ID tokens.
const (
	ClaimPID           = "helseid://claims/identity/pid"
	ClaimSecurityLevel = "helseid://claims/identity/security_level"
	ClaimHPRNumber     = "helseid://claims/hpr/hpr_number"
)

// serveEndSession is the end-session endpoint (OpenID Connect RP-Initiated Logout): an
// id_token_hint signed by the server (expired ones too), a post_logout_redirect_uri registered
// for the hint's client, and state echoed back. The login's grants are revoked.
func (s *Server) serveEndSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hint, err := parseCompactJWS(q.Get("id_token_hint"))
	if err == nil {
		kid, _, _ := hint.header.str("kid")
		if key := s.keys.lookup(kid); key == nil || hint.verify(key.pub) != nil {
			err = errNotOurs
		}
	}
	if err != nil {
		writeError(w, newError(errInvalidRequest, "id_token_hint is missing or not signed by this server"))
		return
	}
	aud, _, _ := hint.payload.str("aud")
	sid, _, _ := hint.payload.str("sid")
	c := s.client(aud)
	target := q.Get("post_logout_redirect_uri")
	if c == nil || (target != "" && !slices.Contains(c.reg.PostLogoutRedirectURIs, target)) {
		writeError(w, newError(errInvalidRequest, "post_logout_redirect_uri is not registered for the client"))
		return
	}
	s.login.mu.Lock()
	for _, g := range s.login.refresh {
		if g.sid == sid {
			g.revoked = true
		}
	}
	s.login.mu.Unlock()
	if target == "" {
		writeJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
		return
	}
	u, _ := url.Parse(target)
	if st := q.Get("state"); st != "" {
		qs := u.Query()
		qs.Set("state", st)
		u.RawQuery = qs.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

var errNotOurs = errors.New("not signed by this server")

// serveRevocation is the revocation endpoint (RFC 7009) for refresh tokens: the client
// authenticates with private_key_jwt; its grant is revoked. Unknown tokens get 200 too.
func (s *Server) serveRevocation(w http.ResponseWriter, r *http.Request) {
	form, oerr := readTokenForm(r)
	if oerr == nil {
		var a *clientAssertion
		if a, oerr = s.authenticateClient(r, form); oerr == nil {
			oerr = s.consumeAssertion(a)
			if oerr == nil {
				s.login.mu.Lock()
				if g := s.login.refresh[form.Get("token")]; g != nil && g.clientID == a.client.reg.ID {
					g.revoked = true
				}
				s.login.mu.Unlock()
			}
		}
	}
	if oerr != nil {
		writeError(w, oerr)
		return
	}
	w.WriteHeader(http.StatusOK)
}
