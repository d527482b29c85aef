package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// secretKeys are the attribute keys the contract says never to log.
var secretKeys = []string{
	"password", "newPassword", "currentPassword", "token", "mfaToken",
	"secret", "clientSecret", "client_secret", "authorization", "cookie",
	"set-cookie", "x-csrf-token", "client_assertion", "code",
	"code_verifier", "refresh_token", "access_token", "id_token", "key",
	"apiKey", "private_key", "smtp_pass", "device_code",
	"PASSWORD", "Authorization", "Set-Cookie", "X-CSRF-Token",
}

// shapedSecrets are secrets recognisable by their form alone.
const (
	bearerValue  = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"
	opaqueBearer = "opaqueBearerValue0123456789abcdef"
	liveKey      = "ck_live_ab12cd34_Zm9vYmFyYmF6cXV4cXV1eHh5enp5eHd2dXRzcnFwb25t"
	testKey      = "ck_test_ef56ab78_cXV1eHh5enp5eHd2dXRzcnFwb25tbGtqaWhnZmVkY2Jh"
	webhookKey   = "whsec_dGhpcyBpcyBhIHdlYmhvb2sgc2lnbmluZyBzZWNyZXQhIQ"
	dsnPassword  = "dsnPassw0rdValue"
	queryCode    = "queryCodeValue42"
)

// secretValue is the distinctive value logged under key k.
func secretValue(k string) string { return "leak-" + k + "-7f3a9c" }

// logEverySecret logs one record per way a secret can reach a logger, at
// trace and debug level.
func logEverySecret(l *slog.Logger) {
	ctx := context.Background()
	var attrs []any
	for _, k := range secretKeys {
		attrs = append(attrs, slog.String(k, secretValue(k)))
	}
	attrs = append(attrs, slog.String("user_id", "visible-user"))
	l.Log(ctx, telemetry.LevelTrace, "flat attributes", attrs...)

	l.Debug("nested groups",
		slog.Group("request",
			slog.Group("body", "newPassword", secretValue("nested-pw")),
			slog.String("route", "/v1/me/password")),
		slog.Group("password", "plain", secretValue("group-named-pw")))
	l.WithGroup("oauth").With("refresh_token", secretValue("with-rt")).
		Debug("grouped logger", "client_secret", secretValue("grouped-cs"))
	l.WithGroup("credentials").WithGroup("secret").
		Debug("secret group", "anything", secretValue("under-secret"))

	l.Debug("presented Bearer "+opaqueBearer+" with "+liveKey+
		" and "+webhookKey,
		"note", "rotated to "+testKey+", Authorization: Bearer "+
			bearerValue)

	h := http.Header{}
	h.Set("Authorization", "Bearer "+opaqueBearer)
	h.Set("Cookie", "cerb_sid="+secretValue("cookie-header"))
	h.Set("Set-Cookie", "cerb_sid="+secretValue("set-cookie-header"))
	h.Set("X-CSRF-Token", secretValue("csrf-header"))
	h.Set("X-Api-Key", liveKey)
	h.Set("Accept", "application/json")
	l.Log(ctx, telemetry.LevelTrace, "headers", "headers", h)

	body := map[string]any{
		"grant_type": "authorization_code",
		"params": map[string]any{
			"code":          secretValue("map-code"),
			"code_verifier": secretValue("map-verifier"),
		},
		"list": []any{map[string]any{"id_token": secretValue("map-idt")}},
	}
	type form struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	u, _ := url.Parse("https://rp.example/cb?code=" + queryCode +
		"&state=visible-state")
	l.Debug("values of any kind",
		"body", body,
		"form", form{Email: "visible@example.com",
			Password: secretValue("struct-pw")},
		"err", errors.New("signature check with "+webhookKey+" failed"),
		"dsn", "postgres://cerberus:"+dsnPassword+"@db:5432/iam",
		"callback", u,
		"lazy", secretValuer{},
	)
}

