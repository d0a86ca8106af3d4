package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	s := out.String()
	for _, want := range []string{
		"REDACTED",
		`"service": "A"`,
		`"service": "B"`,
		`"client_id": "service-a"`,
		`"pid": "06828399789"`,
		"HelseID issued 2 tokens (the login's and the exchange's)",
		"Done.",
	} {
		assert.Contains(t, s, want)
	}
	assert.NotRegexp(t, `eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.`, s, "no JWT is printed")
}
