package admin

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/revocation"
)

// Errors of the organisation deletion.
var (
	errNotOwner = apperr.New(apperr.Forbidden, "Only the organisation owner can delete it")
	errConfirm  = apperr.New(apperr.Invalid, "confirmDomain does not match")
)

// DeleteOrganisation deletes the actor's organisation when the actor is
// its owner and confirmDomain repeats its slug. In one transaction the
// organisation, its users and its clients are soft-deleted; sessions,
// codes, device codes and authorization requests are deleted; tokens and
// consents revoked; pending invitations cancelled; API keys revoked;
// webhook endpoints and their pending deliveries deleted; audit
// organisation.deleted. Audit rows are kept; the rest is purged later.
// Errors: 403 "Only the organisation owner can delete it", 400
// "confirmDomain does not match", 404 "Organisation not found".
func (s *Service) DeleteOrganisation(ctx context.Context, actor *access.Principal,
	confirmDomain string) error {
	ended := 0
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockOrganisation(ctx, tx, actor.OrganisationID); err != nil {
			return err
		}
		o, err := readOrganisation(ctx, tx, actor.OrganisationID)
		if err != nil {
			return err
		}
		if actor.Kind == access.KindClientToken || o.OwnerID == nil ||
			*o.OwnerID != actor.UserID {
			return errNotOwner
		}
		if confirmDomain != o.Slug {
			return errConfirm
		}
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions
			WHERE organisation_id = $1`, o.ID).Scan(&ended)
		if err != nil {
			return fmt.Errorf("count sessions: %w", err)
		}
		return s.deleteOrganisation(ctx, tx, o)
	})
	if err == nil {
		s.sessionsEnded(ended)
	}
	return err
}

func (s *Service) deleteOrganisation(ctx context.Context, tx *sql.Tx,
	o *Organisation) error {
	now := s.clock()
	err := s.events.Record(ctx, tx, event.Event{Type: "organisation.deleted",
		OrganisationID: o.ID, ResourceType: "organisation", ResourceID: o.ID,
		Metadata: map[string]any{"slug": o.Slug}})
	if err != nil {
		return err
	}
	if err := softDeleteTenant(ctx, tx, o.ID, now); err != nil {
		return err
	}
	if err := revocation.Organisation(ctx, tx, o.ID, now); err != nil {
		return err
	}
	return closeTenant(ctx, tx, o.ID, now)
}

// softDeleteTenant marks the organisation, its users and its clients
// deleted.
func softDeleteTenant(ctx context.Context, tx *sql.Tx, orgID string, now time.Time) error {
	for _, stmt := range []string{
		`UPDATE organisations SET deleted_at = $2, updated_at = $2 WHERE id = $1`,
		`UPDATE users SET deleted_at = $2, updated_at = $2
			WHERE organisation_id = $1 AND deleted_at IS NULL`,
		`UPDATE clients SET deleted_at = $2, is_active = FALSE,
			revoked_at = COALESCE(revoked_at, $2), updated_at = $2
			WHERE organisation_id = $1 AND deleted_at IS NULL`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, orgID, now); err != nil {
			return fmt.Errorf("delete organisation: %w", err)
		}
	}
	return nil
}

// closeTenant cancels pending invitations, revokes API keys and deletes
// webhook endpoints with their pending deliveries.
func closeTenant(ctx context.Context, tx *sql.Tx, orgID string, now time.Time) error {
	for _, stmt := range []string{
		`UPDATE invitations SET status = 'cancelled', cancelled_at = $2, updated_at = $2
			WHERE organisation_id = $1 AND status = 'pending'`,
		`UPDATE api_keys SET revoked_at = $2, updated_at = $2
			WHERE organisation_id = $1 AND revoked_at IS NULL`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, orgID, now); err != nil {
			return fmt.Errorf("close organisation: %w", err)
		}
	}
	for _, stmt := range []string{
		`DELETE FROM webhook_deliveries WHERE organisation_id = $1`,
		`DELETE FROM webhook_endpoints WHERE organisation_id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, orgID); err != nil {
			return fmt.Errorf("delete webhook endpoints: %w", err)
		}
	}
	return nil
}
