package helseidredis_test

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/helseid-go/sdk/dpop"
	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidredis"
)

// An API on several machines: each machine's Guard records the proofs it accepts in the same
// Redis, so a proof replayed at another machine is refused there. Nothing connects until the
// first request; while Redis cannot answer, the Guard answers 503.
func ExampleNewReplayStore() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "redis.internal:6379", // or redis.ParseURL(os.Getenv("REDIS_URL"))
		ContextTimeoutEnabled: true,                  // required: each check is bounded by the store's Timeout
	})
	defer client.Close()

	replay, err := helseidredis.NewReplayStore(client, helseidredis.ReplayStoreOptions{
		Namespace: "nhn:your-api", // the same on every machine of this API, another for another API
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	guard, err := helseid.NewGuard(helseid.GuardConfig{
		AccessTokenConfig: helseid.AccessTokenConfig{
			Issuer:         helseid.ProductionIssuer,
			Audience:       "nhn:your-api",
			RequiredScopes: []string{"nhn:your-api/read"},
		},
		DPoP: dpop.VerifierConfig{
			ExternalURL: "https://api.example.no", // as clients call the fleet, so a proof is valid at every machine
			Replay:      replay,
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer guard.Close()

	mux := http.NewServeMux()
	mux.Handle("/fhir/", guard.Middleware(http.NotFoundHandler(), func(r *http.Request, e *helseid.AuthError) {
		slog.Info("refused", "status", e.Status, "code", e.Code, "err", e.Err) // 503 with an empty code: Redis did not answer
	}))
	fmt.Println("guard ready")
	// Output: guard ready
}
