package oauth

import (
	"context"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

const testIssuer = "https://id.example.test"

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// env is a provider on a fresh database with one organisation and one
// user holding the owner role (every permission).
type env struct {
	p     *Provider
	d     *db.DB
	clk   *clock
	org   string
	user  string
	owner *access.Principal
}

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	ring, err := crypto.NewKeyRing(crypto.RandomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	p := New(Deps{DB: d, Ring: ring, Events: event.NewRecorder(clk.now),
		Authorizer: access.NewAuthorizer(d), Now: clk.now},
		Config{Issuer: testIssuer, AccessTokenAlg: AlgEdDSA, RotateEvery: 30 * 24 * time.Hour})
	if err := p.Keys.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := access.SyncCatalogue(ctx, d, clk.t); err != nil {
		t.Fatal(err)
	}
	e := &env{p: p, d: d, clk: clk}
	e.org = e.addOrg(t, "acme")
	e.user = e.addUser(t, e.org, "owner@acme.test", "owner")
	e.owner = &access.Principal{Kind: access.KindSession, OrganisationID: e.org,
		UserID: e.user}
	return e
}

func (e *env) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := e.d.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// addOrg creates an organisation with the seeded roles.
func (e *env) addOrg(t *testing.T, slug string) string {
	t.Helper()
	id := db.NewID()
	e.exec(t, `INSERT INTO organisations (id, slug, name, created_at, updated_at)
		VALUES ($1, $2, $2, $3, $3)`, id, slug, e.clk.t)
	if _, err := access.SeedRoles(context.Background(), e.d, id, e.clk.t); err != nil {
		t.Fatal(err)
	}
	return id
}

// addUser creates an active user with the role of that slug.
func (e *env) addUser(t *testing.T, org, email, role string) string {
	t.Helper()
	id := db.NewID()
	e.exec(t, `INSERT INTO users (id, organisation_id, email, first_name, last_name, name,
		email_verified_at, created_at, updated_at) VALUES ($1, $2, $3, 'Ada', 'Lovelace',
		'Ada Lovelace', $4, $4, $4)`, id, org, email, e.clk.t)
	e.exec(t, `INSERT INTO user_roles (id, user_id, role_id, created_at)
		SELECT $1, $2, id, $4 FROM roles WHERE organisation_id = $3 AND slug = $5`,
		db.NewID(), id, org, e.clk.t, role)
	return id
}

// addSession creates a full session of user and returns its id.
func (e *env) addSession(t *testing.T, user, org string, amr []string) string {
	t.Helper()
	id := db.NewID()
	e.exec(t, `INSERT INTO sessions (id, session_token, user_id, organisation_id, amr,
		authenticated_at, idle_timeout, last_activity_at, expires_at, created_at,
		updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1800, $6, $7, $6, $6)`,
		id, crypto.HashToken(id), user, org, db.MustJSON(amr), e.clk.t,
		e.clk.t.Add(time.Hour))
	return id
}

func ptr[T any](v T) *T { return &v }

// confidential creates a confidential code+refresh client and returns it
// with its secret.
func (e *env) confidential(t *testing.T, mod func(*ClientCreate)) (*Client, string) {
	t.Helper()
	in := ClientCreate{Name: ptr("App"), ClientType: ptr(ClientConfidential),
		RedirectURIs: ptr([]string{"https://app.example.test/cb"}),
		Scopes:       ptr([]string{"openid", "profile", "email", "offline_access"}),
		GrantTypes: ptr([]string{GrantAuthorizationCode, GrantRefreshToken,
			GrantClientCredentials})}
	if mod != nil {
		mod(&in)
	}
	c, secret, err := e.p.CreateClient(context.Background(), e.owner, in)
	if err != nil {
		t.Fatalf("create client: %v", err)
	}
	return c, secret
}
