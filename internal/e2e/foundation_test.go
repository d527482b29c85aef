package e2e_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// TestServeWithNothingConfigured runs the README's command in an empty
// directory with an empty environment: SQLite under ./data, a generated
// key, port 4000.
func TestServeWithNothingConfigured(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:4000")
	if err != nil {
		t.Fatalf("port 4000 must be free for this test: %v", err)
	}
	l.Close()
	dir := t.TempDir()
	cmd := e2e.Command(t, dir, nil, "serve")
	defer cmd.Stop(t)
	cmd.URL = "http://localhost:4000"
	cmd.WaitHealthy(t, 20*time.Second)

	resp, err := http.Get("http://localhost:4000/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	if len(body) != 2 || body["status"] != "ok" || !stamp.MatchString(body["timestamp"]) {
		t.Fatalf("health body %v", body)
	}
	for _, f := range []string{"data/cerberus.db", "data/secret.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not created: %v", f, err)
		}
	}
	if !strings.Contains(cmd.Logs(), "GENERATED DEVELOPMENT ENCRYPTION KEY") {
		t.Errorf("no warning about the generated key:\n%s", cmd.Logs())
	}
}

func TestServeOnPostgresAndMigrateCommands(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			url := dbtest.EmptyURL(t, engine)
			dir := t.TempDir()
			env := map[string]string{"DATABASE_URL": url, "NODE_ENV": "test",
				"SECRET_ENCRYPTION_KEY": e2e.NewKey()}

			code, out := e2e.Run(t, dir, env, "migrate", "up")
			if code != 0 || !strings.Contains(out, "applied 00001") {
				t.Fatalf("migrate up: %d\n%s", code, out)
			}
			assertStatus(t, dir, env, "applied")
			code, out = e2e.Run(t, dir, env, "migrate", "down", "100")
			if code != 0 || !strings.Contains(out, "reverted 00001") {
				t.Fatalf("migrate down: %d\n%s", code, out)
			}
			assertStatus(t, dir, env, "pending")
			if code, out = e2e.Run(t, dir, env, "migrate", "up"); code != 0 {
				t.Fatalf("migrate up again: %d\n%s", code, out)
			}
			assertStatus(t, dir, env, "applied")

			s := e2e.Start(t, e2e.Options{DatabaseURL: url,
				Env: map[string]string{"MIGRATE_ON_START": "false"}})
			getOK(t, s.URL+"/health/ready")
			if code := s.Stop(t); code != 0 {
				t.Fatalf("exit code %d after SIGTERM", code)
			}
		})
	}
}

func assertStatus(t *testing.T, dir string, env map[string]string, want string) {
	t.Helper()
	code, out := e2e.Run(t, dir, env, "migrate", "status")
	if code != 0 {
		t.Fatalf("migrate status: %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		t.Fatalf("migrate status lists nothing:\n%s", out)
	}
	for _, l := range lines[1:] {
		if !strings.Contains(l, want) {
			t.Fatalf("migration not %s: %s", want, l)
		}
	}
}

// TestServeRefusesOldSchema starts on an empty database without
// MIGRATE_ON_START: serve must exit 1 naming the command to run.
func TestServeRefusesOldSchema(t *testing.T) {
	url := dbtest.EmptyURL(t, db.Postgres)
	code, out := e2e.Run(t, t.TempDir(), map[string]string{"DATABASE_URL": url,
		"NODE_ENV": "test", "MIGRATE_ON_START": "false",
		"SECRET_ENCRYPTION_KEY": e2e.NewKey(), "PORT": strconv.Itoa(e2e.FreePort(t))}, "serve")
	if code != 1 || !strings.Contains(out, "run `cerberus migrate up`") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func productionEnv(url string) map[string]string {
	return map[string]string{
		"NODE_ENV": "production", "ISSUER_URL": "https://id.example.com",
		"DATABASE_URL":          strings.Replace(url, "sslmode=disable", "sslmode=require", 1),
		"SECRET_ENCRYPTION_KEY": e2e.NewKey(), "SESSION_COOKIE_SECURE": "true",
		"ADMIN_WEB_ORIGIN": "https://admin.example.com", "EMAIL_FROM": "Id <id@example.com>",
		"SMTP_HOST": "smtp.example.com", "REDIS_URL": "redis://127.0.0.1:6379/0",
		"LOG_REMOTE_URL": "https://logs.example.com/ingest", "LOG_REMOTE_API_KEY": "k",
		"ONBOARD_AUTO_VERIFY": "false", "MIGRATE_ON_START": "false",
		"SESSION_COOKIE_DOMAIN": "example.com",
	}
}

func writeEnvFile(t *testing.T, dir string, env map[string]string) {
	t.Helper()
	var b strings.Builder
	for k, v := range env {
		b.WriteString(k + "='" + v + "'\n")
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestProductionRefusesInsecureSettings(t *testing.T) {
	env := productionEnv("postgres://u@db.example.com/cerberus?sslmode=require")
	delete(env, "SECRET_ENCRYPTION_KEY")
	env["SESSION_COOKIE_SECURE"] = "false"
	env["ISSUER_URL"] = "http://id.example.com"
	dir := t.TempDir()
	writeEnvFile(t, dir, env)
	for _, cmd := range []string{"serve", "preflight"} {
		code, out := e2e.Run(t, dir, nil, cmd)
		if code != 1 {
			t.Fatalf("%s exit %d, want 1:\n%s", cmd, code, out)
		}
		for _, v := range []string{"SECRET_ENCRYPTION_KEY", "SESSION_COOKIE_SECURE",
			"ISSUER_URL"} {
			if !strings.Contains(out, v) {
				t.Errorf("%s output does not name %s:\n%s", cmd, v, out)
			}
		}
	}
}

func TestPreflightPassesSoundConfiguration(t *testing.T) {
	dir := t.TempDir()
	env, process := livePreflightEnv(t)
	writeEnvFile(t, dir, env)
	code, out := e2e.Run(t, dir, process, "preflight")
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "PASS") {
		t.Fatalf("preflight exit %d:\n%s", code, out)
	}
}

func TestCommandUsageAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage: cerberus <command>"},
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"help", "migrate"}, 0, "Usage: cerberus migrate"},
		{[]string{"migrate"}, 2, "migrate needs up, down or status"},
		{[]string{"migrate", "up", "x"}, 2, "invalid count"},
		{[]string{"version"}, 0, "go1."},
		{[]string{"secrets", "generate"}, 0, "="},
		{[]string{"preflight", "--bogus"}, 2, "flag provided but not defined"},
	}
	for _, c := range cases {
		code, out := e2e.Run(t, dir, nil, c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("cerberus %v: exit %d (want %d), output:\n%s", c.args, code, c.code, out)
		}
	}
}

func getOK(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}
