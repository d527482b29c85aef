package e2e_test

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/e2e"
	"github.com/cerberus-iam/cerberus/internal/mail/mailtest"
)

// livePreflightEnv is a sound production configuration (for .env) whose
// live checks can pass on this machine: a migrated PostgreSQL database
// over TLS with the signing keys serve creates, and a STARTTLS mail server.
// process is the process environment that makes the binary trust the mail
// server's certificate (SSL_CERT_FILE).
func livePreflightEnv(t *testing.T) (dotenv, process map[string]string) {
	t.Helper()
	url := dbtest.URL(t, db.Postgres)
	s := e2e.Start(t, e2e.Options{DatabaseURL: url})
	if code := s.Stop(t); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	smtpd := mailtest.StartWith(t, mailtest.Options{STARTTLS: true})
	env := productionEnv(url)
	env["SMTP_HOST"], env["SMTP_PORT"] = smtpd.Host(), strconv.Itoa(smtpd.Port())
	return env, map[string]string{"SSL_CERT_FILE": trustFile(t, smtpd)}
}

// trustFile fetches the test mail server's certificate over STARTTLS and
// writes it as a PEM file for SSL_CERT_FILE.
func trustFile(t *testing.T, s *mailtest.Server) string {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The certificate is fetched to be trusted afterwards; the pool checks
	// it is the server's own.
	if err := c.StartTLS(&tls.Config{ServerName: s.Host(), RootCAs: s.RootCAs()}); err != nil {
		t.Fatal(err)
	}
	state, _ := c.TLSConnectionState()
	path := filepath.Join(t.TempDir(), "smtp-ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE",
		Bytes: state.PeerCertificates[0].Raw})
	if err := os.WriteFile(path, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type preflightRow struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// TestPreflightLiveRowsAsJSON runs preflight --json on a sound production
// environment: exit 0, and the live rows are there with the expected
// outcome.
func TestPreflightLiveRowsAsJSON(t *testing.T) {
	dir := t.TempDir()
	env, process := livePreflightEnv(t)
	writeEnvFile(t, dir, env)
	code, out := e2e.Run(t, dir, process, "preflight", "--json")
	if code != 0 {
		t.Fatalf("preflight exit %d:\n%s", code, out)
	}
	var rows []preflightRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("preflight --json: %v\n%s", err, out)
	}
	got := map[string]preflightRow{}
	for _, r := range rows {
		got[r.Name] = r
	}
	want := map[string]string{"Database connection": "PASS",
		"Database TLS (live connection)": "PASS", "Migrations": "PASS",
		"Signing key EdDSA": "PASS", "Signing key RS256": "PASS",
		"Owner/Admin MFA": "PASS", "Password policies": "PASS", "Backups": "WARN"}
	for name, status := range want {
		if got[name].Status != status {
			t.Errorf("%s: %+v, want %s", name, got[name], status)
		}
	}
	// The test certificate lives one day, so it passes its TLS checks and
	// warns about its expiry.
	if r := got["SMTP TLS"]; r.Status != "WARN" || !strings.Contains(r.Detail, "STARTTLS") {
		t.Errorf("SMTP TLS: %+v", r)
	}
	if !strings.Contains(got["Backups"].Fix, "pg_dump") {
		t.Errorf("backup row gives no pg_dump command: %+v", got["Backups"])
	}
}

// TestPreflightWithoutDatabase fails the database rows without crashing
// when the database cannot be reached.
func TestPreflightWithoutDatabase(t *testing.T) {
	env := productionEnv("postgres://cerberus:s3cretpw@127.0.0.1:1/cerberus?sslmode=require")
	env["SMTP_HOST"], env["SMTP_PORT"] = "127.0.0.1", "1"
	dir := t.TempDir()
	writeEnvFile(t, dir, env)
	code, out := e2e.Run(t, dir, nil, "preflight")
	if code != 1 {
		t.Fatalf("preflight exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{`FAIL\s+Database connection\s+cannot connect`,
		`FAIL\s+Migrations\s+not checked: the database is unreachable`,
		`FAIL\s+SMTP TLS`, `WARN\s+Backups`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cretpw") || strings.Contains(out, "goroutine") {
		t.Errorf("output leaks the password or a panic:\n%s", out)
	}
}
