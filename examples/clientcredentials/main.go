// Command clientcredentials is the SDK's main job end to end: a system gets a DPoP-bound access
// token from HelseID with the client_credentials grant and calls an API with it.
//
// With no configuration it needs no network: it starts helseidtest (an in-process, strict
// HelseID) and its demo DPoP-protected API, registers a client with a fresh key, and runs
// against them.
//
//	go run ./examples/clientcredentials
//
// With configuration it runs the same flow against a real HelseID (and API):
//
//	HELSEID_ISSUER        issuer, e.g. https://helseid-sts.test.nhn.no   (-issuer)
//	HELSEID_CLIENT_ID     the client's id                                  (-client-id)
//	HELSEID_JWK_FILE      path to the client's private JWK                 (-jwk-file)
//	HELSEID_SCOPE         space-separated scopes of one API                (-scope)
//	HELSEID_API_URL       optional: an API to call with the token          (-api-url)
//	HELSEID_ORGNR_PARENT  optional: parent organisation (multi-tenant)     (-orgnr-parent)
//	HELSEID_ORGNR_CHILD   optional: child organisation                     (-orgnr-child)
//
// Its twin in the nested module helseid/helseidredis (examples/clientcredentials there) runs
// the same settings as one process of a fleet sharing tokens through Redis.
//
// A flag wins over its environment variable. Plain http is accepted only to loopback
// addresses. Any failure prints a clear message and exits non-zero.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "clientcredentials:", err)
		os.Exit(1)
	}
}

// settings is the configuration of a run against a real HelseID; the zero value means "start
// an in-process HelseID".
type settings struct {
	issuer, clientID, jwkFile, scope, apiURL, orgParent, orgChild string
}

func (s settings) external() bool {
	return s.issuer != "" || s.clientID != "" || s.jwkFile != "" || s.scope != ""
}

func parseSettings(args []string, getenv func(string) string, out io.Writer) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("clientcredentials", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&s.issuer, "issuer", getenv("HELSEID_ISSUER"), "HelseID issuer (HELSEID_ISSUER)")
	fs.StringVar(&s.clientID, "client-id", getenv("HELSEID_CLIENT_ID"), "client id (HELSEID_CLIENT_ID)")
	fs.StringVar(&s.jwkFile, "jwk-file", getenv("HELSEID_JWK_FILE"), "path to the private JWK (HELSEID_JWK_FILE)")
	fs.StringVar(&s.scope, "scope", getenv("HELSEID_SCOPE"), "space-separated scopes of one API (HELSEID_SCOPE)")
	fs.StringVar(&s.apiURL, "api-url", getenv("HELSEID_API_URL"), "optional API to call (HELSEID_API_URL)")
	fs.StringVar(&s.orgParent, "orgnr-parent", getenv("HELSEID_ORGNR_PARENT"), "optional parent organisation number (HELSEID_ORGNR_PARENT)")
	fs.StringVar(&s.orgChild, "orgnr-child", getenv("HELSEID_ORGNR_CHILD"), "optional child organisation number (HELSEID_ORGNR_CHILD)")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() != 0 {
		return s, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if s.external() {
		var missing []string
		for name, v := range map[string]string{"HELSEID_ISSUER": s.issuer, "HELSEID_CLIENT_ID": s.clientID, "HELSEID_JWK_FILE": s.jwkFile, "HELSEID_SCOPE": s.scope} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return s, fmt.Errorf("incomplete configuration: %v not set (set all four, or none to use the in-process HelseID)", missing)
		}
	} else if s.apiURL != "" || s.orgParent != "" || s.orgChild != "" {
		return s, errors.New("HELSEID_API_URL and the organisation numbers need HELSEID_ISSUER, HELSEID_CLIENT_ID, HELSEID_JWK_FILE and HELSEID_SCOPE")
	}
	return s, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	s, err := parseSettings(args, getenv, out)
	if err != nil {
		return err
	}
	if !s.external() {
		return runInProcess(ctx, out)
	}
	return runExternal(ctx, s, out)
}
