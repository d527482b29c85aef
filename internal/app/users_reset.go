package app

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/mail"
	"github.com/cerberus-iam/cerberus/internal/revocation"
)

const usersUsage = `Usage: cerberus users force-password-reset (--all | --org SLUG) [--dry-run]

For every live user (of one organisation with --org): ends their sessions,
flags the account so that login answers "Password reset required", and
queues a password reset email with a new one-hour link (blocked users are
flagged but not mailed). Users already flagged are skipped, so an
interrupted run can be started again. Records system.password_reset_forced.
A running server's mail worker sends the queued emails.

  --all        every organisation
  --org SLUG   one organisation
  --dry-run    print how many users and sessions it would touch
`

var usersCommand = command{
	summary: "force a password reset on every user (incident response)",
	usage:   usersUsage,
	run:     runUsers,
}

func runUsers(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 || args[0] != "force-password-reset" {
		return usageError(e, usersUsage, "users needs force-password-reset")
	}
	var all *bool
	dryRun, slug, code := incidentFlags(e, "users", usersUsage, args[1:],
		func(fs *flag.FlagSet) { all = fs.Bool("all", false, "") })
	if code >= 0 {
		return code
	}
	if *all == (slug != "") {
		return usageError(e, usersUsage, "give exactly one of --all and --org")
	}
	t, ok := openTool(ctx, e)
	if !ok {
		return ExitFailure
	}
	defer t.db.Close()
	orgID, label, ok := t.scope(ctx, e, slug)
	if !ok {
		return ExitFailure
	}
	reset := &passwordReset{db: t.db, outbox: mail.NewOutbox(t.db, t.keys, t.now),
		events: t.events, now: t.now}
	res, err := reset.run(systemContext(ctx), orgID, dryRun)
	verb := "flagged"
	if dryRun {
		verb = "would be flagged (dry run, nothing changed)"
	}
	fmt.Fprintf(e.Stdout, "users of %s %s: %d\nsessions ended: %d\nreset emails queued: %d\n",
		label, verb, res.users, res.sessions, res.mails)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: force password reset: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

// passwordReset forces a password reset on users, a batch of users per
// transaction.
type passwordReset struct {
	db     *db.DB
	outbox *mail.Outbox
	events *event.Recorder
	now    func() time.Time
}

// forcedCounts is what a forced reset did, or would do.
type forcedCounts struct{ users, sessions, mails int64 }

// resetBatch is how many users one transaction flags.
const resetBatch = 100

// target is a user a forced reset flags.
type target struct {
	id, orgID, email, name string
	blocked                bool
}

// run flags every live, not yet flagged user of orgID (all when empty),
// then records system.password_reset_forced; with dryRun it only counts.
func (p *passwordReset) run(ctx context.Context, orgID string,
	dryRun bool) (forcedCounts, error) {
	if dryRun {
		return p.count(ctx, orgID)
	}
	var out forcedCounts
	after := "00000000-0000-0000-0000-000000000000"
	for {
		users, err := p.targets(ctx, orgID, after)
		if err != nil || len(users) == 0 {
			return out, p.finish(ctx, orgID, out, err)
		}
		var batch forcedCounts
		err = p.db.Tx(ctx, func(tx *sql.Tx) error {
			batch = forcedCounts{}
			return p.flag(ctx, tx, users, &batch)
		})
		if err != nil {
			return out, p.finish(ctx, orgID, out, err)
		}
		out.users += batch.users
		out.sessions += batch.sessions
		out.mails += batch.mails
		after = users[len(users)-1].id
	}
}

// finish records the audit event of a run that did anything, and returns
// err.
func (p *passwordReset) finish(ctx context.Context, orgID string, c forcedCounts,
	err error) error {
	if c.users == 0 && err != nil {
		return err
	}
	rerr := p.events.Record(ctx, p.db, event.Event{Type: "system.password_reset_forced",
		OrganisationID: orgID, Metadata: map[string]any{"users": c.users,
			"sessionsEnded": c.sessions, "emailsQueued": c.mails, "complete": err == nil}})
	if err != nil {
		return err
	}
	return rerr
}

// userScope is the condition selecting the users a run flags, with its
// organisation argument appended to args when there is one.
func userScope(orgID string, args []any) (string, []any) {
	cond := ` deleted_at IS NULL AND password_reset_required = FALSE`
	if orgID == "" {
		return cond, args
	}
	args = append(args, orgID)
	return cond + fmt.Sprintf(" AND organisation_id = $%d", len(args)), args
}

func (p *passwordReset) targets(ctx context.Context, orgID, after string) ([]target,
	error) {
	cond, args := userScope(orgID, []any{after})
	rows, err := p.db.QueryContext(ctx, `SELECT id, organisation_id, email, name,
		blocked_at IS NOT NULL FROM users WHERE id > $1 AND`+cond+`
		ORDER BY id LIMIT `+fmt.Sprint(resetBatch), args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []target
	for rows.Next() {
		var u target
		if err := rows.Scan(&u.id, &u.orgID, &u.email, &u.name, &u.blocked); err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// flag resets each user of a batch: flag, sessions, token and email.
func (p *passwordReset) flag(ctx context.Context, tx *sql.Tx, users []target,
	c *forcedCounts) error {
	now := p.now().UTC().Truncate(time.Millisecond)
	for _, u := range users {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_reset_required = TRUE,
			updated_at = $1 WHERE id = $2 AND password_reset_required = FALSE`, now, u.id)
		if err != nil {
			return fmt.Errorf("flag user %s: %w", u.id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // flagged meanwhile
		}
		c.users++
		ended, err := revocation.EndSessions(ctx, tx, u.id, "")
		if err != nil {
			return err
		}
		c.sessions += int64(len(ended))
		if u.blocked {
			continue
		}
		if err := p.mail(ctx, tx, u, now); err != nil {
			return err
		}
		c.mails++
	}
	return nil
}

// mail issues a reset token for u and queues its email.
func (p *passwordReset) mail(ctx context.Context, tx *sql.Tx, u target, now time.Time) error {
	token, expires, err := identity.IssueAccountToken(ctx, tx, u.id,
		identity.PurposePasswordReset, now)
	if err != nil {
		return err
	}
	return p.outbox.Enqueue(ctx, tx, mail.Mail{OrganisationID: u.orgID, To: u.email,
		Template: mail.TemplatePasswordReset, Data: map[string]any{
			mail.DataToken: token, mail.DataName: u.name, mail.DataExpiresAt: expires}})
}

// count is the dry run: the users a run would flag, their sessions and
// the emails it would queue.
func (p *passwordReset) count(ctx context.Context, orgID string) (forcedCounts, error) {
	var c forcedCounts
	cond, args := userScope(orgID, nil)
	err := p.db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(*) - COUNT(blocked_at)
		FROM users WHERE`+cond, args...).Scan(&c.users, &c.mails)
	if err != nil {
		return c, fmt.Errorf("count users: %w", err)
	}
	err = p.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE user_id IN
		(SELECT id FROM users WHERE`+cond+`)`, args...).Scan(&c.sessions)
	if err != nil {
		return c, fmt.Errorf("count sessions: %w", err)
	}
	return c, nil
}
