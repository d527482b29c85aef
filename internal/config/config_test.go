package config

import (
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// goodKey is a strong key: 32 distinct byte values.
var goodKey = func() string {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = byte(i*7 + 3)
	}
	return base64.StdEncoding.EncodeToString(k)
}()

// weakKeyValue decodes to 32 bytes with only two distinct values.
var weakKeyValue = base64.StdEncoding.EncodeToString(
	[]byte(strings.Repeat("ab", 16)))

// soundProduction is a production environment that breaks no rule and
// draws no warning.
func soundProduction() []string {
	return []string{
		"NODE_ENV=production",
		"ISSUER_URL=https://id.example.com",
		"DATABASE_URL=postgres://cerberus:pw@db.internal:5432/cerberus" +
			"?sslmode=verify-full",
		"REDIS_URL=rediss://cache.internal:6380",
		"SECRET_ENCRYPTION_KEY=" + goodKey,
		"ADMIN_WEB_ORIGIN=https://admin.example.com",
		"SESSION_COOKIE_SECURE=true",
		"EMAIL_FROM=Example <no-reply@example.com>",
		"SMTP_HOST=smtp.example.com",
		"SMTP_USER=mailer",
		"SMTP_PASS=mail-secret",
		"LOG_REMOTE_URL=https://logs.example.com/ingest",
		"LOG_REMOTE_API_KEY=log-secret",
	}
}

// load runs Load in dir and fails the test on an I/O error.
func load(t *testing.T, dir string, environ ...string) (*Config, []Problem, []Warning) {
	t.Helper()
	c, problems, warnings, err := Load(environ, dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, problems, warnings
}

// with returns base with the variables of extra replacing or adding to it.
func with(base []string, extra ...string) []string {
	out := slices.Clone(base)
	for _, kv := range extra {
		name, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(s string) bool {
			return strings.HasPrefix(s, name+"=")
		})
		out = append(out, kv)
	}
	return out
}

func without(base []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(base), func(s string) bool {
		return strings.HasPrefix(s, name+"=")
	})
}

func problemNames(problems []Problem) []string {
	var names []string
	for _, p := range problems {
		names = append(names, p.Name)
	}
	return names
}

