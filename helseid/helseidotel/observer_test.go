package helseidotel_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidotel"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const apiScope = "nhn:helseidtest-api/read"

// telemetry is an Observer writing to in-memory exporters.
type telemetry struct {
	obs    *helseidotel.Observer
	spans  *tracetest.InMemoryExporter
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(tel.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	var err error
	tel.obs, err = helseidotel.New(helseidotel.Config{TracerProvider: tel.tp, MeterProvider: mp})
	require.NoError(t, err)
	return tel
}

func (tel *telemetry) span(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range tel.spans.GetSpans() {
		if s.Name == name {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "spans named %s", name)
	return found[0]
}

// metrics returns the data points of the counter (by helseid.event) and of the histogram
// (count by helseid.event/helseid.outcome).
func (tel *telemetry) metrics(t *testing.T) (counts map[string]int64, steps map[string]uint64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	counts, steps = map[string]int64{}, map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, helseidotel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				assert.Equal(t, helseidotel.CacheEventsMetric, m.Name)
				for _, p := range data.DataPoints {
					ev, _ := p.Attributes.Value("helseid.event")
					counts[ev.AsString()] += p.Value
				}
			case metricdata.Histogram[float64]:
				assert.Equal(t, helseidotel.StepDurationMetric, m.Name)
				for _, p := range data.DataPoints {
					ev, _ := p.Attributes.Value("helseid.event")
					out, _ := p.Attributes.Value("helseid.outcome")
					steps[ev.AsString()+"/"+out.AsString()] += p.Count
				}
			}
		}
	}
	return counts, steps
}

func newClient(t *testing.T, srv *helseidtest.Server, obs helseid.Observer) *helseid.Client {
	t.Helper()
	priv, err := srv.GenerateClient("client-1", apiScope)
	require.NoError(t, err)
	key, err := helseid.ParseJWK(priv, "")
	require.NoError(t, err)
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "client-1", Key: key,
		HTTPClient: srv.Client(), Observer: obs})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// A trace started by the caller contains the token request's span, and the discovery fetch
// it needed; the cache's hits and misses are counted.
func TestCallersTraceContainsTheTokenRequest(t *testing.T) {
	tel := newTelemetry(t)
	srv := helseidtest.NewServer(t)
	client := newClient(t, srv, tel.obs)
	req := helseid.ClientCredentialsRequest{Scopes: []string{apiScope}}

	ctx, caller := tel.tp.Tracer("app").Start(context.Background(), "handle request")
	_, err := client.Token(ctx, req)
	require.NoError(t, err)
	_, err = client.Token(ctx, req)
	require.NoError(t, err)
	caller.End()

	parent := tel.span(t, "handle request")
	for _, name := range []string{"helseid.token_fetched", "helseid.discovery_fetched"} {
		s := tel.span(t, name)
		assert.Equal(t, parent.SpanContext.TraceID(), s.SpanContext.TraceID(), "%s is in the caller's trace", name)
		assert.Equal(t, parent.SpanContext.SpanID(), s.Parent.SpanID(), "%s is a child of the caller's span", name)
		assert.True(t, s.EndTime.After(s.StartTime), "%s: the span covers the step", name)
		assert.Equal(t, codes.Unset, s.Status.Code, name)
	}
	fetched := tel.span(t, "helseid.token_fetched")
	assert.Contains(t, fetched.Attributes, attribute.String("helseid.grant", "client_credentials"))
	assert.Contains(t, fetched.Attributes, attribute.String("helseid.scopes", apiScope))
	assert.Contains(t, fetched.Attributes, attribute.Bool("helseid.background", false))
	for _, a := range fetched.Attributes {
		tok, _ := client.Token(context.Background(), req)
		assert.NotContains(t, a.Value.Emit(), tok.AccessToken, "no token in a span")
	}

	counts, steps := tel.metrics(t)
	assert.Equal(t, int64(1), counts["cache_miss"])
	assert.GreaterOrEqual(t, counts["cache_hit"], int64(1))
	assert.Equal(t, uint64(1), steps["token_fetched/ok"])
	assert.Equal(t, uint64(1), steps["discovery_fetched/ok"])
}

// A failed step's span has an error status with the OAuth error code as its type.
func TestFailedTokenRequestSpan(t *testing.T) {
	tel := newTelemetry(t)
	srv := helseidtest.NewServer(t)
	client := newClient(t, srv, tel.obs)
	ctx, caller := tel.tp.Tracer("app").Start(context.Background(), "handle request")
	_, err := client.Token(ctx, helseid.ClientCredentialsRequest{Scopes: []string{"nhn:not-granted/read"}})
	require.Error(t, err)
	caller.End()

	s := tel.span(t, "helseid.token_fetched")
	assert.Equal(t, codes.Error, s.Status.Code)
	assert.Contains(t, s.Attributes, attribute.String("error.type", "invalid_scope"))
	_, steps := tel.metrics(t)
	assert.Equal(t, uint64(1), steps["token_fetched/error"])
}

// A Guard's decisions are spans in the request's trace, a refusal naming the check.
func TestGuardDecisionSpans(t *testing.T) {
	tel := newTelemetry(t)
	srv := helseidtest.NewServer(t)
	client := newClient(t, srv, nil)
	guard, err := helseid.NewGuard(helseid.GuardConfig{AccessTokenConfig: helseid.AccessTokenConfig{
		Issuer: srv.Issuer(), Audience: srv.APIAudience(), HTTPClient: srv.Client(), Observer: tel.obs}})
	require.NoError(t, err)
	t.Cleanup(guard.Close)

	api, err := client.HTTPClient(helseid.ClientCredentialsRequest{Scopes: []string{apiScope}})
	require.NoError(t, err)
	var accepted, refused error
	apiCalls := 0
	handler := func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tel.tp.Tracer("api").Start(r.Context(), "api request")
		defer span.End()
		_, err := guard.Authenticate(r.WithContext(ctx))
		if apiCalls == 0 {
			accepted = err
		} else {
			refused = err
		}
		apiCalls++
	}
	srvAPI := httptest.NewServer(http.HandlerFunc(handler))
	t.Cleanup(srvAPI.Close)
	resp, err := api.Get(srvAPI.URL + "/x")
	require.NoError(t, err)
	_ = resp.Body.Close()
	resp, err = http.Get(srvAPI.URL + "/x")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.NoError(t, accepted)
	require.Error(t, refused)

	var decisions []tracetest.SpanStub
	parents := map[string]bool{}
	for _, s := range tel.spans.GetSpans() {
		switch s.Name {
		case "helseid.guard_decided":
			decisions = append(decisions, s)
		case "api request":
			parents[s.SpanContext.SpanID().String()] = true
		}
	}
	require.Len(t, decisions, 2)
	for _, d := range decisions {
		assert.True(t, parents[d.Parent.SpanID().String()], "a decision is a child of its request's span")
	}
	assert.Equal(t, codes.Unset, decisions[0].Status.Code)
	assert.Equal(t, codes.Error, decisions[1].Status.Code)
	assert.Contains(t, decisions[1].Attributes, attribute.String("helseid.guard.check", "credentials"))
	assert.Contains(t, decisions[1].Attributes, attribute.Int("http.response.status_code", 401))
	_, steps := tel.metrics(t)
	assert.Equal(t, uint64(1), steps["guard_decided/ok"])
	assert.Equal(t, uint64(1), steps["guard_decided/credentials"])
}
