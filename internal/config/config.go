// Package config reads the configuration of Cerberus IAM from the process
// environment and an optional .env file, applies defaults, validates every
// variable and evaluates the configuration rows of the production checklist.
//
// Load never stops at the first bad variable: it returns every problem at
// once so an operator can fix them in one pass. Rules that are refused in
// production become Problems only when NODE_ENV is production; preflight
// advice becomes Warnings in production. No Problem, Warning or Check text
// ever contains the value of a variable, so all of them are safe to print and
// to log even when the value is a secret.
//
// The package imports no other package of the project.
package config

import (
	"net/netip"
	"strings"
	"time"
)

// The values of NODE_ENV.
const (
	EnvDevelopment = "development"
	EnvTest        = "test"
	EnvProduction  = "production"
)

// Limit is the budget of a fixed-window rate limiter: at most Max requests
// per Window.
type Limit struct {
	Window time.Duration
	Max    int
}

// Config is the validated configuration of one Cerberus IAM process. Each
// field holds the value of the variable named in its comment, or its
// default; docs/configuration.md describes them all.
type Config struct {
	Env         string // NODE_ENV: development, test or production
	Port        int    // PORT
	IssuerURL   string // ISSUER_URL, no trailing slash
	DatabaseURL string // DATABASE_URL as given (it may hold a password)
	DBSSLMode   string // DB_SSL_MODE, used when DATABASE_URL has no sslmode
	RedisURL    string // REDIS_URL; empty means in-memory counters

	SecretKey []byte // SECRET_ENCRYPTION_KEY, 32 bytes
	// SecretKeyGenerated reports that SecretKey is the development key read
	// from or written to data/secret.key; the caller warns loudly about it.
	SecretKeyGenerated bool
	PreviousKeys       [][]byte // SECRET_ENCRYPTION_KEY_PREVIOUS, decrypt only

	JWTAlg         string // JWT_ALG: EdDSA or RS256
	JWKSRotateDays int    // JWKS_ROTATE_DAYS
	LoginUIURL     string // LOGIN_UI_URL; empty means the hosted pages

	AdminWebOrigin         string // ADMIN_WEB_ORIGIN
	AdminWebInternalOrigin string // ADMIN_WEB_INTERNAL_ORIGIN

	SessionCookieName   string // SESSION_COOKIE_NAME
	SessionCookieSecure bool   // SESSION_COOKIE_SECURE
	SessionCookieDomain string // SESSION_COOKIE_DOMAIN; empty is host-only

	OnboardAutoVerify bool // ONBOARD_AUTO_VERIFY
	MigrateOnStart    bool // MIGRATE_ON_START

	EmailFrom string // EMAIL_FROM, an address or "Name <address>"
	SMTPHost  string // SMTP_HOST; empty means mail is logged, not sent
	SMTPPort  int    // SMTP_PORT
	SMTPUser  string // SMTP_USER
	SMTPPass  string // SMTP_PASS

	ServiceName string // SERVICE_NAME
	LogLevel    string // LOG_LEVEL: trace, debug, info, warn, error, fatal

	LogRemoteURL           string        // LOG_REMOTE_URL
	LogRemoteAPIKey        string        // LOG_REMOTE_API_KEY
	LogRemoteBatchSize     int           // LOG_REMOTE_BATCH_SIZE
	LogRemoteFlushInterval time.Duration // LOG_REMOTE_FLUSH_INTERVAL_MS

	MetricsEnabled bool   // METRICS_ENABLED
	OTLPEndpoint   string // OTEL_EXPORTER_OTLP_ENDPOINT; empty disables tracing

	// TrustProxy lists the proxies whose X-Forwarded-For is believed
	// (TRUST_PROXY). Single addresses become /32 or /128 prefixes and
	// IPv4-mapped IPv6 addresses are unmapped.
	TrustProxy []netip.Prefix

	BodyLimitBytes  int64         // BODY_LIMIT_BYTES
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT_SEC

	RateDefault Limit // RATE_WINDOW_SEC, RATE_MAX
	RateAuth    Limit // AUTH_RATE_WINDOW_SEC, AUTH_RATE_MAX
	RateToken   Limit // TOKEN_RATE_WINDOW_SEC, TOKEN_RATE_MAX

	LockoutThreshold int           // LOGIN_LOCKOUT_THRESHOLD
	LockoutDuration  time.Duration // LOGIN_LOCKOUT_MINUTES

	HashMemoryKiB   uint32 // PASSWORD_HASH_MEMORY_KIB
	HashIterations  uint32 // PASSWORD_HASH_ITERATIONS
	HashParallelism uint8  // PASSWORD_HASH_PARALLELISM
	HashConcurrency int    // PASSWORD_HASH_CONCURRENCY

	WebhookAllowPrivateTargets bool // WEBHOOK_ALLOW_PRIVATE_TARGETS
	AuditRetentionDays         int  // AUDIT_RETENTION_DAYS
}

// Production reports whether NODE_ENV is production.
func (c *Config) Production() bool { return c.Env == EnvProduction }

// Development reports whether NODE_ENV is development or test, the modes
// with relaxed defaults.
func (c *Config) Development() bool {
	return c.Env == EnvDevelopment || c.Env == EnvTest
}

// Problem is a variable that is invalid, or refused in production. The
// process must not serve with it.
type Problem struct {
	Name   string // the variable, or ".env" for the file itself
	Reason string // what is wrong, never the value
}

// String renders the problem as "NAME: reason".
func (p Problem) String() string { return p.Name + ": " + p.Reason }

// Warning is a variable that is accepted but deserves attention.
type Warning struct {
	Name   string // the variable, or a key of .env
	Reason string // what is wrong, never the value
	Fix    string // what to do about it
}

// String renders the warning as "NAME: reason (fix)".
func (w Warning) String() string {
	s := w.Name + ": " + w.Reason
	if w.Fix != "" {
		s += " (" + w.Fix + ")"
	}
	return s
}

// FormatProblems renders problems one per line as "NAME: reason", without
// a final newline.
func FormatProblems(problems []Problem) string {
	lines := make([]string, len(problems))
	for i, p := range problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads the variables in environ (os.Environ format) and in dir/.env,
// where the environment wins over the file, applies defaults and validates
// every variable. It returns the configuration together with every problem
// and warning found; the configuration holds defaults in place of invalid
// values, so it can still feed Checks.
//
// Outside production, when SECRET_ENCRYPTION_KEY is unset, Load reads
// dir/data/secret.key, creating it (mode 0600) on first use, and sets
// SecretKeyGenerated. The error is non-nil only for I/O failures: reading
// .env or the key file, or creating the key file.
func Load(environ []string, dir string) (*Config, []Problem, []Warning, error) {
	l := newLoader()
	c, err := l.load(environ, dir)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, l.problems, l.warnings, nil
}
