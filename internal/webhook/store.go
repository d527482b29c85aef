package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// errNotFound is the 404 of an unknown endpoint, or one of another tenant.
var errNotFound = apperr.NotFoundf("Webhook")

const endpointColumns = `id, organisation_id, url, events, client_id, is_active,
	failure_count, last_delivery_at, disabled_at, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanEndpoint(sc scanner) (*Endpoint, error) {
	var e Endpoint
	err := sc.Scan(&e.ID, &e.OrganisationID, &e.URL, db.JSON(&e.Events), &e.ClientID,
		&e.IsActive, &e.FailureCount, db.NullTime(&e.LastDeliveryAt),
		db.NullTime(&e.DisabledAt), db.Time(&e.CreatedAt), db.Time(&e.UpdatedAt))
	if err != nil {
		return nil, err
	}
	if e.Events == nil {
		e.Events = []string{}
	}
	return &e, nil
}

// loadEndpoint reads an endpoint of the organisation; errNotFound when
// there is none.
func loadEndpoint(ctx context.Context, q db.Querier, orgID, id string) (*Endpoint, error) {
	return readEndpoint(ctx, q, orgID, id, "")
}

// lockEndpoint reads an endpoint as loadEndpoint does and, on PostgreSQL,
// holds its row until tx ends, so that what is written back from it cannot
// undo a change the delivery worker committed meanwhile (a failure
// counted, the endpoint disabled). SQLite transactions already exclude
// each other.
func lockEndpoint(ctx context.Context, d *db.DB, tx *sql.Tx, orgID,
	id string) (*Endpoint, error) {
	return readEndpoint(ctx, tx, orgID, id, d.Dialect.RowLock())
}

func readEndpoint(ctx context.Context, q db.Querier, orgID, id, lock string) (*Endpoint,
	error) {
	if !db.ValidID(id) {
		return nil, errNotFound
	}
	e, err := scanEndpoint(q.QueryRowContext(ctx, `SELECT `+endpointColumns+`
		FROM webhook_endpoints WHERE id = $1 AND organisation_id = $2`+lock, id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook %s: %w", id, err)
	}
	return e, nil
}

func insertEndpoint(ctx context.Context, q db.Querier, e *Endpoint, sealed string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, organisation_id,
		url, events, client_id, secret, is_active, failure_count, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, TRUE, 0, $7, $7)`,
		e.ID, e.OrganisationID, e.URL, db.MustJSON(e.Events), e.ClientID, sealed,
		e.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert webhook: %w", err)
	}
	return nil
}

// saveEndpoint writes the mutable members of e.
func saveEndpoint(ctx context.Context, q db.Querier, e *Endpoint) error {
	_, err := q.ExecContext(ctx, `UPDATE webhook_endpoints SET url = $1, events = $2,
		client_id = $3, is_active = $4, failure_count = $5, disabled_at = $6,
		updated_at = $7 WHERE id = $8 AND organisation_id = $9`,
		e.URL, db.MustJSON(e.Events), e.ClientID, e.IsActive, e.FailureCount,
		e.DisabledAt, e.UpdatedAt, e.ID, e.OrganisationID)
	if err != nil {
		return fmt.Errorf("update webhook %s: %w", e.ID, err)
	}
	return nil
}

// failPending ends the pending deliveries of an endpoint with
// ErrorEndpointDisabled and returns how many it ended.
func failPending(ctx context.Context, q db.Querier, endpointID string,
	now time.Time) (int64, error) {
	res, err := q.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $1,
		error = $2, next_attempt_at = NULL, locked_until = NULL, completed_at = $3,
		updated_at = $3 WHERE endpoint_id = $4 AND status = $5`,
		StatusFailed, ErrorEndpointDisabled, now, endpointID, StatusPending)
	if err != nil {
		return 0, fmt.Errorf("fail pending deliveries of %s: %w", endpointID, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
