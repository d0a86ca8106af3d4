package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOldSessionKeys(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	b1, b2 := base64.StdEncoding.EncodeToString(k1), base64.StdEncoding.EncodeToString(k2)
	short := base64.StdEncoding.EncodeToString(k1[:16])
	for name, tc := range map[string]struct {
		list    string
		want    [][]byte
		wantErr string
	}{
		"unset":             {list: ""},
		"one":               {list: b1, want: [][]byte{k1}},
		"two, spaced":       {list: b1 + " , " + b2, want: [][]byte{k1, k2}},
		"trailing comma":    {list: b1 + ",", want: [][]byte{k1}},
		"not base64":        {list: b1 + ",%%%", wantErr: "key 2 must be base64 of 32 bytes"},
		"16 bytes":          {list: short, wantErr: "key 1 must be base64 of 32 bytes"},
		"url-safe alphabet": {list: base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), wantErr: "key 1"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := oldSessionKeys(tc.list)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.NotContains(t, err.Error(), short, "the error does not echo a key")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// With a real HelseID (HELSEID_ISSUER) the development sealing key is refused before
// anything starts; a key of the operator's is taken.
func TestDevelopmentSealKeyRefusedWithARealIssuer(t *testing.T) {
	env := map[string]string{"HELSEID_REDIS_URL": "redis://127.0.0.1:1/0", "HELSEID_ISSUER": "https://helseid-sts.test.nhn.no"}
	getenv := func(k string) string { return env[k] }
	ready := func(string, string) { t.Error("the app must not start") }
	err := run(context.Background(), getenv, io.Discard, ready)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HELSEID_SESSION_KEY")
	assert.Contains(t, err.Error(), "development key is refused")

	env["HELSEID_SESSION_KEY"] = base64.StdEncoding.EncodeToString(make([]byte, 32))
	err = run(context.Background(), getenv, io.Discard, ready)
	require.Error(t, err, "the rest of the configuration is missing")
	assert.NotContains(t, err.Error(), "HELSEID_SESSION_KEY", "the key itself is accepted")
}
