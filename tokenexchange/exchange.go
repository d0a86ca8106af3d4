package tokenexchange

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/helseid-go/sdk/internal/tokencache"
)

// GrantType is the token-exchange grant_type (RFC 8693 §2.1).
const GrantType = "urn:ietf:params:oauth:grant-type:token-exchange"

// Token type identifiers (RFC 8693 §3).
const (
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT          = "urn:ietf:params:oauth:token-type:jwt"
)

var (
	// ErrInvalidRequest reports a Request the Exchanger refuses before sending it.
	ErrInvalidRequest = errors.New("invalid token exchange request")
	// ErrInvalidGrant is the authorization server's answer to a subject token it does not
	// accept (expired, revoked, for another audience): errors.Is holds for any invalid_grant.
	ErrInvalidGrant error = fapi.ErrInvalidGrant
	// ErrSubjectExpired reports a subject token past its expiry, refused by Cache without a
	// request. errors.Is(err, ErrInvalidGrant) holds for it too, as for the server's answer.
	ErrSubjectExpired error = subjectExpired{}
	// ErrClosed is returned by a closed Cache once it has no still-valid token for the
	// request. It is the same value as helseid.ErrClosed.
	ErrClosed = tokencache.ErrClosed
)

type subjectExpired struct{}

func (subjectExpired) Error() string { return "token exchange: the subject token has expired" }

// Is makes ErrSubjectExpired match ErrInvalidGrant.
func (subjectExpired) Is(target error) bool { return target == ErrInvalidGrant }

// Request is one token exchange (RFC 8693 §2.1). Formatting, logging and marshalling it never
// show the subject or actor token.
type Request struct {
	// SubjectToken is the token to exchange, such as the access token an API received.
	// Required.
	SubjectToken string
	// SubjectTokenType is its type; empty means TokenTypeAccessToken.
	SubjectTokenType string
	// Scopes of the token wanted, sent space-separated in this order.
	Scopes []string
	// Resources and Audiences name where the token will be used.
	Resources []string
	Audiences []string
	// ActorToken, with ActorTokenType, represents the party acting; most servers (HelseID
	// among them) identify the actor by its client authentication instead.
	ActorToken     string
	ActorTokenType string
	// RequestedTokenType is the type wanted; empty leaves it to the server. The response's
	// issued_token_type must equal it when set.
	RequestedTokenType string
	// SubjectExpiry is when the subject token expires, if the caller knows (a validated
	// token's exp). Cache keeps no result beyond it; when zero, Cache reads exp from a JWT
	// subject token.
	SubjectExpiry time.Time
}

// Exchanger makes token exchanges at one authorization server. It is safe for concurrent use.
type Exchanger struct {
	endpoint *fapi.Client
	now      func() time.Time
}

// New returns an Exchanger for tokenEndpoint with the settings of the client's token
// requests (see fapi.Settings): ClientAuth authenticates the actor, the client making the
// exchange; a Proofer binds the issued token to its key with DPoP (RFC 9449). It makes no
// network call.
func New(tokenEndpoint string, s fapi.Settings) (*Exchanger, error) {
	endpoint, err := fapi.NewClient(tokenEndpoint, s)
	if err != nil {
		return nil, fmt.Errorf("token exchange: %w", err)
	}
	ex := &Exchanger{endpoint: endpoint, now: s.Now}
	if ex.now == nil {
		ex.now = time.Now
	}
	return ex, nil
}

