package webhook

import (
	"context"
	"fmt"
	"strings"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// Paging selects a page of a list: Page from 1, Limit 1–100, Sort a
// field of the list's sort table with an optional "-" for descending
// order.
type Paging struct {
	Page  int
	Limit int
	Sort  string
}

// EndpointQuery selects endpoints; IsActive filters when set.
type EndpointQuery struct {
	Paging
	IsActive *bool
}

// DeliveryQuery selects deliveries of one endpoint; Status filters when
// not empty.
type DeliveryQuery struct {
	Paging
	Status string
}

// EndpointSorts and DeliverySorts map the sort fields of the lists to
// their columns.
var (
	EndpointSorts = map[string]string{"createdAt": "created_at", "url": "url"}
	DeliverySorts = map[string]string{"createdAt": "created_at"}
)

// Default sorts of the lists.
const DefaultSort = "-createdAt"

// DeliveryStatuses are the values of the status filter.
var DeliveryStatuses = []string{StatusPending, StatusSucceeded, StatusFailed}

// orderBy turns a sort of table into an ORDER BY clause with the id as the
// tie-breaker; an unknown field falls back to the default.
func orderBy(sort string, table map[string]string) string {
	dir := "ASC"
	field, desc := strings.CutPrefix(sort, "-")
	if desc {
		dir = "DESC"
	}
	col, ok := table[field]
	if !ok {
		col, dir = "created_at", "DESC"
	}
	return " ORDER BY " + col + " " + dir + ", id " + dir
}

// List returns a page of the organisation's endpoints and their total.
func (s *Service) List(ctx context.Context, orgID string,
	q EndpointQuery) ([]Endpoint, int, error) {
	where := ` WHERE organisation_id = $1`
	args := []any{orgID}
	if q.IsActive != nil {
		where += ` AND is_active = $2`
		args = append(args, *q.IsActive)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_endpoints`+where,
		args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count webhooks: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+endpointColumns+` FROM
		webhook_endpoints`+where+orderBy(q.Sort, EndpointSorts)+limitOffset(len(args)),
		append(args, q.Limit, (q.Page-1)*q.Limit)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	out := []Endpoint{}
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan webhook: %w", err)
		}
		out = append(out, *e)
	}
	return out, total, rows.Err()
}

func limitOffset(nargs int) string {
	return fmt.Sprintf(" LIMIT $%d OFFSET $%d", nargs+1, nargs+2)
}

const deliveryColumns = `id, event_id, event_type, status, attempts, last_attempt_at,
	next_attempt_at, response_status, response_time_ms, error, created_at, completed_at`

func scanDelivery(sc scanner) (*Delivery, error) {
	var d Delivery
	err := sc.Scan(&d.ID, &d.EventID, &d.EventType, &d.Status, &d.Attempts,
		db.NullTime(&d.LastAttemptAt), db.NullTime(&d.NextAttemptAt), &d.ResponseStatus,
		&d.ResponseTimeMS, &d.Error, db.Time(&d.CreatedAt), db.NullTime(&d.CompletedAt))
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// Deliveries returns a page of an endpoint's deliveries and their total.
// Errors: 404 "Webhook not found".
func (s *Service) Deliveries(ctx context.Context, orgID, endpointID string,
	q DeliveryQuery) ([]Delivery, int, error) {
	if _, err := loadEndpoint(ctx, s.db, orgID, endpointID); err != nil {
		return nil, 0, err
	}
	where := ` WHERE endpoint_id = $1 AND organisation_id = $2`
	args := []any{endpointID, orgID}
	if q.Status != "" {
		where += ` AND status = $3`
		args = append(args, q.Status)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries`+where,
		args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count deliveries: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM
		webhook_deliveries`+where+orderBy(q.Sort, DeliverySorts)+limitOffset(len(args)),
		append(args, q.Limit, (q.Page-1)*q.Limit)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan delivery: %w", err)
		}
		out = append(out, *d)
	}
	return out, total, rows.Err()
}
