package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
)

// LogOptions configure [NewLogger].
type LogOptions struct {
	// Env is the deployment environment (NODE_ENV); "production" selects
	// JSON lines, anything else readable text. It is added to every record.
	Env string
	// Level is the minimum level by name (see [ParseLevel]); an empty or
	// unknown name means info. Configuration rejects unknown names earlier.
	Level string
	// Service is the service name added to every record.
	Service string
	// Output receives the local log; nil means standard error.
	Output io.Writer
	// Remote, when set, also receives every record for remote export.
	Remote *Shipper
}

// NewLogger returns the process logger described by o. Every record carries
// time, level, msg, service and env, and is redacted (see the package
// documentation) before it reaches the local output or the remote shipper.
// When o.Remote has no Warn function of its own, its drop warnings go to the
// local output only, so a full export buffer cannot feed itself.
func NewLogger(o LogOptions) *slog.Logger {
	level, err := ParseLevel(o.Level)
	if err != nil {
		level = slog.LevelInfo
	}
	out := o.Output
	if out == nil {
		out = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: renderLevel}
	base := []slog.Attr{
		slog.String("service", o.Service),
		slog.String("env", o.Env),
	}

	var local slog.Handler
	if o.Env == "production" {
		local = slog.NewJSONHandler(out, opts)
	} else {
		local = slog.NewTextHandler(out, opts)
	}
	local = local.WithAttrs(base)
	if o.Remote == nil {
		return slog.New(&redactHandler{next: local})
	}

	remote := slog.NewJSONHandler(o.Remote.writer(), opts).WithAttrs(base)
	o.Remote.setLocalWarn(slog.New(&redactHandler{next: local}).Warn)
	return slog.New(&redactHandler{next: fanout{local, remote}})
}

// fanout passes each record to every handler that wants it.
type fanout []slog.Handler

// Enabled reports whether any handler wants records at level l.
func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

// Handle gives each interested handler its own copy of r and joins their
// errors.
func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

// WithAttrs attaches as to every handler.
func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}

// WithGroup opens the group on every handler.
func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}

// loggerKey is the context key of the request logger.
type loggerKey struct{}

// WithLogger returns a copy of ctx that carries l, typically a logger with
// request attributes (requestId, orgId, userId, clientId) attached.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger returns the logger carried by ctx, or slog.Default() when there is
// none.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}