func warningNames(warnings []Warning) []string {
	var names []string
	for _, w := range warnings {
		names = append(names, w.Name)
	}
	return names
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// parseErrorCases holds, for every variable that can be invalid, values
// that must be refused in any mode with a reason containing want.
var parseErrorCases = []struct {
	name, value, want string
}{
	{"NODE_ENV", "staging", "must be development, test or production"},
	{"PORT", "0", "must be an integer between 1 and 65535"},
	{"PORT", "65536", "must be an integer between 1 and 65535"},
	{"PORT", "http", "must be an integer between 1 and 65535"},
	{"ISSUER_URL", "localhost:4000", "absolute http or https URL"},
	{"ISSUER_URL", "ftp://id.example.com", "absolute http or https URL"},
	{"ISSUER_URL", "https://id.example.com/", "must not end with a slash"},
	{"ISSUER_URL", "https://id.example.com?tenant=a", "must not have a query"},
	{"ISSUER_URL", "https://id.example.com#top", "must not have a fragment"},
	{"ISSUER_URL", "https://u:p@id.example.com", "must not contain credentials"},
	{"DATABASE_URL", "mysql://db/cerberus", "must start with postgres://"},
	{"DATABASE_URL", "sqlite:", "names no SQLite file"},
	{"DATABASE_URL", "postgres:///cerberus", "names no PostgreSQL host"},
	{"DATABASE_URL", "postgres://db/c?sslmode=sometimes", "sslmode"},
	{"DATABASE_URL", "postgres://db/c?connection_limit=0", "connection_limit"},
	{"DATABASE_URL", "postgres://db/c?connection_limit=1", "at least 2"},
	{"DATABASE_URL", "postgres://db/c?pool_timeout=-1", "pool_timeout"},
	{"DB_SSL_MODE", "prefer", "must be disable, require, verify-ca or verify-full"},
	{"REDIS_URL", "http://cache:6379", "must start with redis:// or rediss://"},
	{"REDIS_URL", "redis://", "names no Redis host"},
	{"SECRET_ENCRYPTION_KEY", "c2hvcnQ=", "base64 of exactly 32 bytes"},
	{"SECRET_ENCRYPTION_KEY", "not base64 at all!", "base64 of exactly 32 bytes"},
	{"SECRET_ENCRYPTION_KEY_PREVIOUS", goodKey + ",c2hvcnQ=", "entry 2 is not"},
	{"JWT_ALG", "HS256", "must be EdDSA or RS256"},
	{"JWKS_ROTATE_DAYS", "0", "must be an integer between 1 and 365"},
	{"JWKS_ROTATE_DAYS", "366", "must be an integer between 1 and 365"},
	{"LOGIN_UI_URL", "/login", "absolute http or https URL"},
	{"ADMIN_WEB_ORIGIN", "https://admin.example.com/app", "scheme://host[:port]"},
	{"ADMIN_WEB_ORIGIN", "https://*.example.com", "wildcard patterns"},
	{"ADMIN_WEB_ORIGIN", "admin.example.com", "scheme://host[:port]"},
	{"ADMIN_WEB_INTERNAL_ORIGIN", "ftp://admin.internal", "scheme://host[:port]"},
	{"ADMIN_WEB_INTERNAL_ORIGIN", "http://admin.internal?x", "scheme://host[:port]"},
	{"SESSION_COOKIE_NAME", "cerb sid", "letters, digits, '_' and '-'"},
	{"SESSION_COOKIE_NAME", "sid;path", "letters, digits, '_' and '-'"},
	{"SESSION_COOKIE_SECURE", "maybe", "must be true or false"},
	{"SESSION_COOKIE_DOMAIN", "-bad-.example.com", "must be a domain name"},
	{"SESSION_COOKIE_DOMAIN", "https://example.com", "must be a domain name"},
	{"ONBOARD_AUTO_VERIFY", "2", "must be true or false"},
	{"MIGRATE_ON_START", "always", "must be true or false"},
	{"EMAIL_FROM", "not an address", "must be an address or Name <address>"},
	{"SMTP_HOST", "smtp.example.com:587", "without scheme or port"},
	{"SMTP_HOST", "smtp://smtp.example.com", "without scheme or port"},
	{"SMTP_PORT", "70000", "must be an integer between 1 and 65535"},
	{"SMTP_PASS", "orphan-password", "SMTP_USER is empty"},
	{"LOG_LEVEL", "verbose", "must be trace, debug, info, warn, error or fatal"},
	{"LOG_REMOTE_URL", "ftp://logs.example.com", "absolute http or https URL"},
	{"LOG_REMOTE_BATCH_SIZE", "0", "must be an integer between 1 and 1000"},
	{"LOG_REMOTE_BATCH_SIZE", "1001", "must be an integer between 1 and 1000"},
	{"LOG_REMOTE_FLUSH_INTERVAL_MS", "99", "between 100 and 60000"},
	{"LOG_REMOTE_FLUSH_INTERVAL_MS", "60001", "between 100 and 60000"},
	{"METRICS_ENABLED", "enabled", "must be true or false"},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "absolute http or https URL"},
	{"TRUST_PROXY", "10.0.0.1, proxy.internal", "entry 2 is not an IP address"},
	{"TRUST_PROXY", "10.0.0.0/33", "entry 1 is not an IP address"},
	{"TRUST_PROXY", "fe80::1%eth0", "entry 1 is not an IP address"},
	{"BODY_LIMIT_BYTES", "1023", "must be an integer between 1024 and 16777216"},
	{"BODY_LIMIT_BYTES", "16777217", "between 1024 and 16777216"},
	{"SHUTDOWN_TIMEOUT_SEC", "0", "must be an integer between 1 and 300"},
	{"SHUTDOWN_TIMEOUT_SEC", "301", "must be an integer between 1 and 300"},
	{"RATE_WINDOW_SEC", "0", "must be an integer between 1 and 2147483647"},
	{"RATE_MAX", "-1", "must be an integer between 1 and 2147483647"},
	{"AUTH_RATE_WINDOW_SEC", "1m", "must be an integer between 1 and"},
	{"AUTH_RATE_MAX", "0", "must be an integer between 1 and"},
	{"TOKEN_RATE_WINDOW_SEC", "0", "must be an integer between 1 and"},
	{"TOKEN_RATE_MAX", "1.5", "must be an integer between 1 and"},
	{"LOGIN_LOCKOUT_THRESHOLD", "101", "must be an integer between 1 and 100"},
	{"LOGIN_LOCKOUT_MINUTES", "1441", "must be an integer between 1 and 1440"},
	{"PASSWORD_HASH_MEMORY_KIB", "19455", "between 19456 and 4194304"},
	{"PASSWORD_HASH_ITERATIONS", "11", "must be an integer between 1 and 10"},
	{"PASSWORD_HASH_PARALLELISM", "17", "must be an integer between 1 and 16"},
	{"PASSWORD_HASH_CONCURRENCY", "0", "must be an integer between 1 and"},
	{"WEBHOOK_ALLOW_PRIVATE_TARGETS", "sure", "must be true or false"},
	{"AUDIT_RETENTION_DAYS", "29", "must be an integer between 30 and 3650"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range parseErrorCases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			base := []string{"SECRET_ENCRYPTION_KEY=" + goodKey}
			if tc.name == "NODE_ENV" {
				// An unknown mode is judged by the production rules.
				base = without(soundProduction(), "NODE_ENV")
			}
			_, problems, _ := load(t, t.TempDir(), with(base, tc.name+"="+tc.value)...)
			if len(problems) != 1 || problems[0].Name != tc.name {
				t.Fatalf("problems = %v, want one for %s", problems, tc.name)
			}
			if !strings.Contains(problems[0].Reason, tc.want) {
				t.Errorf("reason = %q, want it to contain %q", problems[0].Reason, tc.want)
			}
			if len(tc.value) >= 4 && strings.Contains(problems[0].String(), tc.value) {
				t.Errorf("problem %q quotes the value", problems[0])
			}
		})
	}
}

