package helseid

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

// accessTokenOf's rules for where a token may come from, table by table.
func TestAccessTokenOf(t *testing.T) {
	for name, tc := range map[string]struct {
		target string
		auth   []string
		status int // 0: accepted
	}{
		"dpop":                        {"/x", []string{"DPoP tok"}, 0},
		"dpop, spaces before":         {"/x", []string{"DPoP   tok"}, 0},
		"dpop, another case":          {"/x", []string{"dpop tok"}, 0},
		"a query without the token":   {"/x?a=1", []string{"DPoP tok"}, 0},
		"token in the query":          {"/x?access_token=tok", []string{"DPoP tok"}, http.StatusBadRequest},
		"token in the query, escaped": {"/x?access%5Ftoken=tok", []string{"DPoP tok"}, http.StatusBadRequest},
		"a space in the token":        {"/x", []string{"DPoP to k"}, http.StatusBadRequest},
		"a tab in the token":          {"/x", []string{"DPoP to\tk"}, http.StatusBadRequest},
		"a comma in the token":        {"/x", []string{"DPoP to,k"}, http.StatusBadRequest},
		"no token":                    {"/x", []string{"DPoP "}, http.StatusBadRequest},
		"two headers":                 {"/x", []string{"DPoP a", "DPoP b"}, http.StatusBadRequest},
		"none":                        {"/x", nil, http.StatusUnauthorized},
		"bearer":                      {"/x", []string{"Bearer tok"}, http.StatusUnauthorized},
		"basic":                       {"/x", []string{"Basic dTpw"}, http.StatusUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.target, nil)
			r.Header["Authorization"] = tc.auth
			token, bearer, aerr := accessTokenOf(r, false)
			assert.False(t, bearer)
			if tc.status == 0 {
				if assert.Nil(t, aerr) {
					assert.Equal(t, "tok", token)
				}
				return
			}
			if assert.NotNil(t, aerr) {
				assert.Equal(t, tc.status, aerr.Status)
			}
		})
	}
}
