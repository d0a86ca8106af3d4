package helseidotel

import (
	"context"
	"errors"
	"time"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/fapi"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/helseid-go/sdk/helseid/helseidotel"

// Metric names.
const (
	// CacheEventsMetric counts the token cache's events by helseid.event: cache_hit,
	// cache_miss, refresh_started, cache_evicted, nonce_retry, transient_retry and the shared
	// cache's.
	CacheEventsMetric = "helseid.cache.events"
	// StepDurationMetric is the latency of each network step and Guard decision, in seconds,
	// by helseid.event and helseid.outcome (ok, error; for a Guard's refusal the check).
	StepDurationMetric = "helseid.step.duration"
)

// Config configures an Observer.
type Config struct {
	// TracerProvider makes the tracer; nil means otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the meter; nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
}

// Observer is a helseid.Observer that writes spans and metrics. It is safe for concurrent use.
type Observer struct {
	tracer   trace.Tracer
	events   metric.Int64Counter
	duration metric.Float64Histogram
	// counted holds, per event kind, the options of its counter increment, built once so that
	// a cache hit costs one counter update and no allocation of this package's.
	counted [kinds][]metric.AddOption
}

// kinds bounds the helseid.EventKind values this package knows.
const kinds = int(helseid.GuardDecided) + 1

var _ helseid.Observer = (*Observer)(nil)

// New returns an Observer with cfg's providers.
func New(cfg Config) (*Observer, error) {
	tp, mp := cfg.TracerProvider, cfg.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(ScopeName)
	o := &Observer{tracer: tp.Tracer(ScopeName)}
	var err error
	o.events, err = meter.Int64Counter(CacheEventsMetric, metric.WithUnit("{event}"),
		metric.WithDescription("Token cache events of the HelseID SDK: hits, misses, refreshes, evictions, retries."))
	if err != nil {
		return nil, err
	}
	o.duration, err = meter.Float64Histogram(StepDurationMetric, metric.WithUnit("s"),
		metric.WithDescription("Latency of the HelseID SDK's network steps and Guard decisions."))
	if err != nil {
		return nil, err
	}
	for k := range o.counted {
		set := attribute.NewSet(attribute.String("helseid.event", helseid.EventKind(k).String()))
		o.counted[k] = []metric.AddOption{metric.WithAttributeSet(set)}
	}
	return o, nil
}

// Observe implements helseid.Observer.
func (o *Observer) Observe(ctx context.Context, e helseid.Event) {
	switch e.Kind {
	case helseid.TokenFetched, helseid.AuthorizationPushed, helseid.CodeExchanged, helseid.SessionRefreshed,
		helseid.TokenExchanged, helseid.DiscoveryFetched, helseid.KeysFetched, helseid.GuardDecided:
		o.step(ctx, e)
	case helseid.NonceRetry, helseid.TransientRetry, helseid.SharedLeaseWaited, helseid.SharedCacheDown:
		// Steps of a request in flight: an event on the caller's span as well as a count.
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.AddEvent("helseid."+e.Kind.String(), trace.WithAttributes(
				attribute.Int("http.response.status_code", e.StatusCode),
				attribute.Float64("helseid.wait", e.Wait.Seconds())))
		}
		o.count(ctx, e.Kind)
	default:
		o.count(ctx, e.Kind)
	}
}

func (o *Observer) count(ctx context.Context, k helseid.EventKind) {
	if int(k) >= 0 && int(k) < kinds {
		o.events.Add(ctx, 1, o.counted[k]...)
	}
}

// step writes the span of a step that has just ended, started Duration ago, and records its
// latency.
func (o *Observer) step(ctx context.Context, e helseid.Event) {
	end := time.Now()
	kind := trace.SpanKindClient
	if e.Kind == helseid.GuardDecided {
		kind = trace.SpanKindInternal
	}
	attrs := make([]attribute.KeyValue, 0, 8)
	if e.Grant != "" {
		attrs = append(attrs, attribute.String("helseid.grant", e.Grant))
	}
	if e.Scopes != "" {
		attrs = append(attrs, attribute.String("helseid.scopes", e.Scopes))
	}
	if e.Resource != "" {
		attrs = append(attrs, attribute.String("helseid.resource", e.Resource))
	}
	if e.Organization.Parent != "" {
		attrs = append(attrs, attribute.String("helseid.orgnr_parent", e.Organization.Parent))
	}
	if e.Organization.Child != "" {
		attrs = append(attrs, attribute.String("helseid.orgnr_child", e.Organization.Child))
	}
	if e.Kind == helseid.TokenFetched {
		attrs = append(attrs, attribute.Bool("helseid.background", e.Background))
	}
	outcome := "ok"
	if e.Err != nil {
		outcome = "error"
		if e.Kind == helseid.GuardDecided {
			outcome = e.Check
			attrs = append(attrs, attribute.String("helseid.guard.check", e.Check),
				attribute.Int("http.response.status_code", e.StatusCode))
		}
	}
	_, span := o.tracer.Start(ctx, "helseid."+e.Kind.String(), trace.WithSpanKind(kind),
		trace.WithTimestamp(end.Add(-e.Duration)), trace.WithAttributes(attrs...))
	if e.Err != nil {
		span.SetStatus(codes.Error, e.Err.Error())
		span.SetAttributes(attribute.String("error.type", errorType(e.Err)))
	}
	span.End(trace.WithTimestamp(end))
	o.duration.Record(ctx, e.Duration.Seconds(), metric.WithAttributes(
		attribute.String("helseid.event", e.Kind.String()), attribute.String("helseid.outcome", outcome)))
}

// errorType is a low-cardinality name for err: the OAuth error code when the server sent one.
func errorType(err error) string {
	var oe *fapi.Error
	if errors.As(err, &oe) && oe.Code != "" {
		return oe.Code
	}
	var ae *helseid.AuthError
	if errors.As(err, &ae) && ae.Code != "" {
		return ae.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "_OTHER"
}
