package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/mail"
)

// Invitation statuses stored in invitations.status.
const (
	invitationPending   = "pending"
	invitationAccepted  = "accepted"
	invitationCancelled = "cancelled"
)

// invitation is a row of invitations with its organisation's name.
type invitation struct {
	ID, OrganisationID, OrganisationName, Email, Status string
	RoleID                                              *string
	TeamIDs                                             []string
	ExpiresAt                                           time.Time
}

// invitationByToken finds the invitation of a token in a live
// organisation; nil when none.
func invitationByToken(ctx context.Context, q db.Querier, token string) (*invitation,
	error) {
	if token == "" {
		return nil, nil
	}
	var inv invitation
	err := q.QueryRowContext(ctx, `SELECT i.id, i.organisation_id, o.name, i.email,
		i.status, i.role_id, i.team_ids, i.expires_at FROM invitations i
		JOIN organisations o ON o.id = i.organisation_id
		WHERE i.token_hash = $1 AND o.deleted_at IS NULL`, crypto.HashToken(token)).Scan(
		&inv.ID, &inv.OrganisationID, &inv.OrganisationName, &inv.Email, &inv.Status,
		&inv.RoleID, db.JSON(&inv.TeamIDs), db.Time(&inv.ExpiresAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read invitation: %w", err)
	}
	return &inv, nil
}

// open reports a pending invitation before its expiry.
func (inv *invitation) open(now time.Time) bool {
	return inv.Status == invitationPending && now.Before(inv.ExpiresAt)
}

// InvitationInfo is what an invitee sees before accepting.
type InvitationInfo struct {
	Email            string           `json:"email"`
	OrganisationName string           `json:"organisationName"`
	ExpiresAt        access.Timestamp `json:"expiresAt"`
}

// Invitation describes the pending invitation of a token: 404 "Invitation
// not found or has expired" for unknown, expired, accepted or cancelled
// ones.
func (s *Service) Invitation(ctx context.Context, token string) (*InvitationInfo, error) {
	inv, err := invitationByToken(ctx, s.db, token)
	if err != nil {
		return nil, err
	}
	if inv == nil || !inv.open(s.clock()) {
		return nil, errInvitationNotFound
	}
	return &InvitationInfo{Email: inv.Email, OrganisationName: inv.OrganisationName,
		ExpiresAt: access.Stamp(inv.ExpiresAt)}, nil
}

// AcceptInput accepts an invitation by creating the invitee's account.
type AcceptInput struct {
	Token     string
	Email     string
	FirstName string
	LastName  string
	Password  string
}

// AcceptResult is the account created from an invitation.
type AcceptResult struct {
	User         UserSummary         `json:"user"`
	Organisation OrganisationSummary `json:"organisation"`
}

// AcceptInvitation creates the invitee's account (email verified, the
// invited role or the organisation's default role if it was deleted, the
// invited teams that still exist), marks the invitation accepted and
// queues a welcome email, with audit invitation.accepted and user.created
// and their webhooks. No session is created. Errors: 400 "Invalid input",
// 404 "Invitation not found or has expired", 400 "Invitation has been
// cancelled", 409 "Invitation has already been accepted", 400 "Email does
// not match invitation", 400 "Password too weak", 409 "Email already
// registered".
func (s *Service) AcceptInvitation(ctx context.Context, in AcceptInput) (*AcceptResult,
	error) {
	in, err := checkAccept(in)
	if err != nil {
		return nil, err
	}
	inv, org, err := s.acceptable(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := s.checkInviteePassword(ctx, org, in.Password); err != nil {
		return nil, err
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	var u *user
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		u, err = s.acceptTx(ctx, tx, inv, org, in, hash)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.kick()
	return &AcceptResult{User: u.summary(), Organisation: org.summary()}, nil
}

func checkAccept(in AcceptInput) (AcceptInput, error) {
	var c checker
	c.Secret("token", in.Token, maxTokenLength)
	in.Email = c.email("email", in.Email)
	in.FirstName = c.Text("firstName", in.FirstName, maxNameLength)
	in.LastName = c.Text("lastName", in.LastName, maxNameLength)
	if in.Password == "" {
		c.Add("password", apperr.CodeRequired, "Required")
	}
	return in, c.Err()
}

// acceptable checks the invitation's state and address and that the
// address is free.
func (s *Service) acceptable(ctx context.Context, in AcceptInput) (*invitation,
	*organisation, error) {
	inv, err := invitationByToken(ctx, s.db, in.Token)
	if err != nil {
		return nil, nil, err
	}
	if err := invitationState(inv, s.clock()); err != nil {
		return nil, nil, err
	}
	if NormalizeEmail(inv.Email) != in.Email {
		return nil, nil, errInvitationEmail
	}
	org, err := orgByID(ctx, s.db, inv.OrganisationID)
	if err != nil || org == nil {
		return nil, nil, firstErr(err, errInvitationNotFound)
	}
	taken, err := emailTaken(ctx, s.db, in.Email)
	if err != nil {
		return nil, nil, err
	}
	if taken {
		return nil, nil, errEmailRegistered
	}
	return inv, org, nil
}

// invitationState maps an invitation that cannot be accepted to its error.
func invitationState(inv *invitation, now time.Time) error {
	switch {
	case inv == nil:
		return errInvitationNotFound
	case inv.Status == invitationCancelled:
		return errInvitationCancelled
	case inv.Status == invitationAccepted:
		return errInvitationAccepted
	case !inv.open(now):
		return errInvitationNotFound
	}
	return nil
}

func (s *Service) checkInviteePassword(ctx context.Context, org *organisation,
	password string) error {
	policy, err := org.Policy()
	if err != nil {
		return err
	}
	return s.checkPassword(ctx, policy, "", passwordField, password)
}

// acceptTx creates the account and closes the invitation.
func (s *Service) acceptTx(ctx context.Context, tx *sql.Tx, inv *invitation,
	org *organisation, in AcceptInput, hash string) (*user, error) {
	now := s.clock()
	u, err := s.insertUser(ctx, tx, newUser{org: org.ID, email: in.Email,
		first: in.FirstName, last: in.LastName, hash: hash, verified: &now}, now)
	if err != nil {
		return nil, err
	}
	if err := closeInvitation(ctx, tx, inv, in.Token, u.ID, now); err != nil {
		return nil, err
	}
	// Role deletions and default-role moves wait for this transaction, so
	// the role read below is still there when it is assigned.
	if err := access.LockDefaultRole(ctx, s.db, tx, inv.OrganisationID); err != nil {
		return nil, err
	}
	roleID, err := grantInvitedAccess(ctx, tx, inv, u.ID, now)
	if err != nil {
		return nil, err
	}
	err = s.outbox.Enqueue(ctx, tx, mail.Mail{OrganisationID: org.ID, To: u.Email,
		Template: mail.TemplateWelcome, Data: map[string]any{
			mail.DataOrganisationName: org.Name, mail.DataName: u.Name}})
	if err != nil {
		return nil, err
	}
	return u, s.recordAcceptance(ctx, tx, inv, u, roleID)
}

// closeInvitation marks a still pending invitation accepted, provided
// token is still its token: a resend replaces the token, and the one it
// replaced must stop working even when the two requests cross.
func closeInvitation(ctx context.Context, tx *sql.Tx, inv *invitation, token, userID string,
	now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE invitations SET status = $1, accepted_at = $2,
		accepted_by_id = $3, updated_at = $2 WHERE id = $4 AND organisation_id = $5
		AND status = $6 AND expires_at > $2 AND token_hash = $7`, invitationAccepted, now,
		userID, inv.ID, inv.OrganisationID, invitationPending, crypto.HashToken(token))
	if err != nil {
		return fmt.Errorf("accept invitation: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errInvitationAccepted
	}
	return nil
}

// grantInvitedAccess gives the new user the invited role (or the default
// role if it is gone) and the invited teams that still exist, and returns
// the role given ("" when the organisation has none to give).
func grantInvitedAccess(ctx context.Context, tx *sql.Tx, inv *invitation, userID string,
	now time.Time) (string, error) {
	roleID, err := invitedRole(ctx, tx, inv)
	if err != nil {
		return "", err
	}
	if roleID != "" {
		if err := assignRole(ctx, tx, userID, roleID, now); err != nil {
			return "", err
		}
	}
	for _, teamID := range inv.TeamIDs {
		if err := joinTeam(ctx, tx, inv.OrganisationID, teamID, userID, now); err != nil {
			return "", err
		}
	}
	return roleID, access.BumpRBAC(ctx, tx, inv.OrganisationID)
}

// invitedRole returns the invitation's role if it still exists (and is not
// Owner), otherwise the organisation's default role, or "".
func invitedRole(ctx context.Context, q db.Querier, inv *invitation) (string, error) {
	var id string
	if inv.RoleID != nil && db.ValidID(*inv.RoleID) {
		err := q.QueryRowContext(ctx, `SELECT id FROM roles WHERE id = $1
			AND organisation_id = $2 AND slug <> $3`, *inv.RoleID, inv.OrganisationID,
			access.RoleOwner).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("read invited role: %w", err)
		}
	}
	err := q.QueryRowContext(ctx, `SELECT id FROM roles WHERE organisation_id = $1
		AND is_default = TRUE ORDER BY created_at, id LIMIT 1`, inv.OrganisationID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read default role: %w", err)
	}
	return id, nil
}

// joinTeam adds the user to a team of the organisation if it still exists.
func joinTeam(ctx context.Context, q db.Querier, orgID, teamID, userID string,
	now time.Time) error {
	if !db.ValidID(teamID) {
		return nil
	}
	_, err := q.ExecContext(ctx, `INSERT INTO team_members (id, team_id, user_id,
		created_at) SELECT $1, id, $2, $3 FROM teams WHERE id = $4 AND organisation_id = $5`,
		db.NewID(), userID, now, teamID, orgID)
	if err != nil {
		return fmt.Errorf("join invited team: %w", err)
	}
	return nil
}

func (s *Service) recordAcceptance(ctx context.Context, tx *sql.Tx, inv *invitation,
	u *user, roleID string) error {
	ref := map[string]any{"id": inv.ID, "email": inv.Email, "roleId": inv.RoleID,
		"expiresAt": access.Stamp(inv.ExpiresAt)}
	err := s.events.Record(ctx, tx, event.Event{Type: "invitation.accepted",
		OrganisationID: u.OrganisationID, UserID: u.ID, Actor: userActor(u.ID),
		ResourceType: "invitation", ResourceID: inv.ID,
		Metadata: map[string]any{"roleId": nullable(roleID)},
		Webhooks: []event.Webhook{{Type: "invitation.accepted", Data: map[string]any{
			"invitation": ref, "user": u.summary()}}}})
	if err != nil {
		return err
	}
	return s.events.Record(ctx, tx, event.Event{Type: "user.created",
		OrganisationID: u.OrganisationID, UserID: u.ID, Actor: userActor(u.ID),
		ResourceType: "user", ResourceID: u.ID,
		Metadata: map[string]any{"invitationId": inv.ID},
		Webhooks: []event.Webhook{{Type: "user.created", Data: map[string]any{
			"user": u.summary()}}}})
}
