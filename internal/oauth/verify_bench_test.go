package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// BenchmarkAuthenticateToken measures the check of a bearer access token
// on the admin API: JWS parsing, the signature by a cached published key,
// the claims, and the state of the jti. "cached" is the steady state,
// where the jti's state is at most 5 s old in this instance's cache;
// "uncached" drops it before each check, so each one also reads the token
// row with its client, organisation and user.
func BenchmarkAuthenticateToken(b *testing.B) {
	for _, e := range dbtest.Engines {
		for _, alg := range Algorithms {
			b.Run(string(e)+"/"+alg, func(b *testing.B) {
				p, token := benchProvider(b, dbtest.Open(b, e), alg)
				jti := benchJTI(b, p, token)
				b.Run("cached", func(b *testing.B) { benchAuthenticate(b, p, token, "") })
				b.Run("uncached", func(b *testing.B) { benchAuthenticate(b, p, token, jti) })
			})
		}
	}
}

// benchAuthenticate checks token in a loop, forgetting the state of jti
// before each check when jti is set.
func benchAuthenticate(b *testing.B, p *Provider, token, jti string) {
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if jti != "" {
			p.states.forget(jti)
		}
		pr, err := p.AuthenticateToken(ctx, token)
		if err != nil || pr.Kind != access.KindClientToken {
			b.Fatalf("AuthenticateToken: %v %+v", err, pr)
		}
	}
}

// benchProvider returns a provider signing access tokens with alg, and a
// client credentials token for the admin API issued by its token
// endpoint. The clock stands still, so the token never expires.
func benchProvider(b *testing.B, d *db.DB, alg string) (*Provider, string) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	clock := func() time.Time { return now }
	ring, err := crypto.NewKeyRing(crypto.RandomBytes(32))
	if err != nil {
		b.Fatal(err)
	}
	p := New(Deps{DB: d, Ring: ring, Events: event.NewRecorder(clock),
		Authorizer: access.NewAuthorizer(d), Now: clock},
		Config{Issuer: testIssuer, AccessTokenAlg: alg, RotateEvery: 30 * 24 * time.Hour})
	if err := p.Keys.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	owner := benchOwner(b, d, now)
	c, secret, err := p.CreateClient(ctx, owner, ClientCreate{Name: ptr("Bench"),
		ClientType: ptr(ClientConfidential), GrantTypes: ptr([]string{GrantClientCredentials}),
		Scopes: ptr([]string{"users:read"})})
	if err != nil {
		b.Fatalf("create client: %v", err)
	}
	return p, benchIssue(b, p, c, secret)
}

// benchOwner creates an organisation with its seeded roles and a user
// holding the owner role, and returns the user's session principal.
func benchOwner(b *testing.B, d *db.DB, now time.Time) *access.Principal {
	ctx := context.Background()
	if err := access.SyncCatalogue(ctx, d, now); err != nil {
		b.Fatal(err)
	}
	org, user := db.NewID(), db.NewID()
	steps := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO organisations (id, slug, name, created_at, updated_at)
			VALUES ($1, 'bench', 'Bench', $2, $2)`, []any{org, now}},
		{`INSERT INTO users (id, organisation_id, email, first_name, last_name, name,
			created_at, updated_at) VALUES ($1, $2, 'owner@bench.test', 'A', 'B', 'A B',
			$3, $3)`, []any{user, org, now}},
	}
	for _, s := range steps {
		if _, err := d.ExecContext(ctx, s.q, s.args...); err != nil {
			b.Fatal(err)
		}
	}
	roles, err := access.SeedRoles(ctx, d, org, now)
	if err != nil {
		b.Fatal(err)
	}
	_, err = d.ExecContext(ctx, `INSERT INTO user_roles (id, user_id, role_id, created_at)
		VALUES ($1, $2, $3, $4)`, db.NewID(), user, roles[access.RoleOwner], now)
	if err != nil {
		b.Fatal(err)
	}
	return &access.Principal{Kind: access.KindSession, OrganisationID: org, UserID: user}
}

// benchIssue runs the client credentials grant with the issuer as
// resource, as an admin API caller would, and returns the access token.
func benchIssue(b *testing.B, p *Provider, c *Client, secret string) string {
	form := url.Values{"grant_type": {GrantClientCredentials}, "scope": {"users:read"},
		"resource": {testIssuer}}
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(secret))
	w := httptest.NewRecorder()
	if err := p.TokenEndpoint(w, r); err != nil {
		b.Fatalf("token endpoint: %v", err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.AccessToken == "" {
		b.Fatalf("token answer %d %s", w.Code, w.Body)
	}
	return out.AccessToken
}

// benchJTI returns the jti of a valid access token.
func benchJTI(b *testing.B, p *Provider, token string) string {
	c, _, err := p.verifyAccess(b.Context(), token)
	if err != nil {
		b.Fatalf("verify: %v", err)
	}
	return c.JTI
}
