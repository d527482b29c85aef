package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cerberus-iam/cerberus/internal/config"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

const serveUsage = `Usage: cerberus serve

Starts the server on PORT with the workers (mail outbox and the other
background jobs). Configuration comes from the environment and ./.env.
SIGTERM or SIGINT drains and stops it: /health answers 503, the listener
closes, in-flight requests get SHUTDOWN_TIMEOUT_SEC to finish.
`

var serveCommand = command{
	summary: "run the HTTP server and the background workers",
	usage:   serveUsage,
	run:     runServe,
}

// HTTP server limits of the contract.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

func runServe(ctx context.Context, e *Env, args []string) int {
	if len(args) > 0 {
		return usageError(e, serveUsage, "serve takes no arguments")
	}
	cfg, warnings := loadConfig(e)
	if cfg == nil {
		return ExitFailure
	}
	s, err := newServer(ctx, e, cfg)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: %v\n", err)
		return ExitFailure
	}
	warnConfig(s.log, cfg, warnings)
	if err := s.run(ctx); err != nil {
		s.log.Error("server stopped with an error", "error", err.Error())
		s.close()
		return ExitFailure
	}
	s.close()
	return ExitOK
}

// worker is a background job of serve; Run returns when ctx ends, after
// finishing the item in hand.
type worker interface {
	Run(ctx context.Context) error
}

// server is a running instance: configuration, storage, services, HTTP
// and workers.
type server struct {
	cfg      *config.Config
	env      *Env
	log      *slog.Logger
	shipper  *telemetry.Shipper
	metrics  *telemetry.Metrics
	traces   func(context.Context) error
	db       *db.DB
	draining atomic.Bool
	handler  http.Handler
	workers  []worker
	closers  []func()
}

func newServer(ctx context.Context, e *Env, cfg *config.Config) (*server, error) {
	s := &server{cfg: cfg, env: e}
	s.setupTelemetry()
	if err := s.setupTracing(ctx); err != nil {
		s.close()
		return nil, err
	}
	if err := s.setupDatabase(ctx); err != nil {
		s.close()
		return nil, err
	}
	if err := s.wire(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *server) setupTelemetry() {
	s.metrics = telemetry.NewMetrics(s.env.Build.Version, s.env.Build.Commit)
	if s.cfg.LogRemoteURL != "" {
		s.shipper = telemetry.NewShipper(telemetry.ShipperOptions{
			URL: s.cfg.LogRemoteURL, APIKey: s.cfg.LogRemoteAPIKey,
			BatchSize: s.cfg.LogRemoteBatchSize, FlushInterval: s.cfg.LogRemoteFlushInterval,
			Dropped: func(n int) { s.metrics.LogExportDropped.Add(float64(n)) },
		})
		s.shipper.Start()
	}
	s.log = newLogger(s.env, s.cfg, s.shipper)
	slog.SetDefault(s.log)
}

func (s *server) setupTracing(ctx context.Context) error {
	shutdown, err := telemetry.SetupTracing(ctx, s.cfg.OTLPEndpoint, s.cfg.ServiceName,
		s.env.Build.Version)
	if err != nil {
		return fmt.Errorf("set up tracing: %w", err)
	}
	s.traces = shutdown
	return nil
}

func (s *server) setupDatabase(ctx context.Context) error {
	exclusive := db.EngineOf(s.cfg.DatabaseURL) == db.SQLite
	d, err := openDatabase(ctx, s.cfg, s.log, exclusive, dbOpenPatience)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	s.db = d
	s.metrics.RegisterDBPool(d.Stats)
	system := "sqlite"
	if d.Dialect.Engine() == db.Postgres {
		system = "postgresql"
	}
	d.TxHook = func(ctx context.Context) (context.Context, func(error)) {
		ctx, span := telemetry.StartDBSpan(ctx, system, "transaction")
		return ctx, func(err error) { telemetry.EndSpan(span, err) }
	}
	return s.checkSchema(ctx)
}

// checkSchema migrates an old schema when MIGRATE_ON_START allows it and
// refuses it otherwise; a newer schema (rolling upgrade) only warns.
func (s *server) checkSchema(ctx context.Context) error {
	st, err := s.db.Schema(ctx)
	if err != nil {
		return err
	}
	switch {
	case st.Ahead():
		s.log.Warn("database schema is newer than this binary", "schema", st.Current,
			"binary", st.Latest)
	case st.Behind() && s.cfg.MigrateOnStart:
		applied, err := s.db.MigrateUp(ctx, 0)
		if err != nil {
			return err
		}
		s.log.Info("database migrated", "applied", len(applied), "version", st.Latest)
	case st.Behind():
		return fmt.Errorf("database schema is at version %d, this binary needs %d: "+
			"run `cerberus migrate up`", st.Current, st.Latest)
	}
	return nil
}

// run serves until ctx ends, then drains: /health turns 503, after a
// short delay (so load balancers stop sending) the listener closes and
// in-flight requests get SHUTDOWN_TIMEOUT_SEC; then the workers stop.
func (s *server) run(ctx context.Context) error {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(s.cfg.Port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := s.httpServer()
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	s.startWorkers(wctx, &wg)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("cerberus listening", "port", s.cfg.Port, "issuer", s.cfg.IssuerURL)

	select {
	case err := <-served:
		stopWorkers()
		wg.Wait()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	err = s.drain(srv)
	stopWorkers()
	wg.Wait()
	s.log.Info("cerberus stopped")
	return err
}

func (s *server) httpServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// drainDelay is how long /health answers 503 before the listener closes:
// a fifth of the shutdown timeout, at most 5 s.
func (s *server) drainDelay() time.Duration {
	return min(5*time.Second, s.cfg.ShutdownTimeout/5)
}

func (s *server) drain(srv *http.Server) error {
	s.draining.Store(true)
	s.log.Info("shutting down: draining", "delay", s.drainDelay().String(),
		"timeout", s.cfg.ShutdownTimeout.String())
	time.Sleep(s.drainDelay())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("shutdown timeout reached; closing remaining connections")
		_ = srv.Close()
		return nil
	}
	return err
}

func (s *server) startWorkers(ctx context.Context, wg *sync.WaitGroup) {
	for _, w := range s.workers {
		wg.Go(func() {
			if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("worker stopped", "worker", fmt.Sprintf("%T", w),
					"error", err.Error())
			}
		})
	}
}

// close releases everything in reverse order of creation and flushes the
// log shipper and tracing last.
func (s *server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	if s.db != nil {
		_ = s.db.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.traces != nil {
		_ = s.traces(ctx)
	}
	if s.shipper != nil {
		_ = s.shipper.Close(ctx)
	}
}
