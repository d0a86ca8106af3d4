package httpx

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenURLAllowed(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://api.example.no/x":       true,
		"HTTPS://api.example.no/x":       true,
		"http://127.0.0.1:8080/x":        true,
		"http://127.9.9.9/x":             true,
		"http://[::1]:8080/x":            true,
		"http://LocalHost:8080/x":        true,
		"http://api.example.no/x":        false,
		"http://10.0.0.1/x":              false,
		"http://localhost.example.no/x":  false,
		"http://localhoſt/x":             false, // Unicode folding would say localhost
		"ftp://127.0.0.1/x":              false,
		"ws://127.0.0.1/x":               false,
		"http://[::ffff:10.0.0.1]:80/x":  false,
		"http://[::ffff:127.0.0.1]:80/x": true,
	} {
		u, err := url.Parse(raw)
		require.NoError(t, err, raw)
		assert.Equal(t, want, TokenURLAllowed(u), raw)
	}
	u, _ := url.Parse("http://127.0.0.1/x")
	assert.Zero(t, testing.AllocsPerRun(100, func() { TokenURLAllowed(u) }))
}
