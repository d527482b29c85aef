package config

import (
	"strings"
	"testing"
	"time"
)

// checksByName indexes checks and fails on a duplicate row name.
func checksByName(t *testing.T, checks []Check) map[string]Check {
	t.Helper()
	m := map[string]Check{}
	for _, ck := range checks {
		if _, dup := m[ck.Name]; dup {
			t.Fatalf("duplicate check %q", ck.Name)
		}
		m[ck.Name] = ck
	}
	return m
}

// expectChecks asserts the status of the named rows, and that every row
// that is not PASS says how to fix it.
func expectChecks(t *testing.T, checks []Check, want map[string]Status) {
	t.Helper()
	got := checksByName(t, checks)
	for name, status := range want {
		ck, ok := got[name]
		if !ok {
			t.Errorf("no check %q", name)
			continue
		}
		if ck.Status != status {
			t.Errorf("%s = %s (%s), want %s", name, ck.Status, ck.Detail, status)
		}
	}
	for _, ck := range checks {
		if ck.Status != Pass && ck.Fix == "" {
			t.Errorf("%s is %s without a fix", ck.Name, ck.Status)
		}
		if ck.Detail == "" {
			t.Errorf("%s has no detail", ck.Name)
		}
	}
}

// TestChecksDevelopmentDefaults judges the out-of-the-box development
// configuration by production standards.
func TestChecksDevelopmentDefaults(t *testing.T) {
	c, problems, warnings := load(t, t.TempDir())
	checks := Checks(c, problems, warnings)
	expectChecks(t, checks, map[string]Status{
		"Production mode":         Fail,
		"Encryption key":          Fail,
		"Session cookie":          Fail,
		"CORS origins":            Fail,
		"Rate limits":             Pass,
		"Issuer URL":              Fail,
		"Login UI URL":            Pass,
		"Database":                Warn,
		"Database TLS":            Pass,
		"Redis":                   Warn,
		"Signing key rotation":    Pass,
		"Log level":               Pass,
		"Remote log export":       Warn,
		"Mail":                    Fail,
		"Onboarding auto-verify":  Warn,
		"Migrate on start":        Warn,
		"Webhook private targets": Pass,
	})
	got := checksByName(t, checks)
	if fix := got["Session cookie"].Fix; fix != "set SESSION_COOKIE_SECURE=true" {
		t.Errorf("session cookie fix = %q", fix)
	}
	if fix := got["Production mode"].Fix; fix != "set NODE_ENV=production" {
		t.Errorf("production mode fix = %q", fix)
	}
}

// insecureConfig is a production configuration with a weakness in every
// row that can have one.
func insecureConfig() *Config {
	return &Config{
		Env:                        EnvProduction,
		IssuerURL:                  "https://id.example.com",
		DatabaseURL:                "postgres://db.internal/cerberus?sslmode=disable",
		DBSSLMode:                  "verify-full",
		SecretKey:                  []byte(strings.Repeat("k", KeySize)),
		JWTAlg:                     "EdDSA",
		JWKSRotateDays:             365,
		LoginUIURL:                 "http://login.example.com",
		AdminWebOrigin:             "https://admin.example.com",
		AdminWebInternalOrigin:     "*",
		SessionCookieSecure:        true,
		SessionCookieDomain:        "other.example",
		EmailFrom:                  "Cerberus <no-reply@localhost>",
		SMTPHost:                   "smtp.example.com",
		SMTPPort:                   587,
		LogLevel:                   "debug",
		LogRemoteURL:               "http://logs.example.com",
		LogRemoteAPIKey:            "k",
		RateDefault:                Limit{Window: time.Minute, Max: 120},
		RateAuth:                   Limit{Window: time.Second, Max: 100},
		RateToken:                  Limit{Window: time.Minute, Max: 30},
		OnboardAutoVerify:          true,
		MigrateOnStart:             true,
		WebhookAllowPrivateTargets: true,
	}
}

