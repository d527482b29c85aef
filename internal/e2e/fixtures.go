package e2e

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// Client is an OAuth client written straight into a server's database.
type Client struct {
	OrganisationID string
	ClientID       string
	Secret         string
	// RedirectURI is the registered redirect URI of an authorization-code
	// client.
	RedirectURI string
}

// SeedClient creates an organisation and, in it, a confidential client
// allowed the client_credentials grant with client_secret_basic and
// introspection. It writes the rows of the schema directly, so tests of
// the operational tooling do not depend on the admin API.
func SeedClient(t testing.TB, databaseURL string) Client {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := Client{OrganisationID: db.NewID(), ClientID: "ops-" + db.NewID(),
		Secret: crypto.NewToken()}
	slug := "ops-" + c.OrganisationID[len(c.OrganisationID)-12:]
	withDB(t, databaseURL, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO organisations
			(id, slug, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
			c.OrganisationID, slug, "Operations test", now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO clients (id, organisation_id,
			client_id, secret_hash, name, client_type, grant_types, scopes,
			token_endpoint_auth_method, introspect, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 'Operations test', 'confidential',
			'["client_credentials"]', '[]', 'client_secret_basic', TRUE, $5, $5)`,
			db.NewID(), c.OrganisationID, c.ClientID, crypto.HashToken(c.Secret), now)
		return err
	})
	return c
}

// SeedFirstPartyClient creates, in an existing organisation, a
// confidential first-party client (no consent screen) for the
// authorization-code grant with PKCE and refresh tokens, redirecting to
// http://127.0.0.1:9/callback.
func SeedFirstPartyClient(t testing.TB, databaseURL, organisationID string) Client {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := Client{OrganisationID: organisationID, ClientID: "app-" + db.NewID(),
		Secret: crypto.NewToken(), RedirectURI: "http://127.0.0.1:9/callback"}
	withDB(t, databaseURL, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO clients (id, organisation_id,
			client_id, secret_hash, name, client_type, grant_types, redirect_uris, scopes,
			token_endpoint_auth_method, is_first_party, require_consent, created_at,
			updated_at) VALUES ($1, $2, $3, $4, 'First-party test', 'confidential',
			'["authorization_code","refresh_token"]', $5,
			'["openid","profile","email","offline_access"]', 'client_secret_basic',
			TRUE, FALSE, $6, $6)`,
			db.NewID(), organisationID, c.ClientID, crypto.HashToken(c.Secret),
			db.MustJSON([]string{c.RedirectURI}), now)
		return err
	})
	return c
}

// withDB runs fn in one transaction on the database of databaseURL.
func withDB(t testing.TB, databaseURL string, fn func(context.Context, *sql.Tx) error) {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, databaseURL, db.Options{})
	if err != nil {
		t.Fatalf("seed: open database: %v", err)
	}
	defer d.Close()
	if err := d.Tx(ctx, func(tx *sql.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("seed: %v", err)
	}
}
