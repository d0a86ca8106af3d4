package helseidredis_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis"
	"github.com/helseid-go/sdk/helseid/keystore"
	"github.com/helseid-go/sdk/helseid/selfservice"
)

// A fleet without a shared disk keeps its client key in Redis: every replica resolves the key
// on start, watches the store, and may rotate; the store's lock lets one rotate at a time and the
// others pick the new key up within the Watcher's Interval. The sealing key comes from the
// service's secrets, never from Redis. (It needs a Redis and HelseID, so it is compiled, not
// run.)
func ExampleNewKeyStore() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "redis.internal:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()

	cfg := helseid.Config{Issuer: helseid.TestIssuer, ClientID: "your-client-id"}
	store, err := helseidredis.NewKeyStore(helseidredis.KeyStoreConfig{
		Redis: rdb,
		Key:   []byte(os.Getenv("KEY_SEALING_KEY")), // 32 bytes, the same on every replica
		Name:  cfg.ClientID,
	})
	if err != nil {
		slog.Error("key store", "err", err)
		return
	}
	// Once, at deployment: store the key you registered (store.Save(ctx, &keystore.Keys{Current: key})).
	rot := &keystore.Rotator{Store: store, Authenticator: &keystore.TokenEndpoint{Config: cfg}}
	keys, err := rot.Resolve(ctx) // settles a rotation a crashed replica left pending
	if err != nil {
		slog.Error("resolve the key", "err", err)
		return
	}
	cfg.Key = keys.Current
	client, err := helseid.NewClient(cfg)
	if err != nil {
		slog.Error("client", "err", err)
		return
	}
	defer client.Close()
	if rot.Registrar, err = selfservice.NewClient(selfservice.Config{BaseURL: selfservice.TestBaseURL, Client: client}); err != nil {
		slog.Error("self-service", "err", err)
		return
	}

	w := &keystore.Watcher{Store: store, Client: client, Interval: 30 * time.Second}
	if err := w.Start(ctx); err != nil {
		slog.Error("watch the key", "err", err)
		return
	}
	defer w.Close()
	// FleetDelay of 1.5 Watcher Intervals: every replica reads the pending key before HelseID
	// may drop the old one, even one whose read straddles the moment it was stored.
	auto := &keystore.AutoRotator{Rotator: rot, Client: client, FleetDelay: w.Interval * 3 / 2}
	if err := auto.Start(ctx); err != nil {
		slog.Error("rotate the key", "err", err)
		return
	}
	defer auto.Close()
}
