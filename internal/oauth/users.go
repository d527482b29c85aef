package oauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// user is what the provider reads of a user: claims and whether the user
// may still hold tokens. Users belong to the identity service; this is a
// read-only view.
type user struct {
	ID              string
	OrganisationID  string
	Email           string
	FirstName       string
	LastName        string
	Name            string
	Phone           *string
	EmailVerifiedAt *time.Time
	UpdatedAt       time.Time
	active          bool
}

// readUser loads a user; nil when there is none.
func readUser(ctx context.Context, q db.Querier, id string) (*user, error) {
	u := &user{}
	err := q.QueryRowContext(ctx, `SELECT u.id, u.organisation_id, u.email, u.first_name,
		u.last_name, u.name, u.phone, u.email_verified_at, u.updated_at,
		(u.blocked_at IS NULL AND u.deleted_at IS NULL AND o.deleted_at IS NULL)
		FROM users u JOIN organisations o ON o.id = u.organisation_id WHERE u.id = $1`, id).
		Scan(&u.ID, &u.OrganisationID, &u.Email, &u.FirstName, &u.LastName, &u.Name,
			&u.Phone, db.NullTime(&u.EmailVerifiedAt), db.Time(&u.UpdatedAt), &u.active)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	return u, nil
}

// roleSlugs returns the slugs of the user's roles, sorted.
func roleSlugs(ctx context.Context, q db.Querier, userID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT r.slug FROM user_roles ur
		JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = $1 ORDER BY r.slug`, userID)
	if err != nil {
		return nil, fmt.Errorf("read roles: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("scan role: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// scopeClaims returns the OpenID claims the scopes release (null claims
// omitted).
func (u *user) scopeClaims(scopes []string) map[string]any {
	out := map[string]any{}
	for _, s := range scopes {
		switch s {
		case ScopeProfile:
			out["name"] = u.Name
			out["given_name"] = u.FirstName
			out["family_name"] = u.LastName
			out["updated_at"] = u.UpdatedAt.Unix()
		case ScopeEmail:
			out["email"] = u.Email
			out["email_verified"] = u.EmailVerifiedAt != nil
		case ScopePhone:
			if u.Phone != nil {
				out["phone_number"] = *u.Phone
				out["phone_number_verified"] = false
			}
		}
	}
	return out
}

// Lifetime defaults.
const (
	defaultAccessLifetime = 3600 * time.Second
	defaultIDLifetime     = 3600 * time.Second
	defaultFamilyLifetime = 2592000 * time.Second
)

// lifetimes are the effective token lifetimes of a client.
type lifetimes struct {
	access, id, family time.Duration
}

// tokenLifetimePolicy is the organisation's tokenLifetimePolicy.
type tokenLifetimePolicy struct {
	AccessToken  *int `json:"accessToken"`
	IDToken      *int `json:"idToken"`
	RefreshToken *int `json:"refreshToken"`
}

// lifetimesOf returns the client's lifetimes: client value, else the
// organisation's policy, else the default.
func lifetimesOf(ctx context.Context, q db.Querier, c *Client) (lifetimes, error) {
	var pol *tokenLifetimePolicy
	err := q.QueryRowContext(ctx, `SELECT token_lifetime_policy FROM organisations
		WHERE id = $1`, c.OrganisationID).Scan(db.JSON(&pol))
	if err != nil {
		return lifetimes{}, fmt.Errorf("read token lifetime policy: %w", err)
	}
	if pol == nil {
		pol = &tokenLifetimePolicy{}
	}
	return lifetimes{
		access: pick(c.AccessTokenLifetime, pol.AccessToken, defaultAccessLifetime),
		id:     pick(c.IDTokenLifetime, pol.IDToken, defaultIDLifetime),
		family: pick(c.RefreshTokenLifetime, pol.RefreshToken, defaultFamilyLifetime),
	}, nil
}

func pick(client, org *int, def time.Duration) time.Duration {
	switch {
	case client != nil:
		return time.Duration(*client) * time.Second
	case org != nil:
		return time.Duration(*org) * time.Second
	}
	return def
}
