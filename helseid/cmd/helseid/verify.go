package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/helseid-go/sdk/helseid"
)

func verify(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify", "-audience AUD (-env test|prod | -issuer URL) (-token-file FILE | -token-file -) [-proof-file FILE -method M -url U]", stderr)
	env := fs.String("env", "", "HelseID environment of the issuer: test or prod")
	issuer := fs.String("issuer", "", "issuer URL; overrides -env")
	audience := fs.String("audience", "", "the API's audience, such as nhn:kjernejournal (required)")
	tokenFile := fs.String("token-file", "", "file holding the access token, - for stdin (required; tokens are not taken as arguments, which the shell keeps)")
	proofFile := fs.String("proof-file", "", "file holding the DPoP proof of the request; checked as the Guard checks it")
	method := fs.String("method", http.MethodGet, "the request's method, for the proof")
	target := fs.String("url", "", "the request's URL, for the proof (required with -proof-file)")
	timeout := fs.Duration("timeout", time.Minute, "time limit of the whole command")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *issuer != "":
	case *env == "test":
		*issuer = helseid.TestIssuer
	case *env == "prod":
		*issuer = helseid.ProductionIssuer
	default:
		return errors.New("name the issuer: -env test, -env prod or -issuer URL")
	}
	if *audience == "" || *tokenFile == "" {
		return errors.New("-audience and -token-file are required")
	}
	tok, err := readSecret(*tokenFile)
	if err != nil {
		return fmt.Errorf("read the token: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	tokens := helseid.AccessTokenConfig{Issuer: *issuer, Audience: *audience}
	var claims *helseid.AccessTokenClaims
	if *proofFile == "" {
		v, err := helseid.NewAccessTokenValidator(tokens)
		if err != nil {
			return err
		}
		defer v.Close()
		if claims, err = v.Validate(ctx, tok); err != nil {
			return fmt.Errorf("access token refused: %w", err)
		}
	} else {
		if *target == "" {
			return errors.New("-url is required with -proof-file")
		}
		proof, err := readSecret(*proofFile)
		if err != nil {
			return fmt.Errorf("read the proof: %w", err)
		}
		g, err := helseid.NewGuard(helseid.GuardConfig{AccessTokenConfig: tokens})
		if err != nil {
			return err
		}
		defer g.Close()
		r, err := http.NewRequestWithContext(ctx, *method, *target, nil)
		if err != nil {
			return err
		}
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", proof)
		if claims, err = g.Authenticate(r); err != nil {
			return fmt.Errorf("request refused: %w", err)
		}
	}
	fmt.Fprintf(stdout, "ok: issuer %s, audience %s, client %s, scopes %s, bound to key %s, expires %s\n",
		claims.Issuer, claims.Audience, claims.ClientID, strings.Join(claims.Scopes, " "), claims.JKT, claims.Expiry.UTC().Format(time.RFC3339))
	return nil
}

// readSecret reads a token or proof from a file or stdin ("-"), trimmed.
func readSecret(path string) (string, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}
