package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/mail"
	"github.com/cerberus-iam/cerberus/internal/oauth"
	"github.com/cerberus-iam/cerberus/internal/ratelimit"
)

// services holds what the handlers and workers of one instance share.
type services struct {
	now      func() time.Time
	keys     *crypto.KeyRing
	hasher   *crypto.PasswordHasher
	limiters map[string]ratelimit.Limiter
	outbox   *mail.Outbox
	mailer   *mail.Worker
	events   *event.Recorder
	authz    *access.Authorizer
	authn    *httpapi.Authenticator
	identity *identity.Service
	oauth    *oauth.Provider
}

// wire builds the services, the routes and the HTTP pipeline.
func (s *server) wire(ctx context.Context) error {
	svc, err := s.buildServices(ctx)
	if err != nil {
		return err
	}
	router := httpapi.NewRouter(svc.limiters, s.metrics)
	s.registerRoutes(router, svc)
	s.handler = httpapi.Pipeline(router, httpapi.PipelineOptions{
		Logger: s.log, Metrics: s.metrics, TrustProxy: s.cfg.TrustProxy,
		BodyLimit: s.cfg.BodyLimitBytes, Production: s.cfg.Production(),
		CORS: httpapi.NewCORS([]string{s.cfg.AdminWebOrigin, s.cfg.AdminWebInternalOrigin},
			!s.cfg.Production(), s.corsChecker(svc)),
	})
	return nil
}

func (s *server) buildServices(ctx context.Context) (*services, error) {
	keys, err := crypto.NewKeyRing(s.cfg.SecretKey, s.cfg.PreviousKeys...)
	if err != nil {
		return nil, fmt.Errorf("encryption keys: %w", err)
	}
	svc := &services{now: func() time.Time { return time.Now().UTC() }, keys: keys}
	svc.hasher = crypto.NewPasswordHasher(crypto.HashParams{
		MemoryKiB: s.cfg.HashMemoryKiB, Iterations: s.cfg.HashIterations,
		Parallelism: s.cfg.HashParallelism,
	}, s.cfg.HashConcurrency, 5*time.Second,
		func(d time.Duration) { s.metrics.PasswordHashWait.Observe(d.Seconds()) })
	svc.limiters, err = s.buildLimiters(ctx, svc.now)
	if err != nil {
		return nil, err
	}
	if err := s.buildMail(svc); err != nil {
		return nil, err
	}
	if err := s.buildIdentity(ctx, svc); err != nil {
		return nil, err
	}
	if err := s.buildOAuth(ctx, svc); err != nil {
		return nil, err
	}
	return svc, nil
}

// buildMail sets up the mail outbox and its worker: SMTP when SMTP_HOST is
// set, otherwise (development and test only) the log.
func (s *server) buildMail(svc *services) error {
	renderer, err := mail.NewRenderer(s.cfg.AdminWebOrigin)
	if err != nil {
		return fmt.Errorf("mail templates: %w", err)
	}
	sender := mail.NewLogSender(s.log)
	if s.cfg.SMTPHost != "" {
		sender, err = mail.NewSMTPSender(mail.SMTPConfig{Host: s.cfg.SMTPHost,
			Port: s.cfg.SMTPPort, User: s.cfg.SMTPUser, Pass: s.cfg.SMTPPass,
			From: s.cfg.EmailFrom, Production: s.cfg.Production()})
		if err != nil {
			return fmt.Errorf("mail sender: %w", err)
		}
	}
	svc.outbox = mail.NewOutbox(s.db, svc.keys, svc.now)
	svc.mailer = mail.NewWorker(s.db, svc.keys, renderer, sender, svc.now, s.log,
		mail.WorkerOptions{Poll: time.Second, Result: func(r string) {
			s.metrics.Emails.WithLabelValues(r).Inc()
		}})
	s.workers = append(s.workers, svc.mailer)
	return nil
}

// buildLimiters makes the limiter of each class: Redis-backed when
// REDIS_URL is set (shared by every instance), in memory otherwise.
func (s *server) buildLimiters(
	ctx context.Context, now func() time.Time,
) (map[string]ratelimit.Limiter, error) {
	budgets := map[string]struct {
		window time.Duration
		max    int
	}{
		httpapi.LimitDefault:   {s.cfg.RateDefault.Window, s.cfg.RateDefault.Max},
		httpapi.LimitAuth:      {s.cfg.RateAuth.Window, s.cfg.RateAuth.Max},
		httpapi.LimitToken:     {s.cfg.RateToken.Window, s.cfg.RateToken.Max},
		httpapi.LimitInviteGet: {900 * time.Second, 10},
	}
	out := map[string]ratelimit.Limiter{}
	if s.cfg.RedisURL == "" {
		for name, b := range budgets {
			out[name] = ratelimit.NewMemory(name, b.window, b.max, now)
		}
		return out, nil
	}
	client, err := ratelimit.OpenRedis(ctx, s.cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	s.closers = append(s.closers, func() { _ = client.Close() })
	for name, b := range budgets {
		out[name] = ratelimit.NewRedis(client, name, b.window, b.max, now, s.log)
	}
	return out, nil
}

// registerRoutes adds every route of the server.
func (s *server) registerRoutes(rt *httpapi.Router, svc *services) {
	health := &httpapi.Health{DB: s.db, Draining: &s.draining, Now: svc.now}
	s.registerOAuth(rt, svc, health)
	health.Register(rt)
	s.registerIdentity(rt, svc)
	s.registerAdmin(rt, svc)
	s.registerWebhooks(rt, svc)
	if s.cfg.MetricsEnabled {
		rt.HandleHTTP(http.MethodGet, "/metrics", s.metrics.Handler(),
			httpapi.Limit(httpapi.LimitNone))
	}
}
