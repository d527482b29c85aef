package app

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/config"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/mail/mailtest"
)

var testNow = time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)

func testLiveOptions(roots *x509.CertPool) liveOptions {
	return liveOptions{timeout: 5 * time.Second, now: func() time.Time { return testNow },
		smtp: smtpProbe{timeout: 5 * time.Second, roots: roots}}
}

func testConfig(databaseURL string) *config.Config {
	return &config.Config{DatabaseURL: databaseURL, JWTAlg: "EdDSA", JWKSRotateDays: 30,
		SMTPPort: 587}
}

// rowsByName indexes checks by name and fails on a duplicate.
func rowsByName(t *testing.T, checks []config.Check) map[string]config.Check {
	t.Helper()
	out := map[string]config.Check{}
	for _, c := range checks {
		if _, dup := out[c.Name]; dup {
			t.Fatalf("row %q twice", c.Name)
		}
		out[c.Name] = c
	}
	return out
}

func wantStatus(t *testing.T, rows map[string]config.Check, name string, want config.Status,
	detail string) {
	t.Helper()
	c, ok := rows[name]
	if !ok {
		t.Fatalf("no row %q", name)
	}
	if c.Status != want || !strings.Contains(c.Detail, detail) {
		t.Errorf("%s: %s %q, want %s containing %q", name, c.Status, c.Detail, want, detail)
	}
	if c.Status != config.Pass && c.Fix == "" {
		t.Errorf("%s: %s without a fix", name, c.Status)
	}
}

// TestLiveChecksOnAFreshDatabase: a migrated, empty database passes the
// schema row and fails the signing-key rows.
func TestLiveChecksOnAFreshDatabase(t *testing.T) {
	for _, e := range dbtest.Engines {
		t.Run(string(e), func(t *testing.T) {
			cfg := testConfig(dbtest.URL(t, e))
			rows := rowsByName(t, databaseChecks(context.Background(), cfg,
				testLiveOptions(nil)))
			name := map[db.Engine]string{db.Postgres: "PostgreSQL", db.SQLite: "SQLite"}
			wantStatus(t, rows, rowDBConnection, config.Pass, name[e])
			wantStatus(t, rows, rowMigrations, config.Pass, "schema at version")
			wantStatus(t, rows, signingKeyRow("EdDSA"), config.Fail, "no active EdDSA")
			wantStatus(t, rows, signingKeyRow("RS256"), config.Fail, "no active RS256")
			wantStatus(t, rows, rowAdminMFA, config.Pass, "no Owner/Admin accounts")
			wantStatus(t, rows, rowPasswordPolicy, config.Pass, "no organisations")
			if e == db.SQLite {
				wantStatus(t, rows, rowDBLiveTLS, config.Pass, "not applicable")
			} else {
				wantStatus(t, rows, rowDBLiveTLS, config.Warn, "not encrypted")
			}
		})
	}
}

