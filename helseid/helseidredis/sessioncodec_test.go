package helseidredis

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fullClaims sets every exported field of IDTokenClaims by reflection, so that a field added
// to it later and not to the record's layout fails TestSessionCodecRoundTrip.
func fullClaims(t *testing.T) *helseid.IDTokenClaims {
	t.Helper()
	c := &helseid.IDTokenClaims{}
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		name := v.Type().Field(i).Name
		switch f.Interface().(type) {
		case string:
			f.SetString("value of " + name)
		case []string:
			f.Set(reflect.ValueOf([]string{name + "-1", name + "-2"}))
		case time.Time:
			f.Set(reflect.ValueOf(time.Unix(1_800_000_000+int64(i), 123_456_789+int64(i)).UTC()))
		case map[string]json.RawMessage:
			f.Set(reflect.ValueOf(map[string]json.RawMessage{"sub": json.RawMessage(`"abc"`), "amr": json.RawMessage(`["pwd"]`), "empty": {}}))
		default:
			t.Fatalf("IDTokenClaims.%s has a type the session record does not keep: add it to the layout and here", name)
		}
	}
	return c
}

func fullRecord(t *testing.T) *helseid.StoredSession {
	return &helseid.StoredSession{Generation: 1 << 40, RefreshToken: "rt-secret", RefreshExpiry: time.Unix(1_900_000_000, 5).UTC(),
		DPoPKey: []byte(`{"kty":"EC","crv":"P-256","d":"secret"}`), IDToken: "id.token.sig", Claims: fullClaims(t),
		Organization: helseid.Organization{Parent: "999999999", Child: "888888888"}, Resource: "nhn:service-a",
		Tokens: map[string]fapi.Token{
			"nhn:service-a": {AccessToken: "at-a", Expiry: time.Unix(1_800_000_100, 0).UTC()},
			"nhn:service-b": {AccessToken: "at-b"},
		}}
}

func TestSessionCodecRoundTrip(t *testing.T) {
	// StoredSession's fields are listed here: one added without a place in the layout fails.
	require.Equal(t, 9, reflect.TypeOf(helseid.StoredSession{}).NumField(), "a StoredSession field is missing from the session record's layout")
	supplier := fullRecord(t)
	supplier.Organization = helseid.SupplierOrganization()
	nils := fullRecord(t)
	nils.Claims.Audience, nils.Claims.AMR, nils.Claims.Raw = nil, []string{}, nil
	tests := []struct {
		name string
		rec  *helseid.StoredSession
	}{
		{"every field", fullRecord(t)},
		{"supplier organisation", supplier},
		{"nil and empty lists kept apart", nils},
		{"no claims, tokens or organisation", &helseid.StoredSession{Generation: 1, RefreshToken: "rt", DPoPKey: []byte("{}"), Tokens: map[string]fapi.Token{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := encodeSession(tt.rec)
			require.Equal(t, byte(sessionCodecV2), plain[0])
			got, err := decodeSession(plain)
			require.NoError(t, err)
			assert.Equal(t, tt.rec, got)
			assert.Equal(t, tt.rec.Organization.IsSupplier(), got.Organization.IsSupplier())
		})
	}
}

// A record decoded from the binary layout shares the plaintext: a user appending to one of
// its byte fields must not write into the next.
func TestSessionCodecBytesAreCapped(t *testing.T) {
	rec := fullRecord(t)
	got, err := decodeSession(encodeSession(rec))
	require.NoError(t, err)
	_ = append(got.DPoPKey, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
	for k, v := range got.Claims.Raw {
		_ = append(v, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
		assert.Equal(t, string(rec.Claims.Raw[k]), string(got.Claims.Raw[k]))
	}
	assert.Equal(t, rec, got)
}

// Records written as JSON before the binary layout still open.
func TestSessionCodecReadsJSONRecords(t *testing.T) {
	rec := fullRecord(t)
	delete(rec.Claims.Raw, "empty") // json cannot write an empty RawMessage
	j := storedJSON{Generation: rec.Generation, RefreshToken: rec.RefreshToken, RefreshExpiry: rec.RefreshExpiry,
		DPoPKey: rec.DPoPKey, IDToken: rec.IDToken, Claims: rec.Claims, Resource: rec.Resource,
		OrgParent: rec.Organization.Parent, OrgChild: rec.Organization.Child, Tokens: map[string]storedAccess{}}
	for r, tok := range rec.Tokens {
		j.Tokens[r] = storedAccess{AccessToken: tok.AccessToken, Expiry: tok.Expiry}
	}
	plain, err := json.Marshal(j)
	require.NoError(t, err)
	got, err := decodeSession(plain)
	require.NoError(t, err)
	assert.Equal(t, rec, got)

	j.OrgParent, j.OrgChild, j.OrgSupplier = "", "", true
	plain, err = json.Marshal(j)
	require.NoError(t, err)
	got, err = decodeSession(plain)
	require.NoError(t, err)
	assert.True(t, got.Organization.IsSupplier())
}

// Every truncation, and a trailing byte, is refused rather than read as a shorter record.
func TestSessionCodecRefusesMalformed(t *testing.T) {
	plain := encodeSession(fullRecord(t))
	for n := 1; n < len(plain); n++ {
		_, err := decodeSession(plain[:n])
		require.ErrorIs(t, err, errSessionCodec, "truncated to %d bytes", n)
	}
	_, err := decodeSession(append(plain[:len(plain):len(plain)], 0))
	assert.ErrorIs(t, err, errSessionCodec)
	// A count far beyond the record's length allocates nothing big and is refused.
	_, err = decodeSession([]byte{sessionCodecV2, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	assert.ErrorIs(t, err, errSessionCodec)
}

func FuzzDecodeSession(f *testing.F) {
	rec := &helseid.StoredSession{Generation: 3, RefreshToken: "rt", DPoPKey: []byte("{}"), Claims: &helseid.IDTokenClaims{Subject: "s",
		Raw: map[string]json.RawMessage{"sub": json.RawMessage(`"s"`)}}, Tokens: map[string]fapi.Token{"r": {AccessToken: "a", Expiry: time.Unix(5, 0)}}}
	f.Add(encodeSession(rec))
	f.Add([]byte(`{"gen":1,"rt":"x","dpop_jwk":{}}`))
	f.Add([]byte{sessionCodecV2})
	f.Fuzz(func(t *testing.T, plain []byte) {
		rec, err := decodeSession(plain)
		if err != nil || plain[0] != sessionCodecV2 {
			return
		}
		again, err := decodeSession(encodeSession(rec))
		require.NoError(t, err)
		assert.Equal(t, rec, again)
	})
}

func TestSessionDataKey(t *testing.T) {
	for _, prefix := range []string{"", "app:", strings.Repeat("long-prefix:", 20)} {
		st, err := NewSessionStore(StoreConfig{Redis: redis.NewClient(&redis.Options{ContextTimeoutEnabled: true}), Key: make([]byte, 32), Prefix: prefix})
		require.NoError(t, err)
		for _, id := range []string{"", "abc", strings.Repeat("x", 300)} {
			dk, _ := st.keys(id)
			assert.Equal(t, dk, st.dataKey(id))
		}
	}
	assert.Equal(t, []byte("helseid-session-v1\x00abc"), sessionAAD("abc"))
}