// TestParseErrorsCoverEveryVariable keeps the table above complete: every
// variable that has invalid values appears in it.
func TestParseErrorsCoverEveryVariable(t *testing.T) {
	free := map[string]bool{ // any value is valid
		"SERVICE_NAME": true, "SMTP_USER": true, "LOG_REMOTE_API_KEY": true,
	}
	tested := map[string]bool{}
	for _, tc := range parseErrorCases {
		tested[tc.name] = true
	}
	for _, name := range knownVars {
		if !free[name] && !tested[name] {
			t.Errorf("no parse error case for %s", name)
		}
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	_, problems, _ := load(t, t.TempDir(),
		"PORT=0", "JWT_ALG=none", "SESSION_COOKIE_SECURE=perhaps",
		"LOG_LEVEL=loud", "TRUST_PROXY=somewhere", "AUDIT_RETENTION_DAYS=1",
		"SECRET_ENCRYPTION_KEY=short")
	want := []string{"PORT", "SECRET_ENCRYPTION_KEY", "JWT_ALG",
		"SESSION_COOKIE_SECURE", "LOG_LEVEL", "AUDIT_RETENTION_DAYS",
		"TRUST_PROXY"}
	got := problemNames(problems)
	if !sameSet(got, want) {
		t.Fatalf("problems = %v, want %v", got, want)
	}
	text := FormatProblems(problems)
	lines := strings.Split(text, "\n")
	if len(lines) != len(want) {
		t.Fatalf("FormatProblems gave %d lines, want %d:\n%s", len(lines), len(want), text)
	}
	for i, line := range lines {
		if want := problems[i].Name + ": " + problems[i].Reason; line != want {
			t.Errorf("line %d = %q, want %q", i, line, want)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestFormatProblemsEmpty(t *testing.T) {
	if got := FormatProblems(nil); got != "" {
		t.Errorf("FormatProblems(nil) = %q, want empty", got)
	}
}

func TestDotEnvEnvironmentWins(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".env"), strings.Join([]string{
		"# local settings",
		"PORT=5000",
		"LOG_LEVEL=debug",
		`SERVICE_NAME="cerberus local"`,
		"JWT_ALG=RS256",
		"SECRET_ENCRYPTION_KEY=" + goodKey,
	}, "\n"), 0o600)

	c, problems, warnings := load(t, dir, "LOG_LEVEL=warn", "JWT_ALG=")
	if len(problems) != 0 || len(warnings) != 0 {
		t.Fatalf("problems %v, warnings %v", problems, warnings)
	}
	if c.Port != 5000 || c.ServiceName != "cerberus local" {
		t.Errorf("port %d, service %q: .env values not read", c.Port, c.ServiceName)
	}
	if c.LogLevel != "warn" {
		t.Errorf("LogLevel = %q, want the environment's warn", c.LogLevel)
	}
	if c.JWTAlg != "EdDSA" {
		t.Errorf("JWTAlg = %q, want the default: an empty environment value wins",
			c.JWTAlg)
	}
	if c.SecretKeyGenerated {
		t.Error("key from .env reported as generated")
	}
}

func TestDotEnvUnknownKeysWarn(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".env"),
		"SESSION_COOKIE_SECUR=true\nCOMPLETELY_UNRELATED=1\nPORT=4100\n", 0o600)

	c, problems, warnings := load(t, dir, "PATH=/usr/bin", "HOME=/root")
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	if got := warningNames(warnings); !sameSet(got,
		[]string{"COMPLETELY_UNRELATED", "SESSION_COOKIE_SECUR"}) {
		t.Fatalf("warnings = %v", warnings)
	}
	for _, w := range warnings {
		if w.Name == "SESSION_COOKIE_SECUR" &&
			!strings.Contains(w.Fix, "SESSION_COOKIE_SECURE") {
			t.Errorf("fix %q does not suggest SESSION_COOKIE_SECURE", w.Fix)
		}
		if w.Name == "COMPLETELY_UNRELATED" && w.Fix != "remove it from .env" {
			t.Errorf("fix %q, want removal", w.Fix)
		}
	}
	if c.Port != 4100 || c.SessionCookieSecure {
		t.Errorf("port %d secure %v", c.Port, c.SessionCookieSecure)
	}
}

