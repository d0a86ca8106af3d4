package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's run: two rotations while requests go on, none failing.
func TestRunRotatesTwiceWhileServing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out), out.String())
	s := out.String()
	assert.Contains(t, s, "started with key")
	assert.Contains(t, s, "rotation 1: now signing with key")
	assert.Contains(t, s, "rotation 2: now signing with key")
	assert.Contains(t, s, "is the one HelseID holds: true")
	assert.Regexp(t, regexp.MustCompile(`requests served: [1-9][0-9]*, failed: 0\n$`), s)
	assert.NotContains(t, s, "request failed")
	keys := regexp.MustCompile(`key (\S+…)`).FindAllStringSubmatch(s, -1)
	require.GreaterOrEqual(t, len(keys), 3)
	assert.NotEqual(t, keys[0][1], keys[1][1])
	assert.NotEqual(t, keys[1][1], keys[2][1])
	assert.False(t, strings.Contains(s, `"d"`), "no private key printed")
}
