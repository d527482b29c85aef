package admin

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
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/mail"
)

// Invitation is an invitation as the administration API shows it; its
// token is never shown.
type Invitation struct {
	ID           string            `json:"id"`
	Email        string            `json:"email"`
	RoleID       *string           `json:"roleId"`
	TeamIDs      []string          `json:"teamIds"`
	Status       string            `json:"status"`
	InvitedByID  *string           `json:"invitedById"`
	InvitedBy    *Inviter          `json:"invitedBy"`
	ExpiresAt    access.Timestamp  `json:"expiresAt"`
	AcceptedAt   *access.Timestamp `json:"acceptedAt"`
	AcceptedByID *string           `json:"acceptedById"`
	CancelledAt  *access.Timestamp `json:"cancelledAt"`
	CreatedAt    access.Timestamp  `json:"createdAt"`
	UpdatedAt    access.Timestamp  `json:"updatedAt"`

	orgID  string
	stored string // the status column: pending, accepted or cancelled
	days   int
}

// Inviter is the user who sent an invitation.
type Inviter struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// Invitation statuses; expired is a pending invitation past its expiry.
const (
	StatusPending   = "pending"
	StatusAccepted  = "accepted"
	StatusExpired   = "expired"
	StatusCancelled = "cancelled"
)

// InvitationSorts maps the sort fields of the invitation list to their
// columns.
var InvitationSorts = map[string]string{"createdAt": "i.created_at",
	"expiresAt": "i.expires_at", "email": "i.email"}

// InvitationQuery selects invitations: a page, a status and an email.
type InvitationQuery struct {
	Page   access.Page
	Status string
	Email  string
}

// InvitationCreate is the body of an invitation. ExpiresInDays nil means
// seven days.
type InvitationCreate struct {
	Email         string   `json:"email"`
	RoleID        string   `json:"roleId"`
	TeamIDs       []string `json:"teamIds"`
	ExpiresInDays *int     `json:"expiresInDays"`
}

// Limits and errors of invitations.
const (
	defaultInvitationDays = 7
	maxInvitationDays     = 30
)

var (
	errInvitationNotFound = apperr.NotFoundf("Invitation")
	errPendingInvitation  = apperr.New(apperr.Conflict,
		"A pending invitation already exists for this email")
	errNotPending = apperr.New(apperr.Conflict, "Invitation is no longer pending")
	errAccepted   = apperr.New(apperr.Conflict, "Invitation has already been accepted")
)

const invitationColumns = `i.id, i.organisation_id, i.email, i.role_id, i.team_ids,
	i.status, i.invited_by_id, i.expires_in_days, i.expires_at, i.accepted_at,
	i.accepted_by_id, i.cancelled_at, i.created_at, i.updated_at, u.id, u.email, u.name`

const invitationFrom = ` FROM invitations i LEFT JOIN users u ON u.id = i.invited_by_id`

func scanInvitation(sc interface{ Scan(...any) error }, now time.Time) (*Invitation,
	error) {
	inv := &Invitation{TeamIDs: []string{}}
	var expires, created, updated time.Time
	var accepted, cancelled *time.Time
	var invID, invEmail, invName sql.NullString
	err := sc.Scan(&inv.ID, &inv.orgID, &inv.Email, &inv.RoleID, db.JSON(&inv.TeamIDs),
		&inv.stored, &inv.InvitedByID, &inv.days, db.Time(&expires), db.NullTime(&accepted),
		&inv.AcceptedByID, db.NullTime(&cancelled), db.Time(&created), db.Time(&updated),
		&invID, &invEmail, &invName)
	if err != nil {
		return nil, err
	}
	inv.ExpiresAt, inv.CreatedAt = access.Stamp(expires), access.Stamp(created)
	inv.UpdatedAt = access.Stamp(updated)
	inv.AcceptedAt, inv.CancelledAt = access.StampPtr(accepted), access.StampPtr(cancelled)
	if invID.Valid {
		inv.InvitedBy = &Inviter{ID: invID.String, Email: invEmail.String,
			Name: invName.String}
	}
	inv.Status = inv.stored
	if inv.stored == StatusPending && !now.Before(expires) {
		inv.Status = StatusExpired
	}
	return inv, nil
}