func TestDotEnvMalformed(t *testing.T) {
	for name, content := range map[string]string{
		"unterminated quote": "SMTP_PASS='s3cr3t-value\n",
		"bare value":         "s3cr3t-value\n",
		"space in name":      "SMTP PASS=s3cr3t-value\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, ".env"), content, 0o600)
			_, problems, _ := load(t, dir)
			if len(problems) != 1 || problems[0].Name != ".env" {
				t.Fatalf("problems = %v, want one for .env", problems)
			}
			if strings.Contains(problems[0].Reason, "s3cr3t") {
				t.Errorf("reason %q quotes the file", problems[0].Reason)
			}
		})
	}
}

func TestDotEnvUnreadableIsError(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".env"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := Load(nil, dir); err == nil {
		t.Fatal("Load with a directory as .env: no error")
	}
}

func TestProductionRefusalsNameEachVariable(t *testing.T) {
	dir := t.TempDir()
	env := with(without(soundProduction(), "SECRET_ENCRYPTION_KEY"),
		"SESSION_COOKIE_SECURE=false", "ISSUER_URL=http://id.example.com")
	_, problems, _ := load(t, dir, env...)

	want := []string{"ISSUER_URL", "SECRET_ENCRYPTION_KEY", "SESSION_COOKIE_SECURE"}
	if got := problemNames(problems); !sameSet(got, want) {
		t.Fatalf("problems = %v, want %v", problems, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "secret.key")); err == nil {
		t.Error("production created a development key file")
	}
}

