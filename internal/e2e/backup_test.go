package e2e_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// TestBackupAndRestore is the monthly restore test of the backup runbook:
// a populated database is dumped with pg_dump and restored with pg_restore
// into a new database; a server started on the copy signs the user in and
// accepts the refresh token issued before the dump.
func TestBackupAndRestore(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing: run .ci/install.sh (postgresql-client)", tool)
		}
	}
	source := dbtest.URL(t, db.Postgres)
	key := e2e.NewKey()
	s := e2e.Start(t, e2e.Options{DatabaseURL: source,
		Env: map[string]string{"SECRET_ENCRYPTION_KEY": key}})
	email, password, orgID := onboardOrganisation(t, s.URL)
	client := e2e.SeedFirstPartyClient(t, source, orgID)
	refresh := authorizationCodeTokens(t, s.URL, client, email, password)

	dump := filepath.Join(t.TempDir(), "cerberus.dump")
	run(t, "pg_dump", "--format=custom", "--no-owner", "--file="+dump, source)
	if code := s.Stop(t); code != 0 {
		t.Fatalf("source server exited %d", code)
	}
	restored := newDatabase(t)
	run(t, "pg_restore", "--no-owner", "--exit-on-error", "--dbname="+restored, dump)

	r := e2e.Start(t, e2e.Options{DatabaseURL: restored, Env: map[string]string{
		"SECRET_ENCRYPTION_KEY": key, "PORT": strconv.Itoa(s.Port), "ISSUER_URL": s.URL,
		"MIGRATE_ON_START": "false"}})
	if status := login(t, newBrowser(t), r.URL, email, password); status != http.StatusOK {
		t.Fatalf("login on the restored database: %d", status)
	}
	var tok tokenResponse
	if status := tokenRequest(t, r.URL, client, url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {refresh}}, &tok); status != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("refresh on the restored database: %d %+v", status, tok)
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// newDatabase creates an empty database for the restore and drops it when
// the test ends.
func newDatabase(t *testing.T) string {
	t.Helper()
	admin, err := sql.Open("pgx", dbtest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := "cerb_restore_" + strings.ReplaceAll(db.NewID()[24:], "-", "")
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", dbtest.PostgresURL()); err == nil {
			_, _ = a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			a.Close()
		}
	})
	u, err := url.Parse(dbtest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// onboardOrganisation creates an organisation and its owner and returns
// the owner's credentials and the organisation id.
func onboardOrganisation(t *testing.T, base string) (email, password, orgID string) {
	t.Helper()
	email, password = "owner-"+db.NewID()+"@example.com", "Backup-Restore-Pass-42"
	body, _ := json.Marshal(map[string]string{"organisationName": "Backup Test",
		"email": email, "firstName": "Ops", "lastName": "Check", "password": password})
	resp, err := http.Post(base+"/v1/auth/onboard", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Organisation struct {
			ID string `json:"id"`
		} `json:"organisation"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil ||
		resp.StatusCode != http.StatusCreated || out.Organisation.ID == "" {
		t.Fatalf("onboard: %d %v", resp.StatusCode, err)
	}
	return email, password, out.Organisation.ID
}

// newBrowser is a client with a cookie jar that does not follow redirects.
func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func login(t *testing.T, c *http.Client, base, email, password string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := c.Post(base+"/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// authorizationCodeTokens signs in, runs the authorization-code flow with
// PKCE for client (first-party: no consent) and returns the refresh token.
func authorizationCodeTokens(t *testing.T, base string, c e2e.Client,
	email, password string) string {
	t.Helper()
	browser := newBrowser(t)
	if status := login(t, browser, base, email, password); status != http.StatusOK {
		t.Fatalf("login: %d", status)
	}
	verifier := randomString(t)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID},
		"redirect_uri": {c.RedirectURI}, "scope": {"openid offline_access"},
		"state": {randomString(t)}, "nonce": {randomString(t)},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	resp, err := browser.Get(base + "/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var tok tokenResponse
	status := tokenRequest(t, base, c, url.Values{"grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {c.RedirectURI},
		"code_verifier": {verifier}}, &tok)
	if status != http.StatusOK || tok.RefreshToken == "" {
		t.Fatalf("code exchange: %d %+v", status, tok)
	}
	return tok.RefreshToken
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func tokenRequest(t *testing.T, base string, c e2e.Client, form url.Values,
	dst *tokenResponse) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token",
		strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(dst)
	return resp.StatusCode
}

func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