// Exchange sends req and returns the issued token. Errors wrap *fapi.Error for the server's
// answers, ErrInvalidRequest, fapi.ErrInvalidResponse or a transport error, and never contain a
// token or an assertion.
func (e *Exchanger) Exchange(ctx context.Context, req Request) (*fapi.TokenResponse, error) {
	params, err := req.form()
	if err != nil {
		return nil, err
	}
	sent := e.now()
	body, _, err := e.endpoint.Post(ctx, params, http.StatusOK, fapi.Idempotent)
	if err != nil {
		return nil, fmt.Errorf("token exchange: %w", err)
	}
	resp, err := fapi.ParseResponse(body, sent)
	if err != nil {
		return nil, fmt.Errorf("token exchange: %w", err)
	}
	// RFC 8693 §2.2.1: a token that is not an access token comes with token_type N_A.
	notAccess := resp.IssuedTokenType != TokenTypeAccessToken && strings.EqualFold(resp.TokenType, "N_A")
	if !notAccess {
		if err := fapi.CheckTokenType(resp.TokenType, e.endpoint.DPoP()); err != nil {
			return nil, fmt.Errorf("token exchange: %w", err)
		}
	}
	switch {
	case resp.IssuedTokenType == "":
		return nil, fmt.Errorf("token exchange: %w: issued_token_type is missing", fapi.ErrInvalidResponse)
	case req.RequestedTokenType != "" && resp.IssuedTokenType != req.RequestedTokenType:
		return nil, fmt.Errorf("token exchange: %w: issued_token_type %.80q is not the requested type", fapi.ErrInvalidResponse, resp.IssuedTokenType)
	}
	return resp, nil
}

// validate checks req without building anything: it runs on every cache lookup.
func (req Request) validate() error {
	if req.SubjectToken == "" {
		return fmt.Errorf("%w: SubjectToken is empty", ErrInvalidRequest)
	}
	if strings.ContainsAny(req.SubjectToken, " \t\r\n") || strings.ContainsAny(req.ActorToken, " \t\r\n") {
		return fmt.Errorf("%w: a token contains white space", ErrInvalidRequest)
	}
	for _, tt := range [...]struct{ name, v string }{{"SubjectTokenType", req.SubjectTokenType}, {"ActorTokenType", req.ActorTokenType}, {"RequestedTokenType", req.RequestedTokenType}} {
		if tt.v != "" && !validTokenType(tt.v) {
			return fmt.Errorf("%w: %s %.80q is not an absolute URI", ErrInvalidRequest, tt.name, tt.v)
		}
	}
	if (req.ActorToken == "") != (req.ActorTokenType == "") {
		return fmt.Errorf("%w: ActorToken and ActorTokenType go together (RFC 8693 §2.1)", ErrInvalidRequest)
	}
	for _, s := range req.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			return fmt.Errorf("%w: scope %.64q is empty or has white space, quotes or backslashes", ErrInvalidRequest, s)
		}
	}
	for _, list := range [...][]string{req.Resources, req.Audiences} {
		for _, v := range list {
			if v == "" {
				return fmt.Errorf("%w: an empty resource or audience", ErrInvalidRequest)
			}
		}
	}
	return nil
}

// subjectType is the subject_token_type sent.
func (req Request) subjectType() string {
	if req.SubjectTokenType == "" {
		return TokenTypeAccessToken
	}
	return req.SubjectTokenType
}

// form validates req and returns its parameters.
func (req Request) form() (url.Values, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	params := url.Values{
		"grant_type":         {GrantType},
		"subject_token":      {req.SubjectToken},
		"subject_token_type": {req.subjectType()},
	}
	if len(req.Scopes) > 0 {
		params.Set("scope", strings.Join(req.Scopes, " "))
	}
	for _, v := range req.Resources {
		params.Add("resource", v)
	}
	for _, v := range req.Audiences {
		params.Add("audience", v)
	}
	if req.ActorToken != "" {
		params.Set("actor_token", req.ActorToken)
		params.Set("actor_token_type", req.ActorTokenType)
	}
	if req.RequestedTokenType != "" {
		params.Set("requested_token_type", req.RequestedTokenType)
	}
	return params, nil
}

// validTokenType accepts an absolute URI such as urn:ietf:params:oauth:token-type:jwt: a
// scheme (RFC 3986 §3.1), a colon, and no white space or control characters.
func validTokenType(v string) bool {
	colon := strings.IndexByte(v, ':')
	if colon <= 0 || colon == len(v)-1 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c == 0x7f {
			return false
		}
		if i < colon && !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}