func TestProductionRequiresSettings(t *testing.T) {
	c, problems, _ := load(t, t.TempDir(), "NODE_ENV=production")
	want := []string{"ISSUER_URL", "DATABASE_URL", "ADMIN_WEB_ORIGIN",
		"SECRET_ENCRYPTION_KEY", "SESSION_COOKIE_SECURE", "EMAIL_FROM", "SMTP_HOST"}
	if got := problemNames(problems); !sameSet(got, want) {
		t.Fatalf("problems = %v, want %v", got, want)
	}
	if c.IssuerURL != "" || c.DatabaseURL != "" || c.AdminWebOrigin != "" ||
		c.EmailFrom != "" {
		t.Errorf("production got development defaults: %+v", c)
	}
	if c.OnboardAutoVerify || c.MigrateOnStart {
		t.Error("production defaults ONBOARD_AUTO_VERIFY or MIGRATE_ON_START to true")
	}
}

func TestUnknownNodeEnvIsProduction(t *testing.T) {
	dir := t.TempDir()
	c, problems, _ := load(t, dir, "NODE_ENV=prod")
	if !c.Production() || !slices.Contains(problemNames(problems), "SMTP_HOST") {
		t.Fatalf("env %q, problems %v: want production rules", c.Env, problems)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "secret.key")); err == nil {
		t.Error("an unknown NODE_ENV created a development key file")
	}
}

// productionRules are values accepted outside production and refused in
// production.
var productionRules = []struct{ env, name string }{
	{"SECRET_ENCRYPTION_KEY=" + weakKeyValue, "SECRET_ENCRYPTION_KEY"},
	{"ISSUER_URL=http://id.example.com", "ISSUER_URL"},
	{"LOGIN_UI_URL=http://login.example.com", "LOGIN_UI_URL"},
	{"ADMIN_WEB_ORIGIN=http://admin.example.com", "ADMIN_WEB_ORIGIN"},
	{"ADMIN_WEB_ORIGIN=*", "ADMIN_WEB_ORIGIN"},
	{"ADMIN_WEB_INTERNAL_ORIGIN=*", "ADMIN_WEB_INTERNAL_ORIGIN"},
	{"SESSION_COOKIE_SECURE=no", "SESSION_COOKIE_SECURE"},
	{"LOG_REMOTE_URL=http://logs.example.com", "LOG_REMOTE_URL"},
	{"LOG_REMOTE_API_KEY=", "LOG_REMOTE_API_KEY"},
}

func TestProductionRules(t *testing.T) {
	for _, tc := range productionRules {
		t.Run(tc.env, func(t *testing.T) {
			env := with(soundProduction(), tc.env)
			_, problems, _ := load(t, t.TempDir(), env...)
			if got := problemNames(problems); !slices.Equal(got, []string{tc.name}) {
				t.Errorf("production: problems = %v, want %s", problems, tc.name)
			}
			env = with(env, "NODE_ENV=development")
			_, problems, _ = load(t, t.TempDir(), env...)
			if len(problems) != 0 {
				t.Errorf("development: problems = %v, want none", problems)
			}
		})
	}
}

// productionAdvice are values that draw a preflight warning in production
// only.
var productionAdvice = []struct{ env, name string }{
	{"DATABASE_URL=sqlite:/var/lib/cerberus/cerberus.db", "DATABASE_URL"},
	{"DATABASE_URL=postgres://db.internal/cerberus", "DB_SSL_MODE"},
	{"DATABASE_URL=postgres://db.internal/cerberus?sslmode=prefer", "DB_SSL_MODE"},
	{"REDIS_URL=", "REDIS_URL"},
	{"JWKS_ROTATE_DAYS=7", "JWKS_ROTATE_DAYS"},
	{"JWKS_ROTATE_DAYS=180", "JWKS_ROTATE_DAYS"},
	{"LOG_LEVEL=debug", "LOG_LEVEL"},
	{"LOG_REMOTE_URL=", "LOG_REMOTE_URL"},
	{"ONBOARD_AUTO_VERIFY=true", "ONBOARD_AUTO_VERIFY"},
	{"MIGRATE_ON_START=yes", "MIGRATE_ON_START"},
	{"WEBHOOK_ALLOW_PRIVATE_TARGETS=1", "WEBHOOK_ALLOW_PRIVATE_TARGETS"},
}

