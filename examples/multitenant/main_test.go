package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, 30))
	s := out.String()
	assert.Equal(t, len(organisations), strings.Count(s, "  yes"))
	assert.Contains(t, s, "HelseID issued 5 tokens (one per organisation, one for the supplier)")
	assert.Contains(t, s, "no organisation in its context: refused (helseid.ErrNoOrganization), nothing sent")
	assert.Contains(t, s, "the supplier's own token (994598759)")
	assert.NotRegexp(t, `eyJ[A-Za-z0-9_-]+\.eyJ`, s)
}
