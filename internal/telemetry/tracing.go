package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// tracerName identifies the instrumentation that creates our spans.
const tracerName = "github.com/cerberus-iam/cerberus"

// SetupTracing installs the process tracer provider. With an endpoint (the
// OTLP base URL, as in OTEL_EXPORTER_OTLP_ENDPOINT) spans are batched and
// sent over OTLP/HTTP to endpoint/v1/traces under the given service name and
// version, and the W3C traceparent header is honoured. Without an endpoint
// nothing is installed and spans cost next to nothing. The returned function
// flushes pending spans and stops the exporter, bounded by its context.
func SetupTracing(ctx context.Context, endpoint, service,
	version string) (func(context.Context) error, error) {
	if endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	target, err := tracesURL(endpoint)
	if err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(target))
	if err != nil {
		return nil, fmt.Errorf("create OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(
			semconv.ServiceName(service),
			semconv.ServiceVersion(version)),
		resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("describe trace resource: %w", err)
	}

	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return func(ctx context.Context) error {
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("flush traces: %w", err)
		}
		return nil
	}, nil
}

// tracesURL appends the OTLP traces path to a base endpoint URL.
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" ||
		(u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("OTLP endpoint %q: want an http(s) URL",
			endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	return u.String(), nil
}

// tracer returns the project's tracer from the installed provider.
func tracer() trace.Tracer { return otel.Tracer(tracerName) }

// StartRequestSpan starts the server span of an HTTP request, continuing
// the trace named by an incoming traceparent header. The span is named
// after the method until [EndRequestSpan] knows the route. The request path
// is not recorded: some paths carry tokens.
func StartRequestSpan(r *http.Request) (context.Context, trace.Span) {
	ctx := otel.GetTextMapPropagator().Extract(r.Context(),
		propagation.HeaderCarrier(r.Header))
	return tracer().Start(ctx, r.Method,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method)))
}

// EndRequestSpan names the span "METHOD route", records the route and the
// response status (5xx marks the span as failed) and ends it.
func EndRequestSpan(span trace.Span, method, route string, status int) {
	span.SetName(method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route),
		semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// StartDBSpan starts a client span for one database operation (a query or
// a transaction); system is "postgresql" or "sqlite". End it with
// [EndSpan]. The query text is not recorded: parameters stay out of traces.
func StartDBSpan(ctx context.Context, system,
	operation string) (context.Context, trace.Span) {
	return tracer().Start(ctx, operation,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.DBSystemNameKey.String(system),
			semconv.DBOperationName(operation)))
}

// StartSpan starts an internal span, such as one step of a background job.
func StartSpan(ctx context.Context, name string,
	attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracer().Start(ctx, name, trace.WithAttributes(attrs...))
}

// EndSpan marks span as failed when err is not nil, then ends it. Only the
// error's text is recorded, so it must not hold secrets.
func EndSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, scrub(err.Error()))
	}
	span.End()
}
