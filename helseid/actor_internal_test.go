package helseid

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The act claim is read member by member in its exact spelling, as the other claims are.
func TestDecodeActor(t *testing.T) {
	deep := strings.Repeat(`{"client_id":"c","act":`, maxActorDepth+1) + `{}` + strings.Repeat(`}`, maxActorDepth+1)
	for _, tc := range []struct {
		name, act string
		want      *Actor
		wantErr   string
	}{
		{name: "one actor", act: `{"client_id":"sfm-api","sub":"s","iss":"https://i"}`, want: &Actor{ClientID: "sfm-api", Subject: "s", Issuer: "https://i"}},
		{name: "nested", act: `{"client_id":"a","act":{"client_id":"b","act":{"client_id":"c"}}}`,
			want: &Actor{ClientID: "a", Actor: &Actor{ClientID: "b", Actor: &Actor{ClientID: "c"}}}},
		{name: "null members", act: `{"client_id":null,"act":null}`, want: &Actor{}},
		{name: "escaped string", act: `{"client_id":"\u00e6"}`, want: &Actor{ClientID: "æ"}},
		{name: "other members ignored", act: `{"client_id":"a","x":[1,{"y":2}]}`, want: &Actor{ClientID: "a"}},
		{name: "not an object", act: `"a"`, wantErr: "not a json object"},
		{name: "number for client_id", act: `{"client_id":1}`, wantErr: "client_id"},
		{name: "misspelt client_id", act: `{"CLIENT_ID":"a"}`, wantErr: "appears twice"},
		{name: "client_id twice", act: `{"client_id":"a","client_id":"b"}`, wantErr: "appears twice"},
		{name: "nested actor not an object", act: `{"client_id":"a","act":[]}`, wantErr: "act: not a json object"},
		{name: "too deep", act: deep, wantErr: "nested more than 16 deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, json.Valid([]byte(tc.act)), "the test's JSON")
			got, err := decodeActor(json.RawMessage(tc.act), 1)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
