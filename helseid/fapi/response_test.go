package fapi

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Members the TokenResponse has no field for reach the caller in Extra, and formatting does
// not show them.
func TestParseResponseExtra(t *testing.T) {
	resp, err := ParseResponse([]byte(`{"access_token":"AT","token_type":"DPoP","expires_in":60,
		"authorization_details":[{"type":"x"}],"custom_secret":"EXTRA-SECRET"}`), time.Now())
	require.NoError(t, err)
	assert.Equal(t, map[string]json.RawMessage{"authorization_details": json.RawMessage(`[{"type":"x"}]`),
		"custom_secret": json.RawMessage(`"EXTRA-SECRET"`)}, resp.Extra)
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", resp, resp, *resp), "EXTRA-SECRET")

	resp, err = ParseResponse([]byte(`{"access_token":"AT","token_type":"DPoP","scope":"s"}`), time.Now())
	require.NoError(t, err)
	assert.Nil(t, resp.Extra, "no extra members, no map")
}
