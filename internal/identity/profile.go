package identity

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

// Profile is the signed-in user as /v1/me/profile shows it.
type Profile struct {
	ID                    string              `json:"id"`
	Email                 string              `json:"email"`
	Name                  string              `json:"name"`
	FirstName             string              `json:"firstName"`
	LastName              string              `json:"lastName"`
	EmailVerified         bool                `json:"emailVerified"`
	Phone                 *string             `json:"phone"`
	MFAEnabled            bool                `json:"mfaEnabled"`
	MFAEnrollmentRequired bool                `json:"mfaEnrollmentRequired"`
	Organisation          OrganisationSummary `json:"organisation"`
	Roles                 []RoleRef           `json:"roles"`
	// Permissions is the effective set: the union over the user's roles,
	// wildcards as held.
	Permissions []string `json:"permissions"`
}

// RoleRef is the short form of a role.
type RoleRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// Profile returns the profile of the signed-in user; restricted tells
// whether the session is an MFA-enrollment one.
func (s *Service) Profile(ctx context.Context, orgID, userID string,
	restricted bool) (*Profile, error) {
	u, err := s.sessionUser(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	return s.profile(ctx, u, restricted)
}

func (s *Service) profile(ctx context.Context, u *user, restricted bool) (*Profile, error) {
	org, err := orgByID(ctx, s.db, u.OrganisationID)
	if err != nil || org == nil {
		return nil, firstErr(err, ErrInvalidSession)
	}
	roles, err := userRoles(ctx, s.db, u.OrganisationID, u.ID)
	if err != nil {
		return nil, err
	}
	perms, err := s.authz.Permissions(ctx, u.OrganisationID, u.ID)
	if err != nil {
		return nil, err
	}
	if perms == nil {
		perms = []string{}
	}
	return &Profile{ID: u.ID, Email: u.Email, Name: u.Name, FirstName: u.FirstName,
		LastName: u.LastName, EmailVerified: u.EmailVerifiedAt != nil, Phone: u.Phone,
		MFAEnabled: u.MFAEnabled, MFAEnrollmentRequired: restricted,
		Organisation: org.summary(), Roles: roles, Permissions: perms}, nil
}

// userRoles lists the roles a user holds, by name.
func userRoles(ctx context.Context, q db.Querier, orgID, userID string) ([]RoleRef, error) {
	rows, err := q.QueryContext(ctx, `SELECT r.id, r.name, r.slug FROM user_roles ur
		JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = $1 AND r.organisation_id = $2
		ORDER BY r.name, r.id`, userID, orgID)
	if err != nil {
		return nil, fmt.Errorf("read user roles: %w", err)
	}
	defer rows.Close()
	out := []RoleRef{}
	for rows.Next() {
		var r RoleRef
		if err := rows.Scan(&r.ID, &r.Name, &r.Slug); err != nil {
			return nil, fmt.Errorf("scan user role: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ProfilePatch is a change to the signed-in user's profile. Absent members
// stay as they are; Phone may be null to clear it.
type ProfilePatch struct {
	FirstName patch.Field[string]
	LastName  patch.Field[string]
	Phone     patch.Field[string]
}

// UpdateProfile applies p (names 1–100 characters, phone E.164 or null),
// recomputes name and records user.updated (audit and webhook) naming the
// changed fields. Error: 400 "Invalid input".
func (s *Service) UpdateProfile(ctx context.Context, orgID, userID string,
	restricted bool, p ProfilePatch) (*Profile, error) {
	u, err := s.sessionUser(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	changes, err := applyProfile(u, p)
	if err != nil {
		return nil, err
	}
	if len(changes) > 0 {
		if err := s.storeProfile(ctx, u, changes); err != nil {
			return nil, err
		}
	}
	return s.profile(ctx, u, restricted)
}

// applyProfile checks p and applies it to u, returning the changed fields.
func applyProfile(u *user, p ProfilePatch) ([]string, error) {
	var c checker
	var changes []string
	for _, f := range []struct {
		name string
		in   patch.Field[string]
		dst  *string
	}{{"firstName", p.FirstName, &u.FirstName}, {"lastName", p.LastName, &u.LastName}} {
		if !f.in.Set {
			continue
		}
		if f.in.Null {
			c.Add(f.name, apperr.CodeInvalidType, "Expected a string")
			continue
		}
		if v := c.Text(f.name, f.in.Value, maxNameLength); v != *f.dst {
			*f.dst = v
			changes = append(changes, f.name)
		}
	}
	if p.Phone.Set {
		changes = applyPhone(&c, u, p.Phone, changes)
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	u.Name = fullName(u.FirstName, u.LastName)
	return changes, nil
}

func applyPhone(c *checker, u *user, in patch.Field[string], changes []string) []string {
	if in.Null {
		if u.Phone != nil {
			u.Phone = nil
			changes = append(changes, "phone")
		}
		return changes
	}
	c.phone("phone", in.Value)
	if u.Phone == nil || *u.Phone != in.Value {
		v := in.Value
		u.Phone = &v
		changes = append(changes, "phone")
	}
	return changes
}

func (s *Service) storeProfile(ctx context.Context, u *user, changes []string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		_, err := tx.ExecContext(ctx, `UPDATE users SET first_name = $1, last_name = $2,
			name = $3, phone = $4, updated_at = $5 WHERE id = $6 AND organisation_id = $7`,
			u.FirstName, u.LastName, u.Name, u.Phone, now, u.ID, u.OrganisationID)
		if err != nil {
			return fmt.Errorf("update profile: %w", err)
		}
		return s.events.Record(ctx, tx, event.Event{Type: "user.updated",
			OrganisationID: u.OrganisationID, UserID: u.ID, Actor: userActor(u.ID),
			ResourceType: "user", ResourceID: u.ID,
			Metadata: map[string]any{"changes": changes},
			Webhooks: []event.Webhook{userUpdated(u, changes...)}})
	})
}
