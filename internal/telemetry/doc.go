// Package telemetry gives Cerberus IAM its logging, metrics and tracing.
//
// Logging is log/slog: [NewLogger] writes JSON lines in production and
// readable text otherwise, adds the service and environment to every record,
// knows two extra levels ([LevelTrace] and [LevelFatal]) and redacts secrets
// before a record reaches any output. A [Shipper] exports the same redacted
// records to a remote collector in batches without ever blocking the caller.
//
// [Metrics] holds one Prometheus registry with every metric of the operations
// contract; services keep a *Metrics value, there is no global registry.
//
// [SetupTracing] sends spans over OTLP/HTTP when an endpoint is configured
// and honours the W3C traceparent header.
//
// The package imports no other package of the project.
package telemetry
