package fapi_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The RFC packages and this one serve any FAPI 2.0 server: none of them may depend on package
// helseid, the HelseID profile (its sub-packages other than this one are HelseID's too).
func TestRFCPackagesDoNotImportHelseid(t *testing.T) {
	const module = "github.com/helseid-go/sdk/"
	for _, pkg := range []string{"dpop", "par", "pkce", "resource", "tokenexchange", "helseid/fapi"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).CombinedOutput()
		require.NoError(t, err, "%s", out)
		deps := strings.Fields(string(out))
		require.Contains(t, deps, module+pkg)
		for _, dep := range deps {
			if dep == module+"helseid" || strings.HasPrefix(dep, module+"helseid/") && dep != module+"helseid/fapi" {
				assert.Fail(t, "imports the HelseID profile", "%s depends on %s", pkg, dep)
			}
		}
	}
}
