package helseidotel_test

import (
	"context"
	"fmt"

	"github.com/helseid-go/sdk/helseid"
	"github.com/helseid-go/sdk/helseid/helseidotel"
	"github.com/helseid-go/sdk/helseid/helseidtest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The observer joins the SDK's steps to the caller's trace: the span of the token request is
// a child of the span the handler started. (An in-memory exporter stands in for yours.)
func ExampleNew() {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	obs, err := helseidotel.New(helseidotel.Config{TracerProvider: tp})
	if err != nil {
		fmt.Println(err)
		return
	}

	srv, err := helseidtest.Start(helseidtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	privateJWK, err := srv.GenerateClient("client-1", "nhn:helseidtest-api/read")
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := helseid.ParseJWK(privateJWK, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := helseid.NewClient(helseid.Config{Issuer: srv.Issuer(), ClientID: "client-1", Key: key,
		HTTPClient: srv.Client(), Observer: obs})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	ctx, handler := tp.Tracer("app").Start(context.Background(), "list prescriptions")
	if _, err := client.Token(ctx, helseid.ClientCredentialsRequest{Scopes: []string{"nhn:helseidtest-api/read"}}); err != nil {
		fmt.Println(err)
		return
	}
	handler.End()

	for _, s := range spans.GetSpans() {
		if s.Name == "helseid.token_fetched" {
			fmt.Println(s.Name, "is a child of the handler's span:", s.Parent.SpanID() == handler.SpanContext().SpanID())
		}
	}
	// Output: helseid.token_fetched is a child of the handler's span: true
}
