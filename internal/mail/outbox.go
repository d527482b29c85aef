package mail

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// Outbox statuses.
const (
	StatusPending = "pending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
)

// Outbox queues mails in the email_outbox table.
type Outbox struct {
	db     *db.DB
	sealer Sealer
	now    func() time.Time
}

// NewOutbox returns an outbox writing to d, sealing template data with
// sealer and dating rows with now.
func NewOutbox(d *db.DB, sealer Sealer, now func() time.Time) *Outbox {
	return &Outbox{db: d, sealer: sealer, now: now}
}

// Enqueue queues m through q, which should be the transaction of the change
// that causes the mail; a nil q writes through the outbox's database. The
// mail is due at once. Enqueue fails for an unknown template, missing
// required data or an empty recipient, before writing anything.
func (o *Outbox) Enqueue(ctx context.Context, q db.Querier, m Mail) error {
	if err := validate(m); err != nil {
		return err
	}
	payload, err := o.seal(m.Data)
	if err != nil {
		return err
	}
	if q == nil {
		q = o.db
	}
	now := o.now().UTC().Truncate(time.Millisecond)
	_, err = q.ExecContext(ctx, `INSERT INTO email_outbox
		(id, organisation_id, recipient, template, payload, status, attempts,
		 next_attempt_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, $7)`,
		db.NewID(), nullString(m.OrganisationID), m.To, m.Template, payload,
		StatusPending, now)
	if err != nil {
		return fmt.Errorf("enqueue %s mail: %w", m.Template, err)
	}
	return nil
}

func validate(m Mail) error {
	if _, ok := required[m.Template]; !ok {
		return fmt.Errorf("enqueue mail: %w %q", ErrUnknownTemplate, m.Template)
	}
	if strings.TrimSpace(m.To) == "" {
		return fmt.Errorf("enqueue %s mail: no recipient", m.Template)
	}
	if err := checkData(m.Template, m.Data); err != nil {
		return fmt.Errorf("enqueue %s mail: %w", m.Template, err)
	}
	return nil
}

// seal encodes the template data as JSON and seals it.
func (o *Outbox) seal(data map[string]any) (string, error) {
	if data == nil {
		data = map[string]any{}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("encode mail data: %w", err)
	}
	sealed, err := o.sealer.SealString(string(raw))
	if err != nil {
		return "", fmt.Errorf("seal mail data: %w", err)
	}
	return sealed, nil
}

// openPayload reverses seal.
func openPayload(s Sealer, payload string) (map[string]any, error) {
	raw, err := s.OpenString(payload)
	if err != nil {
		return nil, fmt.Errorf("open mail data: %w", err)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(raw), &data); err != nil {
		return nil, fmt.Errorf("decode mail data: %w", err)
	}
	return data, nil
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