// ListInvitations returns a page of the organisation's invitations and
// their total. Error: 400 "Invalid input" for an unknown status.
func (s *Service) ListInvitations(ctx context.Context, orgID string,
	q InvitationQuery) ([]Invitation, int, error) {
	now := s.clock()
	where := ` WHERE i.organisation_id = $1`
	args := []any{orgID}
	switch q.Status {
	case "":
	case StatusPending:
		where += ` AND i.status = 'pending' AND i.expires_at > $2`
		args = append(args, now)
	case StatusExpired:
		where += ` AND i.status = 'pending' AND i.expires_at <= $2`
		args = append(args, now)
	case StatusAccepted, StatusCancelled:
		where += ` AND i.status = $2`
		args = append(args, q.Status)
	default:
		return nil, 0, apperr.InvalidInput(apperr.Field("status", apperr.CodeInvalidValue,
			"Must be pending, accepted, expired or cancelled"))
	}
	if q.Email != "" {
		args = append(args, identity.NormalizeEmail(q.Email))
		where += fmt.Sprintf(` AND i.email = $%d`, len(args))
	}
	var total int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM invitations i`+where,
		args...).Scan(&total)
	if err != nil {
		return nil, 0, fmt.Errorf("count invitations: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+invitationColumns+invitationFrom+where+
		q.Page.OrderBy(InvitationSorts, "i.id")+fmt.Sprintf(" LIMIT %d OFFSET %d",
		q.Page.Limit, q.Page.Offset()), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list invitations: %w", err)
	}
	defer rows.Close()
	out := []Invitation{}
	for rows.Next() {
		inv, err := scanInvitation(rows, now)
		if err != nil {
			return nil, 0, fmt.Errorf("scan invitation: %w", err)
		}
		out = append(out, *inv)
	}
	return out, total, rows.Err()
}

func readInvitation(ctx context.Context, q db.Querier, orgID, id string,
	now time.Time) (*Invitation, error) {
	if !db.ValidID(id) {
		return nil, errInvitationNotFound
	}
	inv, err := scanInvitation(q.QueryRowContext(ctx, `SELECT `+invitationColumns+
		invitationFrom+` WHERE i.id = $1 AND i.organisation_id = $2`, id, orgID), now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errInvitationNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read invitation: %w", err)
	}
	return inv, nil
}

// CreateInvitation invites an email address to the actor's organisation
// with a role the actor may grant (never Owner) and optional teams, for
// 1–30 days (default 7): a token whose digest is stored, the invitation
// email, audit and webhook invitation.created. Errors: 400 "Invalid
// input", 400 "The Owner role cannot be assigned or removed", 403 "Cannot
// grant permissions you do not hold", 409 "Email already registered", 409
// "A pending invitation already exists for this email".
func (s *Service) CreateInvitation(ctx context.Context, actor *access.Principal,
	in InvitationCreate) (*Invitation, error) {
	teams, err := s.checkInvitation(ctx, actor, &in)
	if err != nil {
		return nil, err
	}
	var inv *Invitation
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		orgID := actor.OrganisationID
		if err := s.lockInvitee(ctx, tx, orgID, in.Email, ""); err != nil {
			return err
		}
		inv, err = s.insertInvitation(ctx, tx, actor, in, teams)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.kick()
	return inv, nil
}

// checkInvitation validates a body, the role guard and the address.
func (s *Service) checkInvitation(ctx context.Context, actor *access.Principal,
	in *InvitationCreate) ([]string, error) {
	var c checker
	in.Email = c.email("email", in.Email)
	role := s.invitedRole(ctx, &c, actor.OrganisationID, in.RoleID)
	teams, err := teamsByID(ctx, s.db, &c, actor.OrganisationID, in.TeamIDs)
	if err != nil {
		return nil, err
	}
	if d := in.ExpiresInDays; d != nil && (*d < 1 || *d > maxInvitationDays) {
		c.Add("expiresInDays", apperr.CodeInvalidValue, "Must be from 1 to 30")
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	if role.err != nil {
		return nil, role.err
	}
	held, err := s.held(ctx, actor)
	if err != nil {
		return nil, err
	}
	if err := access.CheckAssignable(role.role, held); err != nil {
		return nil, err
	}
	return teams, s.checkInvitee(ctx, s.db, actor.OrganisationID, in.Email, "")
}

// roleLookup is a role resolved for an invitation, or why it cannot be.
type roleLookup struct {
	role *access.Role
	err  error
}

func (s *Service) invitedRole(ctx context.Context, c *checker, orgID, id string) roleLookup {
	if id == "" {
		c.Add("roleId", apperr.CodeRequired, "Required")
		return roleLookup{}
	}
	r, err := access.ReadRole(ctx, s.db, orgID, id)
	if errors.Is(err, access.ErrRoleNotFound) {
		c.Add("roleId", apperr.CodeInvalidValue, "Unknown role")
		return roleLookup{}
	}
	return roleLookup{role: r, err: err}
}

// checkInvitee refuses a registered address or one with another pending
// invitation in the organisation (except).
func (s *Service) checkInvitee(ctx context.Context, q db.Querier, orgID, email,
	except string) error {
	if taken, err := emailTaken(ctx, q, email); err != nil || taken {
		return firstErr(err, errEmailRegistered)
	}
	pending, err := rowExists(ctx, q, `SELECT 1 FROM invitations WHERE organisation_id = $1
		AND email = $2 AND status = 'pending' AND expires_at > $3 AND id <> $4`, orgID,
		email, s.clock(), exceptID(except))
	if err != nil || pending {
		return firstErr(err, errPendingInvitation)
	}
	return nil
}

// lockInvitee checks the address again inside tx, holding a lock on it, so
// that two concurrent requests cannot both leave a pending invitation for
// one address.
func (s *Service) lockInvitee(ctx context.Context, tx *sql.Tx, orgID, email,
	except string) error {
	if err := s.db.LockTx(ctx, tx, "invitation:"+orgID+":"+email); err != nil {
		return err
	}
	return s.checkInvitee(ctx, tx, orgID, email, except)
}

// exceptID stands in for "no invitation to skip": an id no row has.
func exceptID(id string) string {
	if id == "" {
		return "00000000-0000-0000-0000-000000000000"
	}
	return id
}

func (s *Service) insertInvitation(ctx context.Context, tx *sql.Tx, actor *access.Principal,
	in InvitationCreate, teams []string) (*Invitation, error) {
	now := s.clock()
	days := defaultInvitationDays
	if in.ExpiresInDays != nil {
		days = *in.ExpiresInDays
	}
	if teams == nil {
		teams = []string{}
	}
	token, id := crypto.NewToken(), db.NewID()
	_, err := tx.ExecContext(ctx, `INSERT INTO invitations (id, organisation_id, email,
		role_id, team_ids, token_hash, status, invited_by_id, expires_in_days, expires_at,
		created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9,
		$10, $10)`, id, actor.OrganisationID, in.Email, in.RoleID, db.MustJSON(teams),
		crypto.HashToken(token), nullable(inviterID(actor)), days,
		now.AddDate(0, 0, days), now)
	if err != nil {
		return nil, fmt.Errorf("create invitation: %w", err)
	}
	inv, err := readInvitation(ctx, tx, actor.OrganisationID, id, now)
	if err != nil {
		return nil, err
	}
	if err := s.invitationMail(ctx, tx, inv, token); err != nil {
		return nil, err
	}
	return inv, s.events.Record(ctx, tx, event.Event{Type: "invitation.created",
		OrganisationID: inv.orgID, ResourceType: "invitation", ResourceID: inv.ID,
		Metadata: map[string]any{"email": inv.Email, "roleId": inv.RoleID},
		Webhooks: []event.Webhook{{Type: "invitation.created",
			Data: map[string]any{"invitation": inv.ref()}}}})
}

// inviterID is the user behind the actor, "" for client tokens.
func inviterID(p *access.Principal) string {
	if p.Kind == access.KindClientToken {
		return ""
	}
	return p.UserID
}

func (inv *Invitation) ref() map[string]any {
	return map[string]any{"id": inv.ID, "email": inv.Email, "roleId": inv.RoleID,
		"expiresAt": inv.ExpiresAt}
}

// invitationMail queues the invitation email carrying token.
func (s *Service) invitationMail(ctx context.Context, q db.Querier, inv *Invitation,
	token string) error {
	var orgName string
	err := q.QueryRowContext(ctx, `SELECT name FROM organisations WHERE id = $1`,
		inv.orgID).Scan(&orgName)
	if err != nil {
		return fmt.Errorf("read organisation name: %w", err)
	}
	data := map[string]any{mail.DataToken: token, mail.DataOrganisationName: orgName,
		mail.DataExpiresAt: inv.ExpiresAt.Time()}
	if inv.InvitedBy != nil {
		data[mail.DataInviterName] = inv.InvitedBy.Name
	}
	return s.outbox.Enqueue(ctx, q, mail.Mail{OrganisationID: inv.orgID, To: inv.Email,
		Template: mail.TemplateInvitation, Data: data})
}

// ResendInvitation gives a pending or expired invitation a new token that
// replaces the old one and a new expiry (now plus its initial duration),
// and sends it again (audit invitation.resent). Errors: 404 "Invitation
// not found", 409 "Invitation is no longer pending", 409 "Email already
// registered", 409 "A pending invitation already exists for this email".
func (s *Service) ResendInvitation(ctx context.Context, orgID, id string) (*Invitation,
	error) {
	var inv *Invitation
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		old, err := readInvitation(ctx, tx, orgID, id, now)
		if err != nil {
			return err
		}
		if old.stored != StatusPending {
			return errNotPending
		}
		if err := s.lockInvitee(ctx, tx, orgID, old.Email, old.ID); err != nil {
			return err
		}
		inv, err = s.reissue(ctx, tx, old, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.kick()
	return inv, nil
}

func (s *Service) reissue(ctx context.Context, tx *sql.Tx, old *Invitation,
	now time.Time) (*Invitation, error) {
	token := crypto.NewToken()
	res, err := tx.ExecContext(ctx, `UPDATE invitations SET token_hash = $1, expires_at = $2,
		updated_at = $3 WHERE id = $4 AND organisation_id = $5 AND status = 'pending'`,
		crypto.HashToken(token), now.AddDate(0, 0, old.days), now, old.ID, old.orgID)
	if err != nil {
		return nil, fmt.Errorf("resend invitation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, errNotPending // accepted or cancelled since old was read
	}
	inv, err := readInvitation(ctx, tx, old.orgID, old.ID, now)
	if err != nil {
		return nil, err
	}
	if err := s.invitationMail(ctx, tx, inv, token); err != nil {
		return nil, err
	}
	return inv, s.events.Record(ctx, tx, event.Event{Type: "invitation.resent",
		OrganisationID: inv.orgID, ResourceType: "invitation", ResourceID: inv.ID,
		Metadata: map[string]any{"email": inv.Email}})
}

// CancelInvitation cancels a pending or expired invitation (audit
// invitation.cancelled); cancelling a cancelled one changes nothing.
// Errors: 404 "Invitation not found", 409 "Invitation has already been
// accepted".
func (s *Service) CancelInvitation(ctx context.Context, orgID, id string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		inv, err := readInvitation(ctx, tx, orgID, id, now)
		if err != nil {
			return err
		}
		switch inv.stored {
		case StatusCancelled:
			return nil
		case StatusAccepted:
			return errAccepted
		}
		// Only a row still pending changes: one accepted or cancelled
		// since inv was read keeps its status.
		res, err := tx.ExecContext(ctx, `UPDATE invitations SET status = 'cancelled',
			cancelled_at = $1, updated_at = $1 WHERE id = $2 AND organisation_id = $3
			AND status = 'pending'`, now, inv.ID, orgID)
		if err != nil {
			return fmt.Errorf("cancel invitation: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.cancelledMeanwhile(ctx, tx, orgID, id, now)
		}
		return s.events.Record(ctx, tx, event.Event{Type: "invitation.cancelled",
			OrganisationID: orgID, ResourceType: "invitation", ResourceID: inv.ID,
			Metadata: map[string]any{"email": inv.Email}})
	})
}

// cancelledMeanwhile answers a cancellation that found the invitation no
// longer pending: nothing when another request cancelled it, 409 when it
// was accepted.
func (s *Service) cancelledMeanwhile(ctx context.Context, tx *sql.Tx, orgID, id string,
	now time.Time) error {
	inv, err := readInvitation(ctx, tx, orgID, id, now)
	if err != nil {
		return err
	}
	if inv.stored == StatusAccepted {
		return errAccepted
	}
	return nil
}
