package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/cerberus-iam/cerberus/internal/config"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// loadConfig reads and validates the configuration. On problems it prints
// each ("NAME: reason") to stderr and returns nil.
func loadConfig(e *Env) (*config.Config, []config.Warning) {
	cfg, problems, warnings, err := config.Load(e.Environ, e.Dir)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: read configuration: %v\n", err)
		return nil, nil
	}
	if len(problems) > 0 {
		fmt.Fprintf(e.Stderr, "cerberus: invalid configuration:\n%s\n",
			config.FormatProblems(problems))
		return nil, nil
	}
	return cfg, warnings
}

// newLogger builds the process logger; shipper may be nil.
func newLogger(e *Env, cfg *config.Config, shipper *telemetry.Shipper) *slog.Logger {
	return telemetry.NewLogger(telemetry.LogOptions{Env: cfg.Env, Level: cfg.LogLevel,
		Service: cfg.ServiceName, Output: e.Stderr, Remote: shipper})
}

// quietLogger is the logger of one-shot commands: warnings and errors only,
// so their own output stays readable.
func quietLogger(e *Env, cfg *config.Config) *slog.Logger {
	level := cfg.LogLevel
	if l, err := telemetry.ParseLevel(level); err == nil && l < slog.LevelWarn {
		level = "warn"
	}
	return telemetry.NewLogger(telemetry.LogOptions{Env: cfg.Env, Level: level,
		Service: cfg.ServiceName, Output: e.Stderr})
}

// warnConfig logs the configuration warnings and the development key notice.
func warnConfig(l *slog.Logger, cfg *config.Config, warnings []config.Warning) {
	for _, w := range warnings {
		l.Warn("configuration: "+w.Reason, "variable", w.Name, "fix", w.Fix)
	}
	if cfg.SecretKeyGenerated {
		l.Warn("USING A GENERATED DEVELOPMENT ENCRYPTION KEY from data/secret.key: " +
			"anyone with this file can read sealed secrets; set SECRET_ENCRYPTION_KEY " +
			"(cerberus secrets generate) before storing anything real")
	}
	if db.EngineOf(cfg.DatabaseURL) == db.SQLite {
		l.Info("using embedded SQLite", "path", db.SQLitePath(cfg.DatabaseURL))
	}
}

// dbOpenPatience is how long serve keeps retrying the first connection.
const dbOpenPatience = 30 * time.Second

// openDatabase connects, retrying for up to patience (a database that
// starts alongside the server), with the pool settings of the
// configuration.
func openDatabase(
	ctx context.Context, cfg *config.Config, l *slog.Logger, exclusive bool,
	patience time.Duration,
) (*db.DB, error) {
	deadline := time.Now().Add(patience)
	opts := db.Options{SSLMode: cfg.DBSSLMode, Exclusive: exclusive}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := db.Open(actx, cfg.DatabaseURL, opts)
		cancel()
		if err == nil {
			return d, nil
		}
		if !retryableOpen(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		l.Warn("database not reachable yet; retrying", "attempt", attempt,
			"error", err.Error())
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// retryableOpen reports errors worth waiting out: a database still starting.
// Configuration errors (bad URL, SQLite file in use) fail at once.
func retryableOpen(err error) bool {
	return !errors.Is(err, context.Canceled) && !errors.Is(err, db.ErrBadURL) &&
		!errors.Is(err, db.ErrInUse)
}

func goVersion() string { return runtime.Version() }