// TestLiveChecksJudgeTheData seeds keys, an organisation with an owner
// without MFA and an admin with it, and checks the rows before and after
// the owner enrols and a password policy is set.
func TestLiveChecksJudgeTheData(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		cfg := testConfig("")
		seedKey(t, d, "EdDSA", testNow.AddDate(0, 0, -3))
		seedKey(t, d, "RS256", testNow.AddDate(0, 0, -45))
		org, owner := seedOrganisation(t, d)
		seedUser(t, d, org, "admin", true)
		seedUser(t, d, org, "member", false)

		rows := rowsByName(t, signingKeyChecks(ctx, d, cfg, testNow))
		wantStatus(t, rows, signingKeyRow("EdDSA"), config.Pass, "newest 3 days old")
		wantStatus(t, rows, signingKeyRow("RS256"), config.Warn, "rotation is overdue")
		mfa := adminMFACheck(ctx, d)
		if mfa.Status != config.Fail || mfa.Detail != "1 of 2 Owner/Admin accounts have no MFA" {
			t.Errorf("MFA row %s %q", mfa.Status, mfa.Detail)
		}
		if strings.Contains(mfa.Detail, "@") {
			t.Errorf("MFA row names an account: %q", mfa.Detail)
		}
		policy := passwordPolicyCheck(ctx, d)
		if policy.Status != config.Warn || !strings.Contains(policy.Detail, "1 of 1") {
			t.Errorf("policy row %s %q", policy.Status, policy.Detail)
		}

		exec(t, d, `UPDATE users SET mfa_enabled = TRUE WHERE id = $1`, owner)
		exec(t, d, `UPDATE organisations SET password_policy = $1 WHERE id = $2`,
			db.MustJSON(map[string]any{"minLength": 12}), org)
		if c := adminMFACheck(ctx, d); c.Status != config.Pass {
			t.Errorf("MFA row after enrolment: %s %q", c.Status, c.Detail)
		}
		if c := passwordPolicyCheck(ctx, d); c.Status != config.Pass {
			t.Errorf("policy row after setting one: %s %q", c.Status, c.Detail)
		}
	})
}

