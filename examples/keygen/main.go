// Command keygen makes a new client key pair for HelseID: the private JWK to keep secret and
// the public JWK to register in HelseID's self-service (Selvbetjening). The kid of both is the
// key's RFC 7638 thumbprint.
//
//	go run ./examples/keygen -alg PS256 -out client
//
// writes client.private.jwk (mode 0600, never overwriting) and client.public.jwk. The private
// key is never printed, so it stays out of terminals and logs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/helseid-go/sdk/helseid"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "keygen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	alg := fs.String("alg", "PS256", "signing algorithm: RS256..512, PS256..512, ES256..512 (HelseID's list)")
	out := fs.String("out", "", "file prefix: writes PREFIX.private.jwk (0600) and PREFIX.public.jwk")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *out == "" {
		return errors.New("-out is required: the private key is written to a file, never printed")
	}
	key, err := helseid.GenerateKey(*alg)
	if err != nil {
		return err
	}
	private, err := key.PrivateJWK()
	if err != nil {
		return err
	}
	public, err := key.PublicJWK()
	if err != nil {
		return err
	}
	privatePath, publicPath := *out+".private.jwk", *out+".public.jwk"
	// O_EXCL: never overwrite a key that may already be registered.
	f, err := os.OpenFile(privatePath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write private key: %w", err)
	}
	if _, err := f.Write(append(private, '\n')); err != nil {
		_ = f.Close()
		return fmt.Errorf("write private key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write private key: %w", err)
	}
	if err := os.WriteFile(publicPath, append(public, '\n'), 0o644); err != nil {
		return fmt.Errorf("write public key: %w", err)
	}
	fmt.Fprintf(stdout, "kid:         %s\nalgorithm:   %s\nprivate key: %s (keep secret)\npublic key:  %s (register in HelseID self-service)\n",
		key.KeyID(), key.Algorithm(), privatePath, publicPath)
	return nil
}
