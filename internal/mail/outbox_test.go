package mail

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

// outboxRecord is a row of email_outbox as the tests read it.
type outboxRecord struct {
	recipient, template, payload, status string
	attempts                             int
	nextAttemptAt, lockedUntil, sentAt   *time.Time
	lastError                            sql.NullString
}

func readOutbox(t *testing.T, d *db.DB, recipient string) outboxRecord {
	t.Helper()
	var r outboxRecord
	err := d.QueryRowContext(context.Background(), `SELECT recipient, template,
		payload, status, attempts, next_attempt_at, locked_until, sent_at,
		last_error FROM email_outbox WHERE recipient = $1`, recipient).Scan(
		&r.recipient, &r.template, &r.payload, &r.status, &r.attempts,
		db.NullTime(&r.nextAttemptAt), db.NullTime(&r.lockedUntil),
		db.NullTime(&r.sentAt), &r.lastError)
	if err != nil {
		t.Fatalf("read outbox row of %s: %v", recipient, err)
	}
	return r
}

func countOutbox(t *testing.T, d *db.DB) int {
	t.Helper()
	var n int
	err := d.QueryRowContext(context.Background(),
		"SELECT COUNT(*) FROM email_outbox").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEnqueueSealsThePayload(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		c, sealer := newClock(), newTestSealer(t)
		o := NewOutbox(d, sealer, c.Now)
		err := d.Tx(context.Background(), func(tx *sql.Tx) error {
			return o.Enqueue(context.Background(), tx, Mail{
				To: "ada@example.test", Template: TemplatePasswordReset,
				Data: map[string]any{"token": "secret-reset-token"},
			})
		})
		if err != nil {
			t.Fatalf("enqueue: %v", err)
		}
		r := readOutbox(t, d, "ada@example.test")
		if r.status != StatusPending || r.attempts != 0 ||
			r.template != TemplatePasswordReset {
			t.Errorf("row = %+v, want a pending password-reset row", r)
		}
		if r.nextAttemptAt == nil || !r.nextAttemptAt.Equal(c.Now()) {
			t.Errorf("next_attempt_at = %v, want %v", r.nextAttemptAt, c.Now())
		}
		if strings.Contains(r.payload, "secret-reset-token") {
			t.Error("payload holds the token in clear")
		}
		data, err := openPayload(sealer, r.payload)
		if err != nil || data["token"] != "secret-reset-token" {
			t.Errorf("opened payload = %v, %v", data, err)
		}
	})
}

func TestEnqueueRefusesBadMail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		o := NewOutbox(d, newTestSealer(t), newClock().Now)
		ctx := context.Background()
		err := o.Enqueue(ctx, nil, Mail{To: "a@example.test", Template: "promo"})
		if !errors.Is(err, ErrUnknownTemplate) {
			t.Errorf("unknown template: got %v, want ErrUnknownTemplate", err)
		}
		bad := []Mail{
			{To: " ", Template: TemplateWelcome,
				Data: map[string]any{"organisationName": "Acme"}},
			{To: "a@example.test", Template: TemplateVerifyEmail},
		}
		for _, m := range bad {
			if err := o.Enqueue(ctx, nil, m); err == nil {
				t.Errorf("Enqueue(%+v) succeeded", m)
			}
		}
		if n := countOutbox(t, d); n != 0 {
			t.Errorf("refused mails left %d rows", n)
		}
	})
}

func TestEnqueueRollsBackWithTheTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		o := NewOutbox(d, newTestSealer(t), newClock().Now)
		ctx := context.Background()
		errAbort := errors.New("change failed")
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			if err := o.Enqueue(ctx, tx, Mail{To: "a@example.test",
				Template: TemplateVerifyEmail,
				Data:     map[string]any{"token": "t"}}); err != nil {
				return err
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("Tx = %v, want the abort error", err)
		}
		if n := countOutbox(t, d); n != 0 {
			t.Errorf("rolled back enqueue left %d rows", n)
		}
	})
}
