package e2e_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// onboard creates an organisation and its owner through the public API
// and returns the owner's credentials.
func onboard(t *testing.T, base string) (email, password string) {
	t.Helper()
	email, password = "owner-"+db.NewID()+"@example.com", "Verify-Deploy-Pass-42"
	body, _ := json.Marshal(map[string]string{"organisationName": "Verify Test",
		"email": email, "firstName": "Ops", "lastName": "Check", "password": password})
	resp, err := http.Post(base+"/v1/auth/onboard", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("onboard: %d", resp.StatusCode)
	}
	return email, password
}

// TestVerifyPassesOnAHealthyInstance runs the post-deployment checklist
// with every option against a running server: health, readiness,
// headers, discovery, JWKS, a client-credentials token verified and
// introspected, and a sign-in.
func TestVerifyPassesOnAHealthyInstance(t *testing.T) {
	url := dbtest.URL(t, db.Postgres)
	s := e2e.Start(t, e2e.Options{DatabaseURL: url})
	c := e2e.SeedClient(t, url)
	email, password := onboard(t, s.URL)

	code, out := e2e.Run(t, t.TempDir(), nil, "verify", "--url", s.URL,
		"--client-id", c.ClientID, "--client-secret", c.Secret,
		"--email", email, "--password", password)
	if code != 0 {
		t.Fatalf("verify exit %d:\n%s", code, out)
	}
	for _, row := range []string{"Health", "Readiness", "Security headers",
		"Discovery issuer", "JWKS", "Client credentials token", "Token introspection",
		"Login"} {
		if !regexp.MustCompile(`(?m)^PASS\s+` + row + `\s`).MatchString(out) {
			t.Errorf("row %s did not pass:\n%s", row, out)
		}
	}
	if !regexp.MustCompile(`(?m)^WARN\s+TLS certificate\s+not checked`).MatchString(out) {
		t.Errorf("plain http should leave the TLS row a warning:\n%s", out)
	}
	if strings.Contains(out, c.Secret) || strings.Contains(out, password) {
		t.Errorf("verify printed a secret:\n%s", out)
	}
}

// TestVerifyFailsClearly: a --url other than the issuer, and a wrong
// client secret, exit 1 with a message naming the problem.
func TestVerifyFailsClearly(t *testing.T) {
	url := dbtest.URL(t, db.Postgres)
	s := e2e.Start(t, e2e.Options{DatabaseURL: url})
	c := e2e.SeedClient(t, url)
	other := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)

	code, out := e2e.Run(t, t.TempDir(), nil, "verify", "--url", other)
	want := "discovery issuer " + s.URL + " does not match --url " + other
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("verify --url %s: exit %d, want 1 and %q:\n%s", other, code, want, out)
	}

	code, out = e2e.Run(t, t.TempDir(), nil, "verify", "--url", s.URL,
		"--client-id", c.ClientID, "--client-secret", "wrong")
	if code != 1 || !regexp.MustCompile(`FAIL\s+Client credentials token`).MatchString(out) {
		t.Errorf("wrong secret: exit %d:\n%s", code, out)
	}

	code, out = e2e.Run(t, t.TempDir(), nil, "verify", "--client-id", "x")
	if code != 2 || !strings.Contains(out, "verify needs --url") {
		t.Errorf("usage: exit %d:\n%s", code, out)
	}
}
