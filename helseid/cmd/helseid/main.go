// Command helseid is the operator's tool for a HelseID client: make a key, renew it through
// the self-service API, see how long it lives, get a token, call a DPoP-protected API, and
// check a token as an API would.
//
//	go install github.com/helseid-go/sdk/helseid/cmd/helseid@latest
//	helseid keygen -alg PS256 -out client
//	helseid expiry -key helseid-key.json
//	helseid rotate -env test -client-id my-client -key helseid-key.json
//	helseid token -env test -client-id my-client -key helseid-key.json -scope nhn:kjernejournal/api
//	helseid call -env test -client-id my-client -key helseid-key.json -scope nhn:x/api https://api.example/x
//	helseid verify -issuer https://helseid-sts.test.nhn.no -audience nhn:x -token-file at.txt
//
// -env is test or prod; -issuer (with -selfservice for rotate) names any other server, such
// as a helseidtest, and -local starts a helseidtest in the process with the key registered.
// "helseid <command> -h" lists a command's flags. Tokens and keys are never printed, except
// the token that "token -show-token" asks for. Errors are one line on stderr and exit 1.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type command struct {
	name, usage string
	run         func(args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"keygen", "make a key pair: the private JWK (0600) and the public JWK to register", keygen},
	{"rotate", "renew the client's key through the self-service API (crash-safe)", rotate},
	{"expiry", "show how long the stored key lives", expiry},
	{"token", "get a client-credentials token and print its claims", token},
	{"call", "send a DPoP-bound request and print status, headers and body", call},
	{"verify", "check an access token (and DPoP proof) as an API's Guard would", verify},
}

// run is the command line; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case err == errHelp:
				return 0
			case err == errUsage:
				return 2
			}
			fmt.Fprintf(stderr, "helseid %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "helseid: unknown command %q (helseid -h lists them)\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: helseid <command> [flags]; helseid <command> -h for its flags")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.usage)
	}
}
