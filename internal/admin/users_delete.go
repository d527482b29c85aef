package admin

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/revocation"
)

// DeleteUser soft-deletes a user of the actor's organisation in one
// transaction: sessions, authorization codes and requests deleted, tokens
// and consents revoked, pending device approvals denied (audit and
// webhook user.deleted). API keys the user created stop authenticating;
// the email stays reserved until the row is purged. Errors: 404 "User not
// found", 400 "The organisation owner cannot be blocked or deleted", 400
// "You cannot block or delete your own account".
func (s *Service) DeleteUser(ctx context.Context, actor *access.Principal, id string) error {
	ended := 0
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		u, err := s.target(ctx, tx, actor, id, true)
		if err != nil {
			return err
		}
		now := s.clock()
		_, err = tx.ExecContext(ctx, `UPDATE users SET deleted_at = $1, updated_at = $1
			WHERE id = $2 AND organisation_id = $3`, now, u.ID, u.orgID)
		if err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		if ended, err = endAccess(ctx, tx, u.ID, now); err != nil {
			return err
		}
		if err := revocation.UserConsents(ctx, tx, u.ID, now); err != nil {
			return err
		}
		if err := access.BumpRBAC(ctx, tx, u.orgID); err != nil {
			return err
		}
		return s.userEvent(ctx, tx, u, "user.deleted", "user.deleted", nil, nil)
	})
	if err == nil {
		s.sessionsEnded(ended)
	}
	return err
}

// Errors of the role routes.
var (
	errRoleNotAssigned = apperr.New(apperr.NotFound, "Role not assigned to user")
	errRoleIDRequired  = apperr.InvalidInput(apperr.Field("roleId", apperr.CodeRequired,
		"Required"))
)

// AssignRole gives a user a role (audit user.role_assigned, webhook
// user.updated) and reports whether it was added; a role already held
// changes nothing. Errors: 400 "Invalid input", 404 "User not found", 404
// "Role not found", 400 "The Owner role cannot be assigned or removed",
// 403 "Only the organisation owner can change the owner's account", 403
// "Cannot grant permissions you do not hold".
func (s *Service) AssignRole(ctx context.Context, actor *access.Principal, userID,
	roleID string) (bool, error) {
	if roleID == "" {
		return false, errRoleIDRequired
	}
	held, err := s.held(ctx, actor)
	if err != nil {
		return false, err
	}
	added := false
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		u, r, err := s.userRole(ctx, tx, actor, userID, roleID)
		if err != nil {
			return err
		}
		if err := access.CheckAssignable(r, held); err != nil || holds(u, r.ID) {
			return err
		}
		// A concurrent request may have added the row since u was read.
		added, err = access.AddLink(ctx, s.db, tx, access.UserRoleLinks, u.ID, r.ID, s.clock(),
			access.ErrRoleNotFound)
		if err != nil || !added {
			return err
		}
		return s.roleChange(ctx, tx, u, r, "user.role_assigned")
	})
	return added, err
}

// userRole reads the user (with the owner guard) and the role.
func (s *Service) userRole(ctx context.Context, tx *sql.Tx, actor *access.Principal,
	userID, roleID string) (*User, *access.Role, error) {
	u, err := s.target(ctx, tx, actor, userID, false)
	if err != nil {
		return nil, nil, err
	}
	r, err := access.ReadRole(ctx, tx, actor.OrganisationID, roleID)
	if err != nil {
		return nil, nil, err
	}
	return u, r, nil
}

func holds(u *User, roleID string) bool {
	for _, r := range u.Roles {
		if r.ID == roleID {
			return true
		}
	}
	return false
}

// roleChange bumps the RBAC version and records a role assignment or
// removal with the user.updated webhook.
func (s *Service) roleChange(ctx context.Context, tx *sql.Tx, u *User, r *access.Role,
	audit string) error {
	if err := access.BumpRBAC(ctx, tx, u.orgID); err != nil {
		return err
	}
	return s.userEvent(ctx, tx, u, audit, "user.updated",
		map[string]any{"roleId": r.ID, "roleSlug": r.Slug},
		map[string]any{"changes": []string{"roles"}})
}

// RemoveRole takes a role from a user (audit user.role_removed, webhook
// user.updated). Errors: 400 "Invalid input", 404 "User not found", 404
// "Role not found", 404 "Role not assigned to user", 400 "The Owner role
// cannot be assigned or removed", 403 "Only the organisation owner can
// change the owner's account".
func (s *Service) RemoveRole(ctx context.Context, actor *access.Principal, userID,
	roleID string) error {
	if roleID == "" {
		return errRoleIDRequired
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		u, r, err := s.userRole(ctx, tx, actor, userID, roleID)
		if err != nil {
			return err
		}
		if r.IsOwner() {
			return access.ErrOwnerAssignment
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM user_roles WHERE user_id = $1
			AND role_id = $2`, u.ID, r.ID)
		if err != nil {
			return fmt.Errorf("remove role: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errRoleNotAssigned
		}
		return s.roleChange(ctx, tx, u, r, "user.role_removed")
	})
}
