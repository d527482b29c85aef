package admin

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// Organisation is an organisation and its settings as the administration
// API shows them. The JSON settings are shown as stored.
type Organisation struct {
	ID                  string           `json:"id"`
	Slug                string           `json:"slug"`
	Name                string           `json:"name"`
	Email               *string          `json:"email"`
	Phone               *string          `json:"phone"`
	Website             *string          `json:"website"`
	OwnerID             *string          `json:"ownerId"`
	AllowedCallbackURLs []string         `json:"allowedCallbackUrls"`
	AllowedLogoutURLs   []string         `json:"allowedLogoutUrls"`
	AllowedOrigins      []string         `json:"allowedOrigins"`
	SessionLifetime     int              `json:"sessionLifetime"`
	SessionIdleTimeout  int              `json:"sessionIdleTimeout"`
	RequireMFA          bool             `json:"requireMfa"`
	AllowedMFAMethods   []string         `json:"allowedMfaMethods"`
	PasswordPolicy      json.RawMessage  `json:"passwordPolicy"`
	TokenLifetimePolicy json.RawMessage  `json:"tokenLifetimePolicy"`
	Branding            json.RawMessage  `json:"branding"`
	Metadata            json.RawMessage  `json:"metadata"`
	CreatedAt           access.Timestamp `json:"createdAt"`
	UpdatedAt           access.Timestamp `json:"updatedAt"`
}

var errOrgNotFound = apperr.NotFoundf("Organisation")

const orgColumns = `id, slug, name, email, phone, website, owner_id,
	allowed_callback_urls, allowed_logout_urls, allowed_origins, session_lifetime,
	session_idle_timeout, require_mfa, allowed_mfa_methods, password_policy,
	token_lifetime_policy, branding, metadata, created_at, updated_at`

// rawJSON scans a nullable JSON column as raw JSON (null for NULL).
type rawJSON struct{ dst *json.RawMessage }

func (r rawJSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*r.dst = json.RawMessage("null")
	case string:
		*r.dst = json.RawMessage(v)
	case []byte:
		*r.dst = append(json.RawMessage(nil), v...)
	default:
		return fmt.Errorf("scan json: unsupported type %T", src)
	}
	return nil
}

func readOrganisation(ctx context.Context, q db.Querier, id string) (*Organisation, error) {
	var o Organisation
	var created, updated time.Time
	err := q.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organisations
		WHERE id = $1 AND deleted_at IS NULL`, id).Scan(&o.ID, &o.Slug, &o.Name, &o.Email,
		&o.Phone, &o.Website, &o.OwnerID, db.JSON(&o.AllowedCallbackURLs),
		db.JSON(&o.AllowedLogoutURLs), db.JSON(&o.AllowedOrigins), &o.SessionLifetime,
		&o.SessionIdleTimeout, &o.RequireMFA, db.JSON(&o.AllowedMFAMethods),
		rawJSON{&o.PasswordPolicy}, rawJSON{&o.TokenLifetimePolicy}, rawJSON{&o.Branding},
		rawJSON{&o.Metadata}, db.Time(&created), db.Time(&updated))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errOrgNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read organisation: %w", err)
	}
	o.CreatedAt, o.UpdatedAt = access.Stamp(created), access.Stamp(updated)
	for _, l := range []*[]string{&o.AllowedCallbackURLs, &o.AllowedLogoutURLs,
		&o.AllowedOrigins, &o.AllowedMFAMethods} {
		if *l == nil {
			*l = []string{}
		}
	}
	return &o, nil
}

// Organisation returns the live organisation: 404 "Organisation not
// found".
func (s *Service) Organisation(ctx context.Context, orgID string) (*Organisation, error) {
	return readOrganisation(ctx, s.db, orgID)
}
