// Command webapp is examples/webapp as a fleet: several instances behind one public address,
// without sticky sessions, share the logins under way and the users' sessions through Redis,
// so a login started on one instance finishes on another and any instance serves any request
// of a logged-in user; a logout on one is effective on all.
//
//	HELSEID_REDIS_URL    redis://host:6379/0
//	HELSEID_SESSION_KEY  base64 of the 32-byte AES-256 key sealing logins and sessions in Redis,
//	                     the same on every instance (openssl rand -base64 32); without it a
//	                     development key everyone knows is used, and said loudly at start,
//	                     against the in-process HelseID only (with HELSEID_ISSUER it is required)
//	HELSEID_SESSION_OLD_KEYS  base64 keys, comma-separated, that open logins and sessions but
//	                     never seal them: while HELSEID_SESSION_KEY is rotated, the key before
//	                     (and, in the rotation's first rollout, the next one)
//	HELSEID_LISTEN       host:port this instance listens on, when that differs from the redirect
//	                     URI's host and port (several instances behind one proxy)
//
// with examples/webapp's HELSEID_* settings otherwise unchanged (a shared HelseID: with none,
// each instance starts its own in-process one, which only a single instance can use). It lives
// in the nested module helseid/helseidredis because the core module does not depend on go-redis:
//
//	cd helseid/helseidredis && HELSEID_REDIS_URL=redis://localhost:6379/0 go run ./examples/webapp
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/helseid-go/sdk/examples/webapp/app"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/helseid-go/sdk/helseid/helseidredis/examples/internal/fleetconfig"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Getenv, os.Stderr, func(listen, base string) {
		fmt.Printf("webapp: listening on %s; open %s in a browser (Ctrl-C stops)\n", listen, base)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

// run serves the app with its stores in Redis until ctx ends; warnings go to warn.
func run(ctx context.Context, getenv func(string) string, warn io.Writer, ready func(listen, base string)) error {
	redisURL := getenv("HELSEID_REDIS_URL")
	if redisURL == "" {
		return errors.New("HELSEID_REDIS_URL not set (the fleet shares logins and sessions through Redis; go run ./examples/webapp in the core module runs one instance without it)")
	}
	key, dev, err := sessionKey(getenv("HELSEID_SESSION_KEY"))
	if err != nil {
		return err
	}
	if dev && getenv("HELSEID_ISSUER") != "" {
		// A real HelseID means real users: their refresh tokens and DPoP keys must not be
		// sealed with a key everyone knows.
		return errors.New("HELSEID_SESSION_KEY is not set, and the development key is refused with a real HelseID (HELSEID_ISSUER): set HELSEID_SESSION_KEY to the output of: openssl rand -base64 32, the same on every instance")
	}
	oldKeys, err := oldSessionKeys(getenv("HELSEID_SESSION_OLD_KEYS"))
	if err != nil {
		return err
	}
	if dev {
		fmt.Fprintln(warn, "webapp: WARNING: HELSEID_SESSION_KEY is not set: logins and sessions in Redis are sealed with a DEVELOPMENT key that everyone knows. Never use this with real users; set HELSEID_SESSION_KEY to the output of: openssl rand -base64 32")
	}
	opts, err := fleetconfig.ParseRedisURL(redisURL)
	if err != nil {
		return fmt.Errorf("HELSEID_REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	cfg := helseidredis.StoreConfig{Redis: rdb, Key: key, OldKeys: oldKeys}
	logins, err := helseidredis.NewLoginStore(cfg)
	if err != nil {
		return err
	}
	sessions, err := helseidredis.NewSessionStore(cfg)
	if err != nil {
		return err
	}
	return app.Run(ctx, getenv, app.Stores{Logins: logins, Sessions: sessions}, ready)
}

// sessionKey is the AES-256 key of HELSEID_SESSION_KEY, or the development key (dev) when it is
// empty: a fixed key, so that instances started without one still share their sessions.
func sessionKey(b64 string) (key []byte, dev bool, err error) {
	if b64 == "" {
		sum := sha256.Sum256([]byte("helseid-go examples/webapp development session key: not secret"))
		return sum[:], true, nil
	}
	key, err = base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) != 32 {
		return nil, false, errors.New("HELSEID_SESSION_KEY must be base64 of 32 bytes (generate one with: openssl rand -base64 32)")
	}
	return key, false, nil
}

// oldSessionKeys are the AES-256 keys of HELSEID_SESSION_OLD_KEYS: base64, comma-separated.
// Errors name a key by its position, never by its value.
func oldSessionKeys(list string) ([][]byte, error) {
	var keys [][]byte
	for i, b64 := range strings.Split(list, ",") {
		b64 = strings.TrimSpace(b64)
		if b64 == "" {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("HELSEID_SESSION_OLD_KEYS: key %d must be base64 of 32 bytes", i+1)
		}
		keys = append(keys, key)
	}
	return keys, nil
}