// secretValuer is a LogValuer that resolves to a group holding a secret.
type secretValuer struct{}

func (secretValuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_token",
		secretValue("valuer-at")))
}

// forbidden lists every secret value logEverySecret uses.
func forbidden() []string {
	out := []string{
		bearerValue, opaqueBearer, liveKey, testKey, webhookKey,
		dsnPassword, queryCode,
	}
	for _, k := range secretKeys {
		out = append(out, secretValue(k))
	}
	for _, k := range []string{
		"nested-pw", "group-named-pw", "with-rt", "grouped-cs",
		"under-secret", "cookie-header", "set-cookie-header", "csrf-header",
		"map-code", "map-verifier", "map-idt", "struct-pw", "valuer-at",
	} {
		out = append(out, secretValue(k))
	}
	return out
}

// assertNoSecrets fails for every secret found in out, and checks that
// ordinary values were kept.
func assertNoSecrets(t *testing.T, where, out string) {
	t.Helper()
	for _, s := range forbidden() {
		if strings.Contains(out, s) {
			t.Errorf("%s output contains secret %q", where, s)
		}
	}
	for _, keep := range []string{
		"visible-user", "visible-state", "visible@example.com",
		"application/json", "authorization_code", "/v1/me/password",
		"[REDACTED]",
	} {
		if !strings.Contains(out, keep) {
			t.Errorf("%s output lost ordinary value %q", where, keep)
		}
	}
}

func TestSecretsNeverReachAnyOutput(t *testing.T) {
	for _, env := range []string{"production", "development"} {
		t.Run(env, func(t *testing.T) {
			c := newCollector(t)
			shipper := telemetry.NewShipper(telemetry.ShipperOptions{
				URL: c.srv.URL, APIKey: "collector-key", BatchSize: 1000,
			})
			shipper.Start()
			var local bytes.Buffer
			l := telemetry.NewLogger(telemetry.LogOptions{
				Env: env, Level: "trace", Service: "svc",
				Output: &local, Remote: shipper,
			})

			logEverySecret(l)
			if err := shipper.Close(t.Context()); err != nil {
				t.Fatalf("close shipper: %v", err)
			}

			assertNoSecrets(t, "local", local.String())
			var remote []byte
			for _, b := range c.received() {
				remote = append(remote, b.body...)
			}
			assertNoSecrets(t, "remote", string(remote))
			if n := len(c.records()); n != 7 {
				t.Errorf("remote got %d records, want 7", n)
			}
		})
	}
}

func TestProductionWritesJSONLines(t *testing.T) {
	var buf bytes.Buffer
	l := telemetry.NewLogger(telemetry.LogOptions{
		Env: "production", Level: "info", Service: "cerberus-iam-api",
		Output: &buf,
	})
	l.Info("started", "port", 4000)

	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not a JSON line: %v\n%s", err, buf.String())
	}
	want := map[string]any{
		"level": "INFO", "msg": "started", "service": "cerberus-iam-api",
		"env": "production", "port": float64(4000),
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}
	if _, ok := rec["time"].(string); !ok {
		t.Errorf("time missing from %v", rec)
	}
}

func TestOtherEnvironmentsWriteText(t *testing.T) {
	for _, env := range []string{"development", "test"} {
		var buf bytes.Buffer
		l := telemetry.NewLogger(telemetry.LogOptions{
			Env: env, Level: "info", Service: "svc", Output: &buf,
		})
		l.Info("started")

		line := buf.String()
		if json.Valid(buf.Bytes()) {
			t.Errorf("%s: got JSON, want text: %s", env, line)
		}
		for _, part := range []string{
			"time=", "level=INFO", "msg=started", "service=svc", "env=" + env,
		} {
			if !strings.Contains(line, part) {
				t.Errorf("%s: %q missing from %s", env, part, line)
			}
		}
	}
}