func TestProductionAdvice(t *testing.T) {
	for _, tc := range productionAdvice {
		t.Run(tc.env, func(t *testing.T) {
			env := with(soundProduction(), tc.env)
			if tc.name == "LOG_REMOTE_URL" {
				env = without(env, "LOG_REMOTE_API_KEY")
			}
			_, problems, warnings := load(t, t.TempDir(), env...)
			if len(problems) != 0 {
				t.Fatalf("problems: %v", problems)
			}
			if got := warningNames(warnings); !slices.Equal(got, []string{tc.name}) {
				t.Fatalf("production: warnings = %v, want %s", warnings, tc.name)
			}
			if warnings[0].Fix == "" {
				t.Error("warning without a fix")
			}
			_, _, warnings = load(t, t.TempDir(), with(env, "NODE_ENV=test")...)
			if len(warnings) != 0 {
				t.Errorf("test mode: warnings = %v, want none", warnings)
			}
		})
	}
}

func TestProductionSoundSet(t *testing.T) {
	c, problems, warnings := load(t, t.TempDir(), soundProduction()...)
	if len(problems) != 0 || len(warnings) != 0 {
		t.Fatalf("problems %v, warnings %v", problems, warnings)
	}
	if !c.Production() || c.Development() {
		t.Errorf("Production %v, Development %v", c.Production(), c.Development())
	}
	for _, ck := range Checks(c, problems, warnings) {
		if ck.Status != Pass {
			t.Errorf("check %s = %s: %s", ck.Name, ck.Status, ck.Detail)
		}
	}
}

func TestDevelopmentDefaults(t *testing.T) {
	dir := t.TempDir()
	c, problems, warnings := load(t, dir)
	if len(problems) != 0 || len(warnings) != 0 {
		t.Fatalf("problems %v, warnings %v", problems, warnings)
	}
	want := Config{
		Env: EnvDevelopment, Port: 4000, IssuerURL: "http://localhost:4000",
		DatabaseURL:        "sqlite:" + filepath.Join(dir, "data", "cerberus.db"),
		DBSSLMode:          "disable",
		SecretKey:          c.SecretKey,
		SecretKeyGenerated: true,
		JWTAlg:             "EdDSA", JWKSRotateDays: 30,
		AdminWebOrigin:    "http://localhost:3000",
		SessionCookieName: "cerb_sid",
		OnboardAutoVerify: true, MigrateOnStart: true,
		EmailFrom: "Cerberus <no-reply@localhost>", SMTPPort: 587,
		ServiceName: "cerberus-iam-api", LogLevel: "info",
		LogRemoteBatchSize: 50, LogRemoteFlushInterval: 5 * time.Second,
		MetricsEnabled: true, BodyLimitBytes: 1 << 20,
		ShutdownTimeout:  25 * time.Second,
		RateDefault:      Limit{Window: time.Minute, Max: 120},
		RateAuth:         Limit{Window: time.Minute, Max: 30},
		RateToken:        Limit{Window: time.Minute, Max: 30},
		LockoutThreshold: 10, LockoutDuration: 15 * time.Minute,
		HashMemoryKiB: 65536, HashIterations: 3, HashParallelism: 4,
		HashConcurrency:    2 * runtime.GOMAXPROCS(0),
		AuditRetentionDays: 365,
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}
	if !c.Development() || c.Production() {
		t.Error("development mode not reported")
	}
	checkKeyFile(t, filepath.Join(dir, "data", "secret.key"), c.SecretKey)

	again, _, _ := load(t, dir)
	if !again.SecretKeyGenerated || string(again.SecretKey) != string(c.SecretKey) {
		t.Error("second Load did not reuse data/secret.key")
	}
}

