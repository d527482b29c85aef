// Package access decides who may do what in an organisation: the global
// permission catalogue, the default roles of a new organisation, the
// effective permissions of a user, the principals that authenticated
// requests carry, and the rules that grant or refuse a permission.
package access

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// Resources are the permission resources of the catalogue.
var Resources = []string{
	"users", "roles", "permissions", "teams", "invitations", "clients", "api_keys",
	"webhooks", "audit_logs", "organisation", "sessions",
}

// Actions are the permission actions of the catalogue.
var Actions = []string{"create", "read", "update", "delete"}

// Wildcard covers every permission.
const Wildcard = "*"

// Permission is one row of the catalogue.
type Permission struct {
	ID          string    `json:"id"`
	Slug        string    `json:"slug"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Category    string    `json:"category"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// catalogueEntry is a permission the binary defines.
type catalogueEntry struct {
	slug, name, description, category string
}

// Catalogue returns every permission slug the binary defines: `*`, then
// per resource `<resource>:*` and its four actions (56 in all).
func Catalogue() []string {
	entries := catalogue()
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.slug
	}
	return out
}

func catalogue() []catalogueEntry {
	out := []catalogueEntry{{slug: Wildcard, name: "All permissions",
		description: "Every permission on every resource", category: "*"}}
	for _, r := range Resources {
		label := strings.ReplaceAll(r, "_", " ")
		out = append(out, catalogueEntry{slug: r + ":*", name: "Manage " + label,
			description: "Every action on " + label, category: r})
		for _, a := range Actions {
			verb := strings.ToUpper(a[:1]) + a[1:]
			out = append(out, catalogueEntry{slug: r + ":" + a, name: verb + " " + label,
				description: verb + " " + label, category: r})
		}
	}
	return out
}

// IsCatalogued reports whether slug is a permission of the catalogue.
func IsCatalogued(slug string) bool {
	for _, e := range catalogue() {
		if e.slug == slug {
			return true
		}
	}
	return false
}

// SyncCatalogue inserts the catalogue's permissions that the table lacks and
// refreshes the names of the others, which keep their ids. It runs at
// startup; concurrent instances converge on the same rows.
func SyncCatalogue(ctx context.Context, d *db.DB, now time.Time) error {
	return d.Tx(ctx, func(tx *sql.Tx) error {
		for _, e := range catalogue() {
			_, err := tx.ExecContext(ctx, `INSERT INTO permissions (id, slug, name, description,
				category, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)
				ON CONFLICT (slug) DO UPDATE SET name = excluded.name,
				description = excluded.description, category = excluded.category`,
				db.NewID(), e.slug, e.name, e.description, e.category, now)
			if err != nil {
				return fmt.Errorf("sync permission %s: %w", e.slug, err)
			}
		}
		return nil
	})
}
