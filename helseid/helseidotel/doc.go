// Package helseidotel reports what the HelseID SDK does to OpenTelemetry: a span for every
// network step (client-credentials token requests, session refreshes, code and token
// exchanges, PAR, discovery and key fetches) and for every Guard decision, joined to the
// trace of the call that made it, and metrics for the token cache and the steps' latency.
//
// It is a module of its own so that the SDK's core does not depend on OpenTelemetry. Plug it
// in as the observer:
//
//	obs, err := helseidotel.New(helseidotel.Config{}) // the global providers, or set your own
//	client, err := helseid.NewClient(helseid.Config{..., Observer: obs})
//	guard, err := helseid.NewGuard(helseid.GuardConfig{AccessTokenConfig: helseid.AccessTokenConfig{..., Observer: obs}})
//
// A step's span is a child of the span in the context of the call that made it. A token the
// cache fetches for several callers, or ahead of expiry, is fetched with the context values
// of the caller that started the fetch, so its span joins that caller's trace. The SDK
// reports a step when it ends, with its latency: the span is written then, with its start
// time set back by that latency. HTTP spans of the step's requests (from an instrumented
// HTTPClient) are therefore siblings of the step's span, not its children.
package helseidotel