// checkKeyFile asserts that path is a 0600 file holding key in base64.
func checkKeyFile(t *testing.T, path string, key []byte) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %o, want 600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(stored) != KeySize || string(stored) != string(key) {
		t.Errorf("key file does not hold the loaded key (err %v)", err)
	}
}

func TestDefaultsInWorkingDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	c, _, _ := load(t, ".")
	if c.DatabaseURL != "sqlite:./data/cerberus.db" {
		t.Errorf("DatabaseURL = %q", c.DatabaseURL)
	}
	if _, err := os.Stat(filepath.Join("data", "secret.key")); err != nil {
		t.Errorf("key file: %v", err)
	}
}

func TestTestModeDefaults(t *testing.T) {
	c, _, _ := load(t, t.TempDir(), "NODE_ENV=test")
	if !c.Development() || c.MigrateOnStart || !c.OnboardAutoVerify {
		t.Errorf("test mode: development %v, migrate %v, auto-verify %v",
			c.Development(), c.MigrateOnStart, c.OnboardAutoVerify)
	}
}

func TestConcurrentKeyCreationAgrees(t *testing.T) {
	dir := t.TempDir()
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			c, _, _, err := Load(nil, dir)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = c.SecretKey
		})
	}
	wg.Wait()
	for i, k := range keys {
		if len(k) != KeySize || string(k) != string(keys[0]) {
			t.Fatalf("Load %d got a different key", i)
		}
	}
	checkKeyFile(t, filepath.Join(dir, "data", "secret.key"), keys[0])
}

func TestKeyFileProblems(t *testing.T) {
	t.Run("corrupt", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "data", "secret.key"), "garbage\n", 0o600)
		_, problems, _ := load(t, dir)
		if got := problemNames(problems); !slices.Equal(got,
			[]string{"SECRET_ENCRYPTION_KEY"}) {
			t.Fatalf("problems = %v", problems)
		}
	})
	t.Run("readable by others", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "data", "secret.key"), goodKey+"\n", 0o644)
		c, problems, warnings := load(t, dir)
		if len(problems) != 0 || !c.SecretKeyGenerated {
			t.Fatalf("problems %v, generated %v", problems, c.SecretKeyGenerated)
		}
		if len(warnings) != 1 || !strings.HasPrefix(warnings[0].Fix, "chmod 600") {
			t.Errorf("warnings = %v, want one asking for chmod 600", warnings)
		}
	})
	t.Run("weak key in development", func(t *testing.T) {
		_, problems, warnings := load(t, t.TempDir(),
			"SECRET_ENCRYPTION_KEY="+weakKeyValue)
		if len(problems) != 0 || !slices.Equal(warningNames(warnings),
			[]string{"SECRET_ENCRYPTION_KEY"}) {
			t.Errorf("problems %v, warnings %v", problems, warnings)
		}
	})
}

func TestKeyEncodings(t *testing.T) {
	raw := make([]byte, KeySize)
	for i := range raw {
		raw[i] = byte(0xff - i)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding,
		base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		env := []string{"SECRET_ENCRYPTION_KEY=" + enc.EncodeToString(raw),
			"SECRET_ENCRYPTION_KEY_PREVIOUS=" + goodKey + " , " +
				enc.EncodeToString(raw) + ","}
		c, problems, _ := load(t, t.TempDir(), env...)
		if len(problems) != 0 || string(c.SecretKey) != string(raw) {
			t.Errorf("%v: problems %v", enc, problems)
		}
		if len(c.PreviousKeys) != 2 || string(c.PreviousKeys[1]) != string(raw) {
			t.Errorf("previous keys = %d", len(c.PreviousKeys))
		}
	}
}

