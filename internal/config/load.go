package config

import (
	"net/mail"
	"net/netip"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// loadEnv reads NODE_ENV. An unrecognised value is validated with the
// production rules, so that a typo such as "prod" never relaxes them.
func (l *loader) loadEnv(c *Config) {
	c.Env = l.oneOf("NODE_ENV", "", EnvDevelopment, EnvTest, EnvProduction)
	if c.Env == "" {
		c.Env = EnvDevelopment
		if _, set := l.lookup("NODE_ENV"); set {
			c.Env = EnvProduction
		}
	}
	l.prod = c.Production()
}

// loadHTTP reads what shapes the HTTP server: port, public URLs, CORS
// origins, proxies, body limit and shutdown grace.
func (l *loader) loadHTTP(c *Config) {
	c.Port = l.integer("PORT", 4000, 1, 65535)
	l.loadIssuer(c)
	c.LoginUIURL = l.publicURL("LOGIN_UI_URL")
	l.loadOrigins(c)
	c.TrustProxy = l.trustProxy()
	c.BodyLimitBytes = int64(l.integer("BODY_LIMIT_BYTES", 1<<20, 1024, 16<<20))
	c.ShutdownTimeout = l.seconds("SHUTDOWN_TIMEOUT_SEC", 25, 1, 300)
}

// loadIssuer reads ISSUER_URL. Outside production it defaults to
// http://localhost on the configured port.
func (l *loader) loadIssuer(c *Config) {
	const name = "ISSUER_URL"
	raw, ok := l.required(name)
	if !ok {
		if !l.prod {
			c.IssuerURL = "http://localhost:" + strconv.Itoa(c.Port)
		}
		return
	}
	u, reason := checkIssuer(raw)
	if reason != "" {
		l.fail(name, reason)
		return
	}
	if u.Scheme != "https" {
		l.refuse(name, "must use https in production")
	}
	c.IssuerURL = raw
}

// publicURL reads an optional absolute URL that browsers are sent to; it
// must use https in production.
func (l *loader) publicURL(name string) string {
	raw := l.httpURL(name)
	if strings.HasPrefix(raw, "http://") {
		l.refuse(name, "must use https in production")
	}
	return raw
}

// httpURL reads an optional absolute http(s) URL.
func (l *loader) httpURL(name string) string {
	raw, ok := l.lookup(name)
	if !ok {
		return ""
	}
	if _, reason := checkHTTPURL(raw); reason != "" {
		l.fail(name, reason)
		return ""
	}
	return raw
}

func (l *loader) loadOrigins(c *Config) {
	const admin = "ADMIN_WEB_ORIGIN"
	if _, ok := l.required(admin); !ok {
		if !l.prod {
			c.AdminWebOrigin = "http://localhost:3000"
		}
	} else {
		c.AdminWebOrigin = l.origin(admin)
	}
	if strings.HasPrefix(c.AdminWebOrigin, "http://") {
		l.refuse(admin, "must use https in production")
	}
	c.AdminWebInternalOrigin = l.origin("ADMIN_WEB_INTERNAL_ORIGIN")
}

// origin reads an optional CORS origin. The wildcard "*" is accepted
// outside production only.
func (l *loader) origin(name string) string {
	raw, ok := l.lookup(name)
	if !ok {
		return ""
	}
	if raw == "*" {
		l.refuse(name, "must not be a wildcard in production")
		return raw
	}
	o, reason := checkOrigin(raw)
	if reason != "" {
		l.fail(name, reason)
	}
	return o
}

func (l *loader) trustProxy() []netip.Prefix {
	raw, ok := l.lookup("TRUST_PROXY")
	if !ok {
		return nil
	}
	var out []netip.Prefix
	for i, entry := range list(raw) {
		p, ok := parsePrefix(entry)
		if !ok {
			l.fail("TRUST_PROXY", entryReason(i, "an IP address or CIDR prefix"))
			continue
		}
		out = append(out, p)
	}
	return out
}

// seconds reads a whole number of seconds within [lo, hi].
func (l *loader) seconds(name string, def, lo, hi int) time.Duration {
	return time.Duration(l.integer(name, def, lo, hi)) * time.Second
}

// loadStorage reads the database and Redis settings.
func (l *loader) loadStorage(c *Config, dir string) {
	l.loadDatabaseURL(c, dir)
	c.DBSSLMode = l.oneOf("DB_SSL_MODE", "disable",
		"disable", "require", "verify-ca", "verify-full")
	l.adviseDatabaseTLS(c)
	l.loadRedis(c)
	c.MigrateOnStart = l.flag("MIGRATE_ON_START", c.Env == EnvDevelopment)
	if c.MigrateOnStart {
		l.advise("MIGRATE_ON_START", "every instance migrates the schema as "+
			"it starts", "set MIGRATE_ON_START=false and run `cerberus migrate "+
			"up` before a rollout")
	}
}

// loadDatabaseURL reads DATABASE_URL. Outside production it defaults to
// an SQLite file under dir/data.
func (l *loader) loadDatabaseURL(c *Config, dir string) {
	const name = "DATABASE_URL"
	raw, ok := l.required(name)
	if !ok {
		if !l.prod {
			c.DatabaseURL = defaultDatabaseURL(dir)
		}
		return
	}
	if reason := checkDatabaseURL(raw); reason != "" {
		l.fail(name, reason)
		return
	}
	c.DatabaseURL = raw
	if isSQLiteURL(raw) {
		l.advise(name, "is an embedded SQLite file: one instance only, "+
			"no replication", "use PostgreSQL: set DATABASE_URL=postgres://…")
	}
}

// defaultDatabaseURL is sqlite:./data/cerberus.db relative to dir, written
// exactly so when dir is the working directory.
func defaultDatabaseURL(dir string) string {
	if dir == "" || dir == "." {
		return "sqlite:./data/cerberus.db"
	}
	return "sqlite:" + filepath.Join(dir, "data", "cerberus.db")
}

// effectiveSSLMode is the sslmode a PostgreSQL connection uses: the URL's
// own, else DB_SSL_MODE. fromURL reports which.
func effectiveSSLMode(c *Config) (mode string, fromURL bool) {
	if m := urlSSLMode(c.DatabaseURL); m != "" {
		return m, true
	}
	return c.DBSSLMode, false
}

// adviseDatabaseTLS warns about a PostgreSQL connection that may travel
// unencrypted.
func (l *loader) adviseDatabaseTLS(c *Config) {
	if !isPostgresURL(c.DatabaseURL) {
		return
	}
	mode, fromURL := effectiveSSLMode(c)
	if sslModeEncrypts(mode) {
		return
	}
	l.advise("DB_SSL_MODE", "the database connection uses sslmode="+mode+
		", below require", sslFix(fromURL))
}

func sslFix(fromURL bool) string {
	if fromURL {
		return "set sslmode=verify-full in DATABASE_URL (the URL's sslmode " +
			"wins over DB_SSL_MODE)"
	}
	return "set DB_SSL_MODE=verify-full (or at least require)"
}

func (l *loader) loadRedis(c *Config) {
	const name = "REDIS_URL"
	raw, ok := l.lookup(name)
	if !ok {
		l.advise(name, "is not set: rate-limit counters are kept in memory "+
			"per instance", "set REDIS_URL=rediss://…")
		return
	}
	if !strings.HasPrefix(raw, "redis://") && !strings.HasPrefix(raw, "rediss://") {
		l.fail(name, "must start with redis:// or rediss://")
		return
	}
	if u, reason := checkRedisHost(raw); reason != "" {
		l.fail(name, reason)
	} else {
		c.RedisURL = u
	}
}

// loadAuth reads tokens, sessions, onboarding, lockout and hashing.
func (l *loader) loadAuth(c *Config) {
	c.JWTAlg = l.oneOf("JWT_ALG", "EdDSA", "EdDSA", "RS256")
	c.JWKSRotateDays = l.integer("JWKS_ROTATE_DAYS", 30, 1, 365)
	if c.JWKSRotateDays < 30 || c.JWKSRotateDays > 90 {
		l.advise("JWKS_ROTATE_DAYS", "is outside 30 to 90 days",
			"set JWKS_ROTATE_DAYS between 30 and 90")
	}
	l.loadSession(c)
	c.OnboardAutoVerify = l.flag("ONBOARD_AUTO_VERIFY", !l.prod)
	if c.OnboardAutoVerify {
		l.advise("ONBOARD_AUTO_VERIFY", "new accounts skip email verification",
			"set ONBOARD_AUTO_VERIFY=false")
	}
	c.LockoutThreshold = l.integer("LOGIN_LOCKOUT_THRESHOLD", 10, 1, 100)
	c.LockoutDuration = time.Duration(
		l.integer("LOGIN_LOCKOUT_MINUTES", 15, 1, 1440)) * time.Minute
	l.loadHashing(c)
}

func (l *loader) loadSession(c *Config) {
	c.SessionCookieName = l.str("SESSION_COOKIE_NAME", "cerb_sid")
	if reason := checkCookieName(c.SessionCookieName); reason != "" {
		l.fail("SESSION_COOKIE_NAME", reason)
		c.SessionCookieName = "cerb_sid"
	}
	c.SessionCookieSecure = l.flag("SESSION_COOKIE_SECURE", false)
	if !c.SessionCookieSecure {
		l.refuse("SESSION_COOKIE_SECURE", "must be true in production")
	}
	domain, ok := l.lookup("SESSION_COOKIE_DOMAIN")
	if !ok {
		return
	}
	if !validHostname(strings.TrimPrefix(domain, ".")) {
		l.fail("SESSION_COOKIE_DOMAIN", "must be a domain name such as example.com")
		return
	}
	c.SessionCookieDomain = strings.ToLower(domain)
}

// maxHashMemoryKiB caps Argon2id memory at 4 GiB per hash: anything above
// cannot run with the default concurrency on real hosts.
const maxHashMemoryKiB = 4 << 20

func (l *loader) loadHashing(c *Config) {
	c.HashMemoryKiB = uint32(l.integer("PASSWORD_HASH_MEMORY_KIB",
		65536, 19456, maxHashMemoryKiB))
	c.HashIterations = uint32(l.integer("PASSWORD_HASH_ITERATIONS", 3, 1, 10))
	c.HashParallelism = uint8(l.integer("PASSWORD_HASH_PARALLELISM", 4, 1, 16))
	c.HashConcurrency = l.integer("PASSWORD_HASH_CONCURRENCY",
		2*runtime.GOMAXPROCS(0), 1, maxInt32)
}

// loadMail reads the sender address and the SMTP relay.
func (l *loader) loadMail(c *Config) {
	const from = "EMAIL_FROM"
	if raw, ok := l.required(from); ok {
		if _, err := mail.ParseAddress(raw); err != nil {
			l.fail(from, "must be an address or Name <address>")
		} else {
			c.EmailFrom = raw
		}
	} else if !l.prod {
		c.EmailFrom = "Cerberus <no-reply@localhost>"
	}
	if host, ok := l.required("SMTP_HOST"); ok {
		if reason := checkHost(host); reason != "" {
			l.fail("SMTP_HOST", reason)
		} else {
			c.SMTPHost = host
		}
	}
	c.SMTPPort = l.integer("SMTP_PORT", 587, 1, 65535)
	c.SMTPUser = l.str("SMTP_USER", "")
	c.SMTPPass = l.str("SMTP_PASS", "")
	if c.SMTPPass != "" && c.SMTPUser == "" {
		l.fail("SMTP_PASS", "is set but SMTP_USER is empty")
	}
}

// loadTelemetry reads logging, remote log export, metrics and tracing.
func (l *loader) loadTelemetry(c *Config) {
	c.ServiceName = l.str("SERVICE_NAME", "cerberus-iam-api")
	c.LogLevel = l.oneOf("LOG_LEVEL", "info",
		"trace", "debug", "info", "warn", "error", "fatal")
	if c.LogLevel != "info" && c.LogLevel != "warn" {
		l.advise("LOG_LEVEL", "is "+c.LogLevel+", not info or warn",
			"set LOG_LEVEL=info")
	}
	l.loadRemoteLog(c)
	c.LogRemoteBatchSize = l.integer("LOG_REMOTE_BATCH_SIZE", 50, 1, 1000)
	c.LogRemoteFlushInterval = time.Duration(l.integer(
		"LOG_REMOTE_FLUSH_INTERVAL_MS", 5000, 100, 60000)) * time.Millisecond
	c.MetricsEnabled = l.flag("METRICS_ENABLED", true)
	c.OTLPEndpoint = l.httpURL("OTEL_EXPORTER_OTLP_ENDPOINT")
	c.WebhookAllowPrivateTargets = l.flag("WEBHOOK_ALLOW_PRIVATE_TARGETS", false)
	if c.WebhookAllowPrivateTargets {
		l.advise("WEBHOOK_ALLOW_PRIVATE_TARGETS", "webhooks may reach private "+
			"and loopback addresses", "set WEBHOOK_ALLOW_PRIVATE_TARGETS=false")
	}
	c.AuditRetentionDays = l.integer("AUDIT_RETENTION_DAYS", 365, 30, 3650)
}

func (l *loader) loadRemoteLog(c *Config) {
	const name, keyName = "LOG_REMOTE_URL", "LOG_REMOTE_API_KEY"
	_, urlSet := l.lookup(name)
	c.LogRemoteURL = l.httpURL(name)
	c.LogRemoteAPIKey = l.str(keyName, "")
	switch {
	case !urlSet:
		l.advise(name, "is not set: logs stay on this host",
			"set LOG_REMOTE_URL=https://… and LOG_REMOTE_API_KEY")
		if c.LogRemoteAPIKey != "" {
			l.warn(keyName, "is set but LOG_REMOTE_URL is not, so it is unused",
				"set LOG_REMOTE_URL or remove LOG_REMOTE_API_KEY")
		}
	case c.LogRemoteURL == "":
		// The URL is invalid and already reported.
	default:
		l.adviseRemoteLog(c)
	}
}

// adviseRemoteLog applies the production rules of remote export: https and
// an API key.
func (l *loader) adviseRemoteLog(c *Config) {
	if strings.HasPrefix(c.LogRemoteURL, "http://") {
		l.refuse("LOG_REMOTE_URL", "must use https in production")
	}
	if c.LogRemoteAPIKey != "" {
		return
	}
	const reason = "must be set when LOG_REMOTE_URL is set"
	l.refuse("LOG_REMOTE_API_KEY", reason)
	if !l.prod {
		l.warn("LOG_REMOTE_API_KEY", reason, "set LOG_REMOTE_API_KEY to the "+
			"collector's API key")
	}
}

// loadLimits reads the three configurable rate limiters.
func (l *loader) loadLimits(c *Config) {
	c.RateDefault = l.limit("RATE_", 120)
	c.RateAuth = l.limit("AUTH_RATE_", 30)
	c.RateToken = l.limit("TOKEN_RATE_", 30)
}

// limit reads PREFIX_WINDOW_SEC (default 60) and PREFIX_MAX.
func (l *loader) limit(prefix string, defMax int) Limit {
	return Limit{
		Window: l.seconds(prefix+"WINDOW_SEC", 60, 1, maxInt32),
		Max:    l.integer(prefix+"MAX", defMax, 1, maxInt32),
	}
}
