// Command keyrotation is a service that keeps its HelseID client key alive while it serves:
// an AutoRotator renews the key through the self-service API before it expires, a Watcher
// keeps the Client on the stored key, and requests signed with the key go on throughout. It
// runs against an in-process helseidtest whose keys live two seconds, so two rotations take
// about as long:
//
//	go run ./examples/keyrotation
//
// In production the key lives months; keep the AutoRotator's defaults (renew 14 days before
// expiry), point a Watcher of every replica at the same store, and set FleetDelay to at
// least 1.5 × the Watchers' Interval.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

const (
	clientID    = "example-rotating-service"
	keyLifetime = 2 * time.Second
	rotations   = 2
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "keyrotation:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	srv, err := helseidtest.Start(helseidtest.Options{ClientKeyLifetime: keyLifetime})
	if err != nil {
		return err
	}
	defer srv.Close()
	privateJWK, err := srv.GenerateClient(clientID, selfservice.Scope)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "keyrotation")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "helseid-key.json")
	if err := os.WriteFile(path, privateJWK, 0o600); err != nil {
		return err
	}
	store := keystore.NewFileStore(path)

	// On every start: settle a rotation a crash may have interrupted, then sign with the
	// stored key.
	cfg := helseid.Config{Issuer: srv.Issuer(), ClientID: clientID}
	rot := &keystore.Rotator{Store: store, Authenticator: &keystore.TokenEndpoint{Config: cfg}}
	keys, err := rot.Resolve(ctx)
	if err != nil {
		return err
	}
	cfg.Key = keys.Current
	client, err := helseid.NewClient(cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	fmt.Fprintf(out, "started with key %s (expiration unknown: rotate at once)\n", short(client.KeyID()))
	if rot.Registrar, err = selfservice.NewClient(selfservice.Config{BaseURL: srv.SelfServiceURL(), Client: client}); err != nil {
		return err
	}

	rotated := make(chan keystore.Event, rotations)
	auto := &keystore.AutoRotator{
		Rotator: rot, Client: client,
		RenewBefore: keyLifetime / 2, Jitter: keyLifetime / 20, CheckInterval: keyLifetime / 20,
		MinBackoff: keyLifetime / 20, MaxBackoff: keyLifetime / 4,
		OnEvent: func(e keystore.Event) {
			switch e.Kind {
			case keystore.Rotated:
				select {
				case rotated <- e:
				default:
				}
			case keystore.RotationFailed, keystore.ExpiryWarning:
				fmt.Fprintf(out, "%s: %v\n", e.Kind, e.Err)
			}
		},
	}
	if err := auto.Start(ctx); err != nil {
		return err
	}
	defer auto.Close()

	// The service's work: a fresh client-credentials token per request, so that every
	// request is signed with the key of the moment.
	var served, failed atomic.Int64
	work, stopWork := context.WithCancel(ctx)
	defer stopWork()
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		for work.Err() == nil {
			_, err := client.ClientCredentials(work, helseid.ClientCredentialsRequest{Scopes: []string{selfservice.Scope}})
			switch {
			case err == nil:
				served.Add(1)
			case !errors.Is(err, context.Canceled):
				failed.Add(1)
				fmt.Fprintln(out, "request failed:", err)
			}
		}
	}()

	for i := 1; i <= rotations; i++ {
		select {
		case e := <-rotated:
			fmt.Fprintf(out, "rotation %d: now signing with key %s, valid for %s; requests so far: %d, failed: %d\n",
				i, short(e.KeyID), e.Left.Round(100*time.Millisecond), served.Load(), failed.Load())
		case <-ctx.Done():
			stopWork()
			<-workDone
			return fmt.Errorf("waiting for rotation %d: %w", i, ctx.Err())
		}
	}
	if err := auto.Close(); err != nil {
		return err
	}
	stopWork()
	<-workDone
	stored, err := store.Load(ctx)
	if err != nil {
		return err
	}

	kids, _, _ := srv.ClientKeyIDs(clientID)
	fmt.Fprintf(out, "stored key %s is the one HelseID holds: %t\n", short(stored.Current.KeyID()), len(kids) == 1 && kids[0] == stored.Current.KeyID())
	fmt.Fprintf(out, "requests served: %d, failed: %d\n", served.Load(), failed.Load())
	if failed.Load() > 0 {
		return errors.New("requests failed during rotation")
	}
	return nil
}

// short abbreviates a key ID (a public thumbprint) for the log.
func short(kid string) string {
	if len(kid) > 8 {
		return kid[:8] + "…"
	}
	return kid
}