func TestSecretsNeverInText(t *testing.T) {
	secrets := []string{"hunter2-db", "mail-pass-xyz", "log-key-xyz", "c2hvcnQ"}
	envs := [][]string{
		{"NODE_ENV=production", "DATABASE_URL=postgres://u:hunter2-db@/db",
			"SMTP_PASS=mail-pass-xyz", "LOG_REMOTE_API_KEY=log-key-xyz",
			"SECRET_ENCRYPTION_KEY=c2hvcnQ=",
			"SECRET_ENCRYPTION_KEY_PREVIOUS=c2hvcnQ="},
		with(soundProduction(),
			"DATABASE_URL=postgres://u:hunter2-db@db/x?sslmode=disable",
			"SMTP_PASS=mail-pass-xyz", "LOG_REMOTE_API_KEY=log-key-xyz",
			"LOG_REMOTE_URL=http://logs.example.com"),
	}
	for i, env := range envs {
		c, problems, warnings := load(t, t.TempDir(), env...)
		var texts []string
		for _, p := range problems {
			texts = append(texts, p.String())
		}
		for _, w := range warnings {
			texts = append(texts, w.String())
		}
		for _, ck := range Checks(c, problems, warnings) {
			texts = append(texts, ck.Name, ck.Detail, ck.Fix)
		}
		if len(problems)+len(warnings) == 0 {
			t.Fatalf("environment %d produced nothing to inspect", i)
		}
		for _, text := range texts {
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("environment %d: %q contains a secret", i, text)
				}
			}
		}
	}
}

func TestTrustProxyPrefixes(t *testing.T) {
	c, problems, _ := load(t, t.TempDir(),
		"TRUST_PROXY=10.0.0.1, 192.168.0.0/16,::1,::ffff:10.1.2.3,10.1.2.3/8,")
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.1/32"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.1.2.3/32"),
		netip.MustParsePrefix("10.0.0.0/8"),
	}
	if !slices.Equal(c.TrustProxy, want) {
		t.Errorf("TrustProxy = %v, want %v", c.TrustProxy, want)
	}
}

func TestNormalisedValues(t *testing.T) {
	c, problems, _ := load(t, t.TempDir(),
		"PORT=8080", "LOG_LEVEL=WARN", "JWT_ALG=rs256", "NODE_ENV=Test",
		"SESSION_COOKIE_SECURE=YES", "METRICS_ENABLED=No",
		"ADMIN_WEB_ORIGIN=HTTPS://Admin.Example.com:8443",
		"SESSION_COOKIE_DOMAIN=.Example.com", "DB_SSL_MODE=Verify-Full",
		"LOG_REMOTE_FLUSH_INTERVAL_MS=250", "LOGIN_LOCKOUT_MINUTES=2",
		"SHUTDOWN_TIMEOUT_SEC=5", "AUTH_RATE_WINDOW_SEC=30")
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"IssuerURL follows PORT", c.IssuerURL, "http://localhost:8080"},
		{"LogLevel", c.LogLevel, "warn"},
		{"JWTAlg", c.JWTAlg, "RS256"},
		{"Env", c.Env, EnvTest},
		{"SessionCookieSecure", c.SessionCookieSecure, true},
		{"MetricsEnabled", c.MetricsEnabled, false},
		{"AdminWebOrigin", c.AdminWebOrigin, "https://admin.example.com:8443"},
		{"SessionCookieDomain", c.SessionCookieDomain, ".example.com"},
		{"DBSSLMode", c.DBSSLMode, "verify-full"},
		{"LogRemoteFlushInterval", c.LogRemoteFlushInterval, 250 * time.Millisecond},
		{"LockoutDuration", c.LockoutDuration, 2 * time.Minute},
		{"ShutdownTimeout", c.ShutdownTimeout, 5 * time.Second},
		{"RateAuth", c.RateAuth, Limit{Window: 30 * time.Second, Max: 30}},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

// TestEveryVariableRead keeps knownVars and the loader in step: Load reads
// exactly the variables that .env may set without a warning.
func TestEveryVariableRead(t *testing.T) {
	l := newLoader()
	if _, err := l.load(soundProduction(), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	var read []string
	for name := range l.read {
		read = append(read, name)
	}
	if !sameSet(read, knownVars) {
		t.Errorf("read %v\nknown %v", read, knownVars)
	}
}

// TestDocsListEveryVariable keeps docs/configuration.md complete.
func TestDocsListEveryVariable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range knownVars {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/configuration.md does not document %s", name)
		}
	}
}
