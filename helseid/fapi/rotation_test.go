package fapi

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyedAuth is a RotatingAuthenticator over named keys: each request starts with the first,
// and next gives the others in order.
type keyedAuth struct{ keys []string }

type keyAttempt string

func (k keyAttempt) Authenticate(form url.Values) error {
	form.Set("client_assertion", "signed-by-"+string(k))
	return nil
}

func (a *keyedAuth) Authenticate(form url.Values) error {
	return keyAttempt(a.keys[0]).Authenticate(form)
}

func (a *keyedAuth) Keys() (ClientAuthenticator, func() ClientAuthenticator) {
	rest := a.keys[1:]
	return keyAttempt(a.keys[0]), func() ClientAuthenticator {
		if len(rest) == 0 {
			return nil
		}
		next := rest[0]
		rest = rest[1:]
		return keyAttempt(next)
	}
}

var invalidClient = reply(401, `{"error":"invalid_client"}`)

// A request the server refuses as invalid_client is sent again with each other key of a
// RotatingAuthenticator, one-time grants included; no other error is, and a plain
// authenticator is never retried.
func TestRotatingAuthenticatorTriesOtherKeys(t *testing.T) {
	cases := []struct {
		name    string
		auth    ClientAuthenticator
		grant   string
		replies []func(http.ResponseWriter)
		keys    []string // signers of the requests sent, in order
		err     error
	}{
		{name: "second key accepted", auth: &keyedAuth{keys: []string{"old", "new"}}, grant: "client_credentials",
			replies: []func(http.ResponseWriter){invalidClient, reply(200, okDPoP)}, keys: []string{"old", "new"}},
		{name: "code exchange sent again after invalid_client only", auth: &keyedAuth{keys: []string{"old", "new"}}, grant: "authorization_code",
			replies: []func(http.ResponseWriter){invalidClient, reply(200, okDPoP)}, keys: []string{"old", "new"}},
		{name: "refresh sent again after invalid_client", auth: &keyedAuth{keys: []string{"old", "new"}}, grant: "refresh_token",
			replies: []func(http.ResponseWriter){invalidClient, reply(200, okDPoP)}, keys: []string{"old", "new"}},
		{name: "each key once, then the refusal", auth: &keyedAuth{keys: []string{"a", "b", "c"}}, grant: "client_credentials",
			replies: []func(http.ResponseWriter){invalidClient}, keys: []string{"a", "b", "c"}, err: ErrInvalidClient},
		{name: "a nonce challenge, then the other key", auth: &keyedAuth{keys: []string{"old", "new"}}, grant: "client_credentials",
			replies: []func(http.ResponseWriter){nonceChallenge, invalidClient, reply(200, okDPoP)}, keys: []string{"old", "old", "new"}},
		{name: "invalid_grant is not a key's fault", auth: &keyedAuth{keys: []string{"old", "new"}}, grant: "authorization_code",
			replies: []func(http.ResponseWriter){reply(400, `{"error":"invalid_grant"}`)}, keys: []string{"old"}, err: ErrInvalidGrant},
		{name: "a 500 on a code exchange is not retried with any key", auth: &keyedAuth{keys: []string{"old", "new"}}, grant: "authorization_code",
			replies: []func(http.ResponseWriter){reply(500, `{"error":"server_error"}`), reply(200, okDPoP)}, keys: []string{"old"}, err: &Error{Code: "server_error"}},
		{name: "a plain authenticator is not retried", auth: keyAttempt("only"), grant: "client_credentials",
			replies: []func(http.ResponseWriter){invalidClient, reply(200, okDPoP)}, keys: []string{"only"}, err: ErrInvalidClient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScript(t, tc.replies...)
			c, _ := newClient(t, srv.URL, true)
			c.auth = tc.auth
			_, err := c.Token(context.Background(), url.Values{"grant_type": {tc.grant}})
			if tc.err == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.err)
			}
			var signers []string
			for _, r := range srv.recorded() {
				signers = append(signers, r.form.Get("client_assertion")[len("signed-by-"):])
				assert.Equal(t, tc.grant, r.form.Get("grant_type"))
			}
			assert.Equal(t, tc.keys, signers)
		})
	}
}
