package telemetry_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

const (
	incomingTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingParent = "00-" + incomingTrace + "-00f067aa0ba902b7-01"
)

// restoreTracing puts the no-op provider back after a test that installs
// a real one.
func restoreTracing(t *testing.T) {
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
}

// recordSpans installs an in-memory span recorder for the test.
func recordSpans(t *testing.T) *tracetest.SpanRecorder {
	restoreTracing(t)
	sr := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(sr)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return sr
}

func TestSetupTracingWithoutEndpointIsNoop(t *testing.T) {
	shutdown, err := telemetry.SetupTracing(t.Context(), "", "svc", "v1")
	if err != nil {
		t.Fatalf("SetupTracing: %v", err)
	}
	if err := shutdown(t.Context()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestSetupTracingRejectsBadEndpoint(t *testing.T) {
	for _, e := range []string{"collector:4318", "ftp://x", "http://"} {
		if _, err := telemetry.SetupTracing(t.Context(), e, "s", "v"); err == nil {
			t.Errorf("SetupTracing(%q) succeeded, want an error", e)
		}
	}
}

func TestSetupTracingExportsOverOTLPHTTP(t *testing.T) {
	restoreTracing(t)
	type export struct {
		path, contentType string
		body              []byte
	}
	got := make(chan export, 10)
	srv := httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			got <- export{r.URL.Path, r.Header.Get("Content-Type"), body}
		}))
	defer srv.Close()

	shutdown, err := telemetry.SetupTracing(t.Context(), srv.URL+"/otlp/",
		"cerberus-test", "1.2.3")
	if err != nil {
		t.Fatalf("SetupTracing: %v", err)
	}
	req := httptest.NewRequest("GET", "/v1/me", nil)
	req.Header.Set("traceparent", incomingParent)
	ctx, span := telemetry.StartRequestSpan(req)
	_, db := telemetry.StartDBSpan(ctx, "postgresql", "SELECT users")
	telemetry.EndSpan(db, nil)
	telemetry.EndRequestSpan(span, "GET", "/v1/me", 200)
	if err := shutdown(t.Context()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	e := <-got
	if e.path != "/otlp/v1/traces" {
		t.Errorf("exported to %s, want /otlp/v1/traces", e.path)
	}
	if e.contentType != "application/x-protobuf" {
		t.Errorf("Content-Type = %s", e.contentType)
	}
	for _, want := range []string{"cerberus-test", "GET /v1/me", "SELECT users"} {
		if !strings.Contains(string(e.body), want) {
			t.Errorf("export does not mention %q", want)
		}
	}
}

func TestRequestSpanContinuesIncomingTrace(t *testing.T) {
	sr := recordSpans(t)
	req := httptest.NewRequest("POST", "/oauth2/token?code=x", nil)
	req.Header.Set("traceparent", incomingParent)

	ctx, span := telemetry.StartRequestSpan(req)
	_, db := telemetry.StartDBSpan(ctx, "sqlite", "INSERT tokens")
	telemetry.EndSpan(db, errors.New("constraint failed"))
	telemetry.EndRequestSpan(span, "POST", "/oauth2/token", 503)

	spans := sr.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want 2", len(spans))
	}
	dbSpan, reqSpan := spans[0], spans[1]
	if id := reqSpan.SpanContext().TraceID().String(); id != incomingTrace {
		t.Errorf("request trace id %s, want the incoming %s", id, incomingTrace)
	}
	if dbSpan.Parent().SpanID() != reqSpan.SpanContext().SpanID() {
		t.Error("database span is not a child of the request span")
	}
	if reqSpan.Name() != "POST /oauth2/token" {
		t.Errorf("request span name %q", reqSpan.Name())
	}
	if reqSpan.Status().Code != codes.Error {
		t.Error("a 503 did not mark the request span as failed")
	}
	if dbSpan.Status().Description != "constraint failed" {
		t.Errorf("db span status %q", dbSpan.Status().Description)
	}
	for _, a := range reqSpan.Attributes() {
		if strings.Contains(a.Value.Emit(), "code=x") {
			t.Errorf("request span records the query: %s", a.Key)
		}
	}
}

func TestStartSpanUsesInstalledProvider(t *testing.T) {
	sr := recordSpans(t)
	_, span := telemetry.StartSpan(t.Context(), "retention purge")
	telemetry.EndSpan(span, nil)
	if n := len(sr.Ended()); n != 1 {
		t.Fatalf("%d spans ended, want 1", n)
	}
	if s := sr.Ended()[0]; s.Name() != "retention purge" ||
		s.Status().Code == codes.Error {
		t.Errorf("span %q status %v", s.Name(), s.Status())
	}
}
