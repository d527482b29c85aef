// Package audit reads the audit log of an organisation: filtered lists in
// pages addressed by an opaque cursor, single records, and exports that
// stream every matching record in CSV or NDJSON.
//
// Records are ordered by creation time, newest first, then by id. A
// cursor names the last record of a page, so a page is one indexed range
// query whatever its depth, and an export walks the same ranges batch by
// batch without holding more than one batch in memory.
//
// The rows are written by the event package in the transactions of the
// changes they describe; this package never changes them.
package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// Record is one audit entry as the administration API shows it.
type Record struct {
	ID             string          `json:"id"`
	OrganisationID *string         `json:"organisationId"`
	Actor          Actor           `json:"actor"`
	UserID         *string         `json:"userId"`
	ClientID       *string         `json:"clientId"`
	EventType      string          `json:"eventType"`
	EventCategory  string          `json:"eventCategory"`
	Action         string          `json:"action"`
	ResourceType   *string         `json:"resourceType"`
	ResourceID     *string         `json:"resourceId"`
	Success        bool            `json:"success"`
	ErrorMessage   *string         `json:"errorMessage"`
	IPAddress      *string         `json:"ipAddress"`
	UserAgent      *string         `json:"userAgent"`
	RequestID      *string         `json:"requestId"`
	Metadata       json.RawMessage `json:"metadata"`
	CreatedAt      time.Time       `json:"-"`
}

// Actor is who caused an event: a user, an API key, a client or the
// system (no id).
type Actor struct {
	Type string  `json:"type"`
	ID   *string `json:"id"`
}

// MarshalJSON writes the record with createdAt in RFC 3339 UTC with
// milliseconds.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	return json.Marshal(struct {
		plain
		CreatedAt string `json:"createdAt"`
	}{plain(r), db.FormatTime(r.CreatedAt)})
}

// Service reads audit records.
type Service struct {
	db *db.DB
}

// New returns a Service reading d.
func New(d *db.DB) *Service { return &Service{db: d} }

// Page is one page of records and the cursor of the next, "" after the
// last page.
type Page struct {
	Records    []Record
	NextCursor string
}

const columns = `id, organisation_id, actor_type, actor_id, user_id, client_id,
	event_type, event_category, action, resource_type, resource_id, success,
	error_message, ip_address, user_agent, request_id, metadata, created_at`

func scan(sc interface{ Scan(...any) error }) (*Record, error) {
	var r Record
	var meta sql.NullString
	err := sc.Scan(&r.ID, &r.OrganisationID, &r.Actor.Type, &r.Actor.ID, &r.UserID,
		&r.ClientID, &r.EventType, &r.EventCategory, &r.Action, &r.ResourceType,
		&r.ResourceID, &r.Success, &r.ErrorMessage, &r.IPAddress, &r.UserAgent,
		&r.RequestID, &meta, db.Time(&r.CreatedAt))
	if err != nil {
		return nil, err
	}
	r.Metadata = json.RawMessage("null")
	if meta.Valid {
		// PostgreSQL renders jsonb with spaces; both engines answer the
		// compact form.
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(meta.String)); err != nil {
			return nil, fmt.Errorf("audit metadata: %w", err)
		}
		r.Metadata = b.Bytes()
	}
	return &r, nil
}

// List returns the page of the organisation's records that q selects.
func (s *Service) List(ctx context.Context, orgID string, q Query) (*Page, error) {
	if q.Limit < 1 || q.Limit > MaxLimit {
		q.Limit = DefaultLimit
	}
	recs, err := s.batch(ctx, orgID, q.Filter, q.after, q.Limit+1)
	if err != nil {
		return nil, err
	}
	p := &Page{Records: recs}
	if len(recs) > q.Limit {
		p.Records = recs[:q.Limit]
		p.NextCursor = encodeCursor(p.Records[q.Limit-1])
	}
	return p, nil
}

// batch reads up to n records matching f, after the cursor position when
// one is given, newest first.
func (s *Service) batch(ctx context.Context, orgID string, f Filter, after *position,
	n int) ([]Record, error) {
	where, args := f.where(orgID)
	if after != nil {
		args = append(args, after.createdAt, after.id)
		k := len(args)
		// A row-value comparison lets both engines seek the index of
		// (organisation_id, created_at, id) instead of filtering.
		where += fmt.Sprintf(` AND (created_at, id) < ($%d, $%d)`, k-1, k)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM audit_logs`+where+
		fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT %d`, n), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit records: %w", err)
	}
	defer rows.Close()
	out := make([]Record, 0, n)
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan audit record: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

var errNotFound = apperr.NotFoundf("Audit log")

// Get returns a record of the organisation: 404 "Audit log not found".
func (s *Service) Get(ctx context.Context, orgID, id string) (*Record, error) {
	if !db.ValidID(id) {
		return nil, errNotFound
	}
	r, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM audit_logs
		WHERE id = $1 AND organisation_id = $2`, id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read audit record: %w", err)
	}
	return r, nil
}

// ExportBatch is how many records an export reads per query.
const ExportBatch = 500

// Export calls emit with every record of the organisation matching f,
// newest first, in batches of at most ExportBatch. Only one batch is in
// memory at a time; emit must not keep the slice. An error of emit stops
// the export and is returned.
func (s *Service) Export(ctx context.Context, orgID string, f Filter,
	emit func([]Record) error) error {
	var after *position
	for {
		recs, err := s.batch(ctx, orgID, f, after, ExportBatch)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			if err := emit(recs); err != nil {
				return err
			}
		}
		if len(recs) < ExportBatch {
			return nil
		}
		last := recs[len(recs)-1]
		after = &position{createdAt: last.CreatedAt, id: last.ID}
	}
}

// where builds the WHERE clause of f for an organisation.
func (f Filter) where(orgID string) (string, []any) {
	var b strings.Builder
	b.WriteString(` WHERE organisation_id = $1`)
	args := []any{orgID}
	eq := func(col string, v any) {
		args = append(args, v)
		fmt.Fprintf(&b, ` AND %s = $%d`, col, len(args))
	}
	for _, c := range []struct{ col, v string }{
		{"user_id", f.UserID}, {"client_id", f.ClientID},
		{"event_category", f.EventCategory}, {"action", f.Action},
		{"resource_type", f.ResourceType}, {"resource_id", f.ResourceID},
	} {
		if c.v != "" {
			eq(c.col, c.v)
		}
	}
	if len(f.EventTypes) > 0 {
		fmt.Fprintf(&b, ` AND event_type IN (%s)`, placeholders(len(args)+1,
			len(f.EventTypes)))
		for _, t := range f.EventTypes {
			args = append(args, t)
		}
	}
	if f.Success != nil {
		eq("success", *f.Success)
	}
	if f.StartDate != nil {
		args = append(args, *f.StartDate)
		fmt.Fprintf(&b, ` AND created_at >= $%d`, len(args))
	}
	if f.EndDate != nil {
		args = append(args, *f.EndDate)
		fmt.Fprintf(&b, ` AND created_at < $%d`, len(args))
	}
	return b.String(), args
}

func placeholders(from, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("$%d", from+i)
	}
	return strings.Join(ps, ", ")
}
