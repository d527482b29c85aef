package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
)

// Status is the outcome of one preflight check.
type Status string

// The outcomes of a check. FAIL makes preflight exit 1.
const (
	Pass Status = "PASS"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Check is one row of the preflight table.
type Check struct {
	Name   string // what is checked
	Status Status
	Detail string // what was found; never a secret value
	Fix    string // what to do when the status is not PASS
}

// row is one configuration check of the production checklist: the
// variables it covers and how it judges a configuration.
type row struct {
	name string
	vars []string
	eval func(c *Config) verdict
}

// verdict is a row's own judgement before problems and warnings are
// merged in.
type verdict struct {
	status      Status
	detail, fix string
}

func passed(detail string) verdict      { return verdict{Pass, detail, ""} }
func warned(detail, fix string) verdict { return verdict{Warn, detail, fix} }
func failed(detail, fix string) verdict { return verdict{Fail, detail, fix} }

// Checks evaluates the configuration rows of the production checklist
// against c, judging it by production standards whatever its NODE_ENV.
// Problems and warnings from Load are merged into the row that covers their
// variable (a problem makes it FAIL, a warning at least WARN); those no row
// covers get a row of their own, named after the variable.
func Checks(c *Config, problems []Problem, warnings []Warning) []Check {
	covered := map[string]bool{}
	var out []Check
	for _, r := range rows {
		for _, v := range r.vars {
			covered[v] = true
		}
		out = append(out, r.check(c, problems, warnings))
	}
	for _, p := range problems {
		if !covered[p.Name] {
			out = append(out, Check{Name: p.Name, Status: Fail,
				Detail: p.Reason, Fix: problemFix(p.Name)})
		}
	}
	for _, w := range warnings {
		if !covered[w.Name] {
			out = append(out, Check{Name: w.Name, Status: Warn,
				Detail: w.Reason, Fix: w.Fix})
		}
	}
	return out
}

// check judges c and merges the problems and warnings of the row's
// variables.
func (r row) check(c *Config, problems []Problem, warnings []Warning) Check {
	v := r.eval(c)
	ck := Check{Name: r.name, Status: v.status, Detail: v.detail, Fix: v.fix}
	var found []string
	for _, p := range problems {
		if !slices.Contains(r.vars, p.Name) {
			continue
		}
		if len(found) == 0 && v.status != Fail {
			ck.Fix = problemFix(p.Name)
		}
		found = append(found, p.String())
	}
	if len(found) > 0 {
		ck.Status, ck.Detail = Fail, strings.Join(found, "; ")
		return ck
	}
	if ck.Status != Pass {
		return ck
	}
	for _, w := range warnings {
		if slices.Contains(r.vars, w.Name) {
			ck.Status, ck.Detail, ck.Fix = Warn, w.Name+": "+w.Reason, w.Fix
			return ck
		}
	}
	return ck
}

func problemFix(name string) string {
	if name == ".env" {
		return "correct the syntax of .env"
	}
	return "correct " + name + " (see docs/configuration.md)"
}

// rows are the configuration checks, in the order preflight prints them.
var rows = []row{
	{"Production mode", []string{"NODE_ENV"}, checkMode},
	{"Encryption key", []string{keyVar, previousKeyVar}, checkKey},
	{"Session cookie", []string{"SESSION_COOKIE_SECURE",
		"SESSION_COOKIE_DOMAIN", "SESSION_COOKIE_NAME"}, checkCookie},
	{"CORS origins", []string{"ADMIN_WEB_ORIGIN",
		"ADMIN_WEB_INTERNAL_ORIGIN"}, checkCORS},
	{"Rate limits", []string{"RATE_WINDOW_SEC", "RATE_MAX",
		"AUTH_RATE_WINDOW_SEC", "AUTH_RATE_MAX", "TOKEN_RATE_WINDOW_SEC",
		"TOKEN_RATE_MAX"}, checkRates},
	{"Issuer URL", []string{"ISSUER_URL"}, checkIssuerRow},
	{"Login UI URL", []string{"LOGIN_UI_URL"}, checkLoginUI},
	{"Database", []string{"DATABASE_URL"}, checkDatabase},
	{"Database TLS", []string{"DB_SSL_MODE"}, checkDatabaseTLS},
	{"Redis", []string{"REDIS_URL"}, checkRedis},
	{"Signing key rotation", []string{"JWKS_ROTATE_DAYS", "JWT_ALG"},
		checkRotation},
	{"Log level", []string{"LOG_LEVEL"}, checkLogLevel},
	{"Remote log export", []string{"LOG_REMOTE_URL", "LOG_REMOTE_API_KEY",
		"LOG_REMOTE_BATCH_SIZE", "LOG_REMOTE_FLUSH_INTERVAL_MS"},
		checkRemoteLog},
	{"Mail", []string{"SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASS",
		"EMAIL_FROM"}, checkMail},
	{"Onboarding auto-verify", []string{"ONBOARD_AUTO_VERIFY"},
		flagRow(func(c *Config) bool { return c.OnboardAutoVerify },
			"new accounts skip email verification",
			"set ONBOARD_AUTO_VERIFY=false")},
	{"Migrate on start", []string{"MIGRATE_ON_START"},
		flagRow(func(c *Config) bool { return c.MigrateOnStart },
			"every instance migrates the schema as it starts",
			"set MIGRATE_ON_START=false and run `cerberus migrate up` "+
				"before a rollout")},
	{"Webhook private targets", []string{"WEBHOOK_ALLOW_PRIVATE_TARGETS"},
		flagRow(func(c *Config) bool { return c.WebhookAllowPrivateTargets },
			"webhooks may reach private and loopback addresses",
			"set WEBHOOK_ALLOW_PRIVATE_TARGETS=false")},
}

func checkMode(c *Config) verdict {
	if c.Production() {
		return passed("NODE_ENV=production")
	}
	return failed("NODE_ENV is "+c.Env, "set NODE_ENV=production")
}

func checkKey(c *Config) verdict {
	switch {
	case c.SecretKeyGenerated:
		return failed("using the generated development key (data/secret.key)",
			keyFix)
	case len(c.SecretKey) != KeySize:
		return failed("SECRET_ENCRYPTION_KEY is not set", keyFix)
	case weakKey(c.SecretKey):
		return failed("SECRET_ENCRYPTION_KEY is weak: fewer than 16 distinct "+
			"byte values", keyFix)
	}
	return passed(fmt.Sprintf("32-byte key set, %d previous key(s) for "+
		"decryption", len(c.PreviousKeys)))
}

func checkCookie(c *Config) verdict {
	if !c.SessionCookieSecure {
		return failed("the session cookie may travel over plain HTTP",
			"set SESSION_COOKIE_SECURE=true")
	}
	d := c.SessionCookieDomain
	if d == "" {
		return passed("Secure, host-only")
	}
	if !domainCovers(strings.TrimPrefix(d, "."), urlHost(c.IssuerURL)) {
		return warned("SESSION_COOKIE_DOMAIN does not cover the ISSUER_URL "+
			"host, so browsers will reject the session cookie",
			"set SESSION_COOKIE_DOMAIN to a parent domain of the ISSUER_URL "+
				"host, or leave it empty for a host-only cookie")
	}
	return passed("Secure, Domain=" + d)
}

// domainCovers reports whether a cookie for domain is sent to host.
func domainCovers(domain, host string) bool {
	host = strings.ToLower(host)
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// urlHost returns the host name of a URL, without port.
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func checkCORS(c *Config) verdict {
	const fix = "set ADMIN_WEB_ORIGIN to the exact https origin of the " +
		"admin web app, e.g. https://admin.example.com"
	switch {
	case c.AdminWebOrigin == "":
		return failed("ADMIN_WEB_ORIGIN is not set", fix)
	case c.AdminWebOrigin == "*":
		return failed("ADMIN_WEB_ORIGIN is a wildcard", fix)
	case c.AdminWebInternalOrigin == "*":
		return failed("ADMIN_WEB_INTERNAL_ORIGIN is a wildcard",
			"set ADMIN_WEB_INTERNAL_ORIGIN to an exact origin, or unset it")
	case !strings.HasPrefix(c.AdminWebOrigin, "https://"):
		return failed("ADMIN_WEB_ORIGIN does not use https", fix)
	}
	detail := c.AdminWebOrigin
	if c.AdminWebInternalOrigin != "" {
		detail += ", " + c.AdminWebInternalOrigin
	}
	return passed(detail)
}

func checkRates(c *Config) verdict {
	detail := fmt.Sprintf("default %s, auth %s, token %s",
		budget(c.RateDefault), budget(c.RateAuth), budget(c.RateToken))
	if looser(c.RateAuth, c.RateDefault) {
		return warned("the auth limiter ("+budget(c.RateAuth)+") allows more "+
			"than the default one", "lower AUTH_RATE_MAX or raise "+
			"AUTH_RATE_WINDOW_SEC (defaults 30 per 60 s)")
	}
	if looser(c.RateToken, c.RateDefault) {
		return warned("the token limiter ("+budget(c.RateToken)+") allows more "+
			"than the default one", "lower TOKEN_RATE_MAX or raise "+
			"TOKEN_RATE_WINDOW_SEC (defaults 30 per 60 s)")
	}
	return passed(detail)
}

func budget(l Limit) string {
	return fmt.Sprintf("%d per %d s", l.Max, int64(l.Window.Seconds()))
}

// looser reports whether a allows a higher request rate than b.
func looser(a, b Limit) bool {
	if a.Window <= 0 || b.Window <= 0 {
		return false
	}
	return float64(a.Max)/a.Window.Seconds() > float64(b.Max)/b.Window.Seconds()
}

func checkIssuerRow(c *Config) verdict {
	switch {
	case c.IssuerURL == "":
		return failed("ISSUER_URL is not set",
			"set ISSUER_URL to the public https URL, e.g. https://id.example.com")
	case !strings.HasPrefix(c.IssuerURL, "https://"):
		return failed("ISSUER_URL does not use https",
			"serve Cerberus over https and set ISSUER_URL=https://…")
	}
	return passed(c.IssuerURL)
}

func checkLoginUI(c *Config) verdict {
	switch {
	case c.LoginUIURL == "":
		return passed("hosted login pages")
	case !strings.HasPrefix(c.LoginUIURL, "https://"):
		return failed("LOGIN_UI_URL does not use https",
			"set LOGIN_UI_URL to an https URL, or unset it")
	}
	return passed(c.LoginUIURL)
}

func checkDatabase(c *Config) verdict {
	const fix = "use PostgreSQL: set DATABASE_URL=postgres://…"
	switch {
	case c.DatabaseURL == "":
		return failed("DATABASE_URL is not set", fix)
	case isSQLiteURL(c.DatabaseURL):
		return warned("embedded SQLite: one instance only, no replication", fix)
	}
	return passed("PostgreSQL at " + databaseHost(c.DatabaseURL))
}

func checkDatabaseTLS(c *Config) verdict {
	if !isPostgresURL(c.DatabaseURL) {
		return passed("not applicable: no PostgreSQL connection")
	}
	mode, fromURL := effectiveSSLMode(c)
	source := "DB_SSL_MODE"
	if fromURL {
		source = "DATABASE_URL"
	}
	detail := "sslmode=" + mode + " (from " + source + ")"
	if !sslModeEncrypts(mode) {
		return warned(detail+": the connection may be unencrypted",
			sslFix(fromURL))
	}
	return passed(detail)
}

func checkRedis(c *Config) verdict {
	if c.RedisURL == "" {
		return warned("REDIS_URL is not set: rate-limit counters are in "+
			"memory and per instance", "set REDIS_URL=rediss://…")
	}
	u, err := url.Parse(c.RedisURL)
	if err != nil {
		return passed("set")
	}
	return passed(u.Scheme + "://" + u.Host)
}

func checkRotation(c *Config) verdict {
	detail := fmt.Sprintf("%s keys rotated every %d days", c.JWTAlg,
		c.JWKSRotateDays)
	if c.JWKSRotateDays < 30 || c.JWKSRotateDays > 90 {
		return warned(detail+", outside 30 to 90",
			"set JWKS_ROTATE_DAYS between 30 and 90")
	}
	return passed(detail)
}

func checkLogLevel(c *Config) verdict {
	if c.LogLevel == "info" || c.LogLevel == "warn" {
		return passed("LOG_LEVEL=" + c.LogLevel)
	}
	return warned("LOG_LEVEL is "+c.LogLevel+", not info or warn",
		"set LOG_LEVEL=info")
}

func checkRemoteLog(c *Config) verdict {
	switch {
	case c.LogRemoteURL == "":
		return warned("remote log export is off: logs stay on this host",
			"set LOG_REMOTE_URL=https://… and LOG_REMOTE_API_KEY")
	case !strings.HasPrefix(c.LogRemoteURL, "https://"):
		return failed("LOG_REMOTE_URL does not use https",
			"set LOG_REMOTE_URL to an https URL")
	case c.LogRemoteAPIKey == "":
		return failed("LOG_REMOTE_API_KEY is not set",
			"set LOG_REMOTE_API_KEY to the collector's API key")
	}
	return passed("exporting to " + urlHost(c.LogRemoteURL))
}

func checkMail(c *Config) verdict {
	switch {
	case c.SMTPHost == "":
		return failed("SMTP_HOST is not set: no email is sent",
			"set SMTP_HOST, SMTP_PORT, SMTP_USER and SMTP_PASS")
	case c.EmailFrom == "":
		return failed("EMAIL_FROM is not set",
			`set EMAIL_FROM="Example <no-reply@example.com>"`)
	case localSender(c.EmailFrom):
		return warned("EMAIL_FROM is a localhost address",
			"set EMAIL_FROM to an address of your mail domain")
	}
	return passed(fmt.Sprintf("SMTP %s:%d", c.SMTPHost, c.SMTPPort))
}

// localSender reports a sender address on localhost, the development
// default.
func localSender(from string) bool {
	a, err := mail.ParseAddress(from)
	return err == nil && strings.HasSuffix(strings.ToLower(a.Address), "@localhost")
}

// flagRow builds a row that warns when a boolean setting is on.
func flagRow(on func(*Config) bool, detail, fix string) func(*Config) verdict {
	return func(c *Config) verdict {
		if on(c) {
			return warned(detail, fix)
		}
		return passed("off")
	}
}