func exec(t *testing.T, d *db.DB, q string, args ...any) {
	t.Helper()
	if _, err := d.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func seedKey(t *testing.T, d *db.DB, alg string, created time.Time) {
	t.Helper()
	exec(t, d, `INSERT INTO jwks (id, kid, alg, public_key, status, created_at, updated_at)
		VALUES ($1, $2, $3, '{}', 'active', $4, $4)`, db.NewID(), db.NewID(), alg, created)
}

// seedOrganisation creates an organisation whose owner has no MFA and
// returns both ids.
func seedOrganisation(t *testing.T, d *db.DB) (org, owner string) {
	t.Helper()
	org = db.NewID()
	exec(t, d, `INSERT INTO organisations (id, slug, name, created_at, updated_at)
		VALUES ($1, $2, 'Acme', $3, $3)`, org, "acme-"+org[len(org)-8:], testNow)
	owner = seedUser(t, d, org, "owner", false)
	exec(t, d, `UPDATE organisations SET owner_id = $1 WHERE id = $2`, owner, org)
	return org, owner
}

// seedUser creates a user holding the role slug (a new role of org).
func seedUser(t *testing.T, d *db.DB, org, slug string, mfa bool) string {
	t.Helper()
	user, role := db.NewID(), db.NewID()
	exec(t, d, `INSERT INTO users (id, organisation_id, email, first_name, last_name, name,
		mfa_enabled, created_at, updated_at) VALUES ($1, $2, $3, 'A', 'B', 'A B', $4, $5, $5)`,
		user, org, slug+"-"+user+"@example.com", mfa, testNow)
	exec(t, d, `INSERT INTO roles (id, organisation_id, name, slug, created_at, updated_at)
		VALUES ($1, $2, $3, $3, $4, $4)`, role, org, slug, testNow)
	exec(t, d, `INSERT INTO user_roles (id, user_id, role_id, created_at)
		VALUES ($1, $2, $3, $4)`, db.NewID(), user, role, testNow)
	return user
}

// TestLiveChecksOnAnUnreachableDatabase: every database row fails with a
// reason, and a password in the URL is not repeated.
func TestLiveChecksOnAnUnreachableDatabase(t *testing.T) {
	for _, url := range []string{
		"postgres://cerberus:hunter2secret@127.0.0.1:1/cerberus?sslmode=disable",
		"sqlite:" + t.TempDir() + "/missing.db",
	} {
		checks := databaseChecks(context.Background(), testConfig(url), testLiveOptions(nil))
		if len(checks) != 7 {
			t.Fatalf("%s: %d rows, want 7", url, len(checks))
		}
		for _, c := range checks {
			if c.Status != config.Fail || c.Fix == "" {
				t.Errorf("%s: row %s is %s", url, c.Name, c.Status)
			}
			if strings.Contains(c.Detail, "hunter2secret") {
				t.Errorf("row %s repeats the password: %s", c.Name, c.Detail)
			}
		}
	}
}

// TestLiveChecksRefuseAnOldSchema: an unmigrated database fails the
// migration row and the rows that need tables.
func TestLiveChecksRefuseAnOldSchema(t *testing.T) {
	cfg := testConfig(dbtest.EmptyURL(t, db.Postgres))
	rows := rowsByName(t, databaseChecks(context.Background(), cfg, testLiveOptions(nil)))
	wantStatus(t, rows, rowMigrations, config.Fail, "schema at version 0")
	wantStatus(t, rows, rowAdminMFA, config.Fail, "not checked")
}

// TestLiveTLSOnAnEncryptedConnection uses sslmode=require against the
// test server, which has TLS enabled.
func TestLiveTLSOnAnEncryptedConnection(t *testing.T) {
	url := strings.Replace(dbtest.URL(t, db.Postgres), "sslmode=disable", "sslmode=require", 1)
	rows := rowsByName(t, databaseChecks(context.Background(), testConfig(url),
		testLiveOptions(nil)))
	wantStatus(t, rows, rowDBLiveTLS, config.Pass, "encrypted with TLS")
}

func smtpConfig(s *mailtest.Server) *config.Config {
	return &config.Config{SMTPHost: s.Host(), SMTPPort: s.Port()}
}

// TestSMTPCheck covers STARTTLS with a trusted and an untrusted
// certificate, a server without STARTTLS, implicit TLS and a closed port.
func TestSMTPCheck(t *testing.T) {
	ctx := context.Background()
	starttls := mailtest.StartWith(t, mailtest.Options{STARTTLS: true})
	probe := smtpProbe{timeout: 5 * time.Second, roots: starttls.RootCAs()}
	// The test certificate lives one day: judged a month earlier it has
	// plenty of time left, judged today it expires within two weeks.
	c := probe.check(ctx, smtpConfig(starttls), time.Now().AddDate(0, -1, 0))
	if c.Status != config.Pass || !strings.Contains(c.Detail, "STARTTLS, TLS 1.") {
		t.Errorf("STARTTLS: %s %q", c.Status, c.Detail)
	}
	c = probe.check(ctx, smtpConfig(starttls), time.Now())
	if c.Status != config.Warn || c.Fix == "" {
		t.Errorf("certificate close to expiry: %s %q", c.Status, c.Detail)
	}

	untrusted := smtpProbe{timeout: 5 * time.Second}
	if c := untrusted.check(ctx, smtpConfig(starttls), time.Now()); c.Status != config.Fail ||
		!strings.Contains(c.Detail, "certificate") {
		t.Errorf("untrusted certificate: %s %q", c.Status, c.Detail)
	}

	plain := mailtest.Start(t)
	if c := probe.check(ctx, smtpConfig(plain), time.Now()); c.Status != config.Fail ||
		!strings.Contains(c.Detail, "does not offer STARTTLS") {
		t.Errorf("plain server: %s %q", c.Status, c.Detail)
	}

	implicit := mailtest.StartWith(t, mailtest.Options{ImplicitTLS: true})
	state, mode, err := smtpProbe{timeout: 5 * time.Second, roots: implicit.RootCAs()}.
		handshake(ctx, implicit.Host(), implicit.Addr(), true)
	if err != nil || mode != "implicit TLS" || len(state.PeerCertificates) == 0 {
		t.Errorf("implicit TLS: %v %s", err, mode)
	}

	closed := &config.Config{SMTPHost: "127.0.0.1", SMTPPort: 1}
	if c := probe.check(ctx, closed, time.Now()); c.Status != config.Fail {
		t.Errorf("closed port: %s %q", c.Status, c.Detail)
	}
	if c := probe.check(ctx, &config.Config{}, time.Now()); c.Status != config.Warn {
		t.Errorf("no SMTP_HOST: %s %q", c.Status, c.Detail)
	}
}