func TestChecksInsecureConfig(t *testing.T) {
	checks := Checks(insecureConfig(), nil, nil)
	expectChecks(t, checks, map[string]Status{
		"Production mode":         Pass,
		"Encryption key":          Fail,
		"Session cookie":          Warn,
		"CORS origins":            Fail,
		"Rate limits":             Warn,
		"Issuer URL":              Pass,
		"Login UI URL":            Fail,
		"Database":                Pass,
		"Database TLS":            Warn,
		"Redis":                   Warn,
		"Signing key rotation":    Warn,
		"Log level":               Warn,
		"Remote log export":       Fail,
		"Mail":                    Warn,
		"Onboarding auto-verify":  Warn,
		"Migrate on start":        Warn,
		"Webhook private targets": Warn,
	})
	got := checksByName(t, checks)
	if d := got["Database TLS"].Detail; !strings.Contains(d, "from DATABASE_URL") {
		t.Errorf("database TLS detail %q does not say the URL's sslmode wins", d)
	}
	if d := got["Encryption key"].Detail; !strings.Contains(d, "weak") {
		t.Errorf("encryption key detail %q", d)
	}
}

func TestChecksSecondaryFailures(t *testing.T) {
	c := insecureConfig()
	c.SessionCookieSecure = false
	c.AdminWebInternalOrigin = ""
	c.AdminWebOrigin = "http://admin.example.com"
	c.IssuerURL = "http://id.example.com"
	c.LogRemoteURL, c.LogRemoteAPIKey = "https://logs.example.com", ""
	c.SMTPHost = ""
	c.SecretKey, c.SecretKeyGenerated = make([]byte, KeySize), true
	c.DatabaseURL = ""
	expectChecks(t, Checks(c, nil, nil), map[string]Status{
		"Encryption key":    Fail,
		"Session cookie":    Fail,
		"CORS origins":      Fail,
		"Issuer URL":        Fail,
		"Database":          Fail,
		"Database TLS":      Pass,
		"Remote log export": Fail,
		"Mail":              Fail,
	})
}

func TestChecksMergeProblemsAndWarnings(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/.env", "SESION_COOKIE_DOMAIN=example.com\n", 0o600)
	env := with(soundProduction(), "SESSION_COOKIE_SECURE=false", "PORT=0",
		"LOG_LEVEL=debug")
	c, problems, warnings := load(t, dir, env...)
	checks := Checks(c, problems, warnings)
	got := checksByName(t, checks)

	cookie := got["Session cookie"]
	if cookie.Status != Fail || cookie.Fix != "set SESSION_COOKIE_SECURE=true" ||
		!strings.Contains(cookie.Detail, "SESSION_COOKIE_SECURE: must be true") {
		t.Errorf("session cookie row = %+v", cookie)
	}
	if port := got["PORT"]; port.Status != Fail || port.Fix == "" {
		t.Errorf("PORT row = %+v, want a FAIL row of its own", port)
	}
	if typo := got["SESION_COOKIE_DOMAIN"]; typo.Status != Warn ||
		!strings.Contains(typo.Fix, "SESSION_COOKIE_DOMAIN") {
		t.Errorf("unknown key row = %+v, want a WARN suggesting the name", typo)
	}
	if lvl := got["Log level"]; lvl.Status != Warn {
		t.Errorf("log level row = %+v", lvl)
	}
	if n := len(checks); n != len(rows)+2 {
		t.Errorf("%d rows, want the %d configuration rows and 2 extra", n, len(rows))
	}
}

func TestChecksProblemOverridesPassingRow(t *testing.T) {
	c, _, _ := load(t, t.TempDir(), soundProduction()...)
	problems := []Problem{{Name: "REDIS_URL", Reason: "names no Redis host"}}
	ck := checksByName(t, Checks(c, problems, nil))["Redis"]
	if ck.Status != Fail || ck.Detail != "REDIS_URL: names no Redis host" ||
		!strings.Contains(ck.Fix, "REDIS_URL") {
		t.Errorf("Redis row = %+v", ck)
	}
}

func TestChecksCookieDomain(t *testing.T) {
	c, _, _ := load(t, t.TempDir(), soundProduction()...)
	for domain, want := range map[string]Status{
		"":                   Pass,
		"example.com":        Pass,
		".example.com":       Pass,
		"id.example.com":     Pass,
		"example.org":        Warn,
		"ple.com":            Warn,
		"sub.id.example.com": Warn,
	} {
		c.SessionCookieDomain = domain
		ck := checksByName(t, Checks(c, nil, nil))["Session cookie"]
		if ck.Status != want {
			t.Errorf("domain %q: %s (%s), want %s", domain, ck.Status, ck.Detail, want)
		}
	}
}