func TestTraceAndFatalLevelNames(t *testing.T) {
	var buf bytes.Buffer
	l := telemetry.NewLogger(telemetry.LogOptions{
		Env: "production", Level: "trace", Output: &buf,
	})
	l.Log(t.Context(), telemetry.LevelTrace, "t")
	l.Log(t.Context(), telemetry.LevelFatal, "f")

	var levels []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct{ Level string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("decode %q: %v", line, err)
		}
		levels = append(levels, rec.Level)
	}
	if got := strings.Join(levels, ","); got != "TRACE,FATAL" {
		t.Errorf("levels = %s, want TRACE,FATAL", got)
	}
}

func TestLevelFiltering(t *testing.T) {
	tests := []struct {
		level string
		want  string // messages that pass, in order
	}{
		{"trace", "trace debug info warn error fatal"},
		{"debug", "debug info warn error fatal"},
		{"info", "info warn error fatal"},
		{"warn", "warn error fatal"},
		{"error", "error fatal"},
		{"fatal", "fatal"},
		{"", "info warn error fatal"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		l := telemetry.NewLogger(telemetry.LogOptions{
			Env: "production", Level: tt.level, Output: &buf,
		})
		for _, lv := range []struct {
			l   slog.Level
			msg string
		}{
			{telemetry.LevelTrace, "trace"}, {slog.LevelDebug, "debug"},
			{slog.LevelInfo, "info"}, {slog.LevelWarn, "warn"},
			{slog.LevelError, "error"}, {telemetry.LevelFatal, "fatal"},
		} {
			l.Log(t.Context(), lv.l, lv.msg)
		}

		var got []string
		dec := json.NewDecoder(&buf)
		for dec.More() {
			var rec struct{ Msg string }
			if err := dec.Decode(&rec); err != nil {
				t.Fatalf("decode: %v", err)
			}
			got = append(got, rec.Msg)
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("level %q: got %q, want %q", tt.level, g, tt.want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for name, want := range map[string]slog.Level{
		"trace": telemetry.LevelTrace, "debug": slog.LevelDebug,
		"INFO": slog.LevelInfo, "Warn": slog.LevelWarn,
		"error": slog.LevelError, "fatal": telemetry.LevelFatal,
	} {
		got, err := telemetry.ParseLevel(name)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "verbose", "warning"} {
		if _, err := telemetry.ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q) succeeded, want an error", bad)
		}
	}
}

func TestLoggerTravelsInContext(t *testing.T) {
	if got := telemetry.Logger(t.Context()); got != slog.Default() {
		t.Errorf("Logger of a bare context = %p, want slog.Default()", got)
	}
	l := telemetry.NewLogger(telemetry.LogOptions{Output: &bytes.Buffer{}})
	ctx := telemetry.WithLogger(t.Context(), l)
	if got := telemetry.Logger(ctx); got != l {
		t.Errorf("Logger(ctx) = %p, want the stored %p", got, l)
	}
}

// BenchmarkLogRequestLine measures an access-log line through redaction
// and the JSON handler, the cost every request pays.
func BenchmarkLogRequestLine(b *testing.B) {
	l := telemetry.NewLogger(telemetry.LogOptions{
		Env: "production", Level: "info", Service: "svc", Output: io.Discard,
	})
	for b.Loop() {
		l.Info("request", "requestId", "0190a5c3-7f7e-7c4e-9d1a-3c1f2e4b5a6d",
			"method", "GET", "route", "/v1/users/:id", "path", "/v1/users/x",
			"status", 200, "durationMs", 3.2, "bytes", 512,
			"clientIp", "203.0.113.9")
	}
}

// BenchmarkLogFilteredOut measures a debug call below the configured level.
func BenchmarkLogFilteredOut(b *testing.B) {
	l := telemetry.NewLogger(telemetry.LogOptions{
		Env: "production", Level: "info", Output: io.Discard,
	})
	for b.Loop() {
		l.Debug("detail", "token", "x")
	}
}
