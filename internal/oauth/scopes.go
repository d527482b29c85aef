package oauth

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// The OpenID Connect scopes.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopePhone         = "phone"
	ScopeOfflineAccess = "offline_access"
)

// OIDCScopes are the scopes of the scopes table, in display order.
var OIDCScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopePhone,
	ScopeOfflineAccess}

// scopeDescriptions are the words the consent page shows for each scope.
var scopeDescriptions = map[string]string{
	ScopeOpenID:        "Sign you in with your account",
	ScopeProfile:       "See your name",
	ScopeEmail:         "See your email address",
	ScopePhone:         "See your phone number",
	ScopeOfflineAccess: "Stay signed in when you are away (keep access)",
}

var customScope = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,63}$`)

// ValidScope reports whether s may be given to a client: an OpenID scope,
// a permission slug of the catalogue, or a custom scope name.
func ValidScope(s string) bool {
	return slices.Contains(OIDCScopes, s) || access.IsCatalogued(s) || customScope.MatchString(s)
}

// isPermission reports a scope that is a permission slug.
func isPermission(s string) bool { return access.IsCatalogued(s) }

// splitScope splits a space-separated scope parameter, dropping
// duplicates and keeping the first order.
func splitScope(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// joinScopes renders scopes as a scope parameter.
func joinScopes(s []string) string { return strings.Join(s, " ") }

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// SyncScopes writes the OpenID scopes and their descriptions into the
// scopes table (startup).
func SyncScopes(ctx context.Context, d *db.DB, now time.Time) error {
	now = now.UTC().Truncate(time.Millisecond)
	return d.Tx(ctx, func(tx *sql.Tx) error {
		for _, name := range OIDCScopes {
			_, err := tx.ExecContext(ctx, `INSERT INTO scopes (id, name, description,
				is_system, created_at, updated_at) VALUES ($1, $2, $3, TRUE, $4, $4)
				ON CONFLICT (name) DO UPDATE SET description = excluded.description,
				is_system = TRUE, updated_at = excluded.updated_at
				WHERE scopes.description <> excluded.description`,
				db.NewID(), name, scopeDescriptions[name], now)
			if err != nil {
				return fmt.Errorf("sync scope %s: %w", name, err)
			}
		}
		return nil
	})
}

// ScopeDescription is a scope with the words shown on the consent page.
type ScopeDescription struct {
	Name        string
	Description string
}

// describeScopes returns the descriptions of scopes from the scopes
// table; custom scopes show their name.
func describeScopes(ctx context.Context, q db.Querier, scopes []string) (
	[]ScopeDescription, error) {
	out := make([]ScopeDescription, 0, len(scopes))
	for _, s := range scopes {
		var desc string
		err := q.QueryRowContext(ctx, `SELECT description FROM scopes WHERE name = $1`,
			s).Scan(&desc)
		if err != nil && err != sql.ErrNoRows {
			return nil, fmt.Errorf("read scope %s: %w", s, err)
		}
		if desc == "" {
			desc = s
		}
		out = append(out, ScopeDescription{Name: s, Description: desc})
	}
	return out, nil
}
