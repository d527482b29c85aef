package retention

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// SealedColumn is a column whose values are sealed with the key ring.
type SealedColumn struct {
	Table, Column string
}

// SealedColumns lists every stored value sealed with the key ring.
var SealedColumns = []SealedColumn{
	{"users", "totp_secret"},
	{"users", "totp_pending_secret"},
	{"webhook_endpoints", "secret"},
	{"webhook_endpoints", "previous_secret"},
	{"jwks", "private_key"},
	{"email_outbox", "payload"},
}

// ResealResult is what Reseal did, or would do, to one column.
type ResealResult struct {
	SealedColumn
	// Resealed values were sealed with an older key and now are (or would
	// be) sealed with the current one.
	Resealed int64
	// Unreadable values open with none of the configured keys; they are
	// left as they are.
	Unreadable int64
}

// resealBatch is how many rows one transaction re-seals.
const resealBatch = 500

// noID sorts before every id: the start of a keyset walk.
const noID = "00000000-0000-0000-0000-000000000000"

// Reseal re-seals every value of SealedColumns not yet sealed with the
// key ring's current key, opening it with the current or a previous key.
// It works in batches, one transaction each, and skips values already
// current, so an interrupted run can simply be started again. A value no
// configured key opens is counted as unreadable and left alone. Unless
// dryRun (which only counts), it records system.encryption_key_rotated.
func Reseal(ctx context.Context, d *db.DB, keys *crypto.KeyRing, rec *event.Recorder,
	dryRun bool) ([]ResealResult, error) {
	var out []ResealResult
	for _, c := range SealedColumns {
		r, err := resealColumn(ctx, d, keys, c, dryRun)
		out = append(out, r)
		if err != nil {
			return out, fmt.Errorf("reseal %s.%s: %w", c.Table, c.Column, err)
		}
	}
	if dryRun {
		return out, nil
	}
	meta := map[string]any{"keyId": keys.KeyID()}
	for _, r := range out {
		meta[r.Table+"."+r.Column] = r.Resealed
	}
	return out, rec.Record(event.WithActor(ctx, event.SystemActor), d, event.Event{
		Type: "system.encryption_key_rotated", Metadata: meta})
}

// resealColumn walks one column by id, a batch at a time.
func resealColumn(ctx context.Context, d *db.DB, keys *crypto.KeyRing, c SealedColumn,
	dryRun bool) (ResealResult, error) {
	res := ResealResult{SealedColumn: c}
	after := noID
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var n int
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			var err error
			batch := res
			n, after, err = resealBatchOf(ctx, tx, keys, c, after, dryRun, &batch)
			if err == nil {
				res = batch
			}
			return err
		})
		if err != nil || n < resealBatch {
			return res, err
		}
	}
}

// stale selects, after an id, the values of a column not sealed with the
// current key.
func stale(c SealedColumn, keyID string) string {
	return fmt.Sprintf(`SELECT id, %s FROM %s WHERE %s IS NOT NULL
		AND %s NOT LIKE 'v1.%s.%%' AND id > $1 ORDER BY id LIMIT %d`,
		c.Column, c.Table, c.Column, c.Column, keyID, resealBatch)
}

type sealedValue struct{ id, value string }

// resealBatchOf re-seals one batch, adding to res, and returns its size
// and last id.
func resealBatchOf(ctx context.Context, tx *sql.Tx, keys *crypto.KeyRing, c SealedColumn,
	after string, dryRun bool, res *ResealResult) (int, string, error) {
	values, err := readStale(ctx, tx, c, keys.KeyID(), after)
	if err != nil || len(values) == 0 {
		return 0, after, err
	}
	for _, v := range values {
		plain, err := keys.Open(v.value)
		if err != nil {
			res.Unreadable++
			continue
		}
		res.Resealed++
		if dryRun {
			continue
		}
		sealed, err := keys.Seal(plain)
		if err != nil {
			return 0, after, err
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = $1
			WHERE id = $2 AND %s = $3`, c.Table, c.Column, c.Column),
			sealed, v.id, v.value); err != nil {
			return 0, after, err
		}
	}
	return len(values), values[len(values)-1].id, nil
}

func readStale(ctx context.Context, q db.Querier, c SealedColumn, keyID,
	after string) ([]sealedValue, error) {
	rows, err := q.QueryContext(ctx, stale(c, keyID), after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sealedValue
	for rows.Next() {
		var v sealedValue
		if err := rows.Scan(&v.id, &v.value); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
