package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

func keygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keygen", "-out PREFIX [-alg PS256]", stderr)
	alg := fs.String("alg", "PS256", "algorithm: PS256/384/512, RS256/384/512, ES256/384/512")
	out := fs.String("out", "", "writes PREFIX.private.jwk (mode 0600, never overwritten) and PREFIX.public.jwk (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	key, err := helseid.GenerateKey(*alg)
	if err != nil {
		return err
	}
	priv, err := key.PrivateJWK()
	if err != nil {
		return err
	}
	pub, err := key.PublicJWK()
	if err != nil {
		return err
	}
	privPath, pubPath := *out+".private.jwk", *out+".public.jwk"
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write the private key: %w", err)
	}
	if _, err := f.Write(priv); err != nil {
		f.Close()
		return fmt.Errorf("write the private key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write the private key: %w", err)
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		return fmt.Errorf("write the public key: %w", err)
	}
	fmt.Fprintf(stdout, "kid %s (%s)\nprivate key: %s (keep it secret)\npublic key:  %s (register it in HelseID's self-service)\n", key.KeyID(), key.Algorithm(), privPath, pubPath)
	return nil
}

func rotate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rotate", "-client-id ID -key FILE (-env test|prod | -issuer URL | -local)", stderr)
	var cf clientFlags
	cf.register(fs)
	alg := fs.String("alg", "", "algorithm of the new key; default: the current key's")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cf.local {
		// The new key would be registered with a server that is gone when the command ends,
		// and replace the file's key, which the real HelseID may still hold.
		return errors.New("-local cannot rotate: the key file would hold a key only a throwaway server knows")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
	defer cancel()
	s, err := cf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	reg, err := selfservice.NewClient(selfservice.Config{BaseURL: s.ssURL, Client: s.client})
	if err != nil {
		return err
	}
	replaced := s.keys.Current
	rot := &keystore.Rotator{Store: s.store, Authenticator: &keystore.TokenEndpoint{Config: s.cfg}, Registrar: reg, Algorithm: *alg,
		// The client was built with the file's current key, but Rotate may first have promoted
		// a pending key an interrupted rotation registered (HelseID then refuses the old one):
		// the self-service token must be signed with the key the store now holds.
		BeforeRegister: func(_ context.Context, keys *keystore.Keys) error {
			replaced = keys.Current
			return s.client.SetKeys(keys.Current, keys.Pending)
		}}
	keys, err := rot.Rotate(ctx)
	if errors.Is(err, keystore.ErrLocked) {
		return fmt.Errorf("a rotation is under way: another process holds %s.lock; the key file is unchanged", s.store.Path())
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rotated: kid %s replaces %s\n", keys.Current.KeyID(), replaced.KeyID())
	printExpiry(stdout, keys, time.Now())
	return nil
}

func expiry(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("expiry", "-key FILE", stderr)
	keyFile := fs.String("key", "", "the key store file (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *keyFile == "" {
		return errors.New("-key is required")
	}
	keys, err := keystore.NewFileStore(*keyFile).Load(context.Background())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kid %s (%s)\n", keys.Current.KeyID(), keys.Current.Algorithm())
	printExpiry(stdout, keys, time.Now())
	if keys.Pending != nil {
		fmt.Fprintf(stdout, "pending key %s: a rotation was interrupted; run rotate to settle it\n", keys.Pending.KeyID())
	}
	return nil
}

func printExpiry(w io.Writer, keys *keystore.Keys, now time.Time) {
	if keys.Expires.IsZero() {
		fmt.Fprintln(w, "expires: unknown (rotate to learn it)")
		return
	}
	fmt.Fprintf(w, "expires: %s (%.1f days left)\n", keys.Expires.UTC().Format(time.RFC3339), keys.Expires.Sub(now).Hours()/24)
}
