// Package retention removes data Cerberus IAM no longer needs, on the
// schedule and with the rules of the contract: expired sessions, codes
// and tokens, old outbox rows, soft-deleted users, clients and
// organisations (30 days after their deletion; audit rows stay, and keep
// their user and client ids), and audit rows past AUDIT_RETENTION_DAYS.
//
// Deletes go in batches of at most 1000 rows, each its own transaction,
// chosen by primary key (DELETE … WHERE id IN (SELECT id … LIMIT n)), so a
// large backlog never holds a table's locks for long and the server keeps
// serving while it drains.
//
// A Scheduler runs inside serve on the one instance holding the "cleanup"
// lock; the others stand by and take over when it stops. The cleanup
// command runs every job once through Runner.
//
// The package also holds the bulk operations of incident response that
// touch no other service's rules: RevokeAllTokens and Reseal (re-sealing
// every stored secret under a new encryption key).
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// DefaultBatch is the most rows one transaction deletes.
const DefaultBatch = 1000

// Result is what a step removed, or would remove in a dry run.
type Result struct {
	Job   string
	Table string
	Rows  int64
}

// Runner runs retention jobs against a database.
type Runner struct {
	DB  *db.DB
	Now func() time.Time
	// Batch bounds the rows of one transaction (DefaultBatch when zero).
	Batch int
	// Metrics, when set, counts purged expired sessions as ended.
	Metrics *telemetry.Metrics
}

func (r *Runner) batch() int {
	if r.Batch <= 0 || r.Batch > DefaultBatch {
		return DefaultBatch
	}
	return r.Batch
}

// Run runs the steps of job in order and returns what each removed. When
// ctx ends it stops between batches with what it has done so far.
func (r *Runner) Run(ctx context.Context, job Job) ([]Result, error) {
	now := r.Now().UTC().Truncate(time.Millisecond)
	var out []Result
	for _, st := range job.Steps {
		n, err := r.deleteAll(ctx, st, now.Add(-st.Age))
		out = append(out, Result{Job: job.Name, Table: st.Table, Rows: n})
		if st.Expired && n > 0 && r.Metrics != nil {
			r.Metrics.SessionsEnded.WithLabelValues(telemetry.SessionEndExpired).
				Add(float64(n))
		}
		if err != nil {
			return out, fmt.Errorf("retention %s: %s: %w", job.Name, st.Table, err)
		}
	}
	return out, nil
}

// deleteAll deletes the rows of a step batch after batch until a batch
// comes back short.
func (r *Runner) deleteAll(ctx context.Context, st Step, cutoff time.Time) (int64, error) {
	limit := r.batch()
	stmt := fmt.Sprintf(`DELETE FROM %s WHERE id IN (SELECT id FROM %s WHERE %s LIMIT %d)`,
		st.Table, st.Table, st.Where(r.DB.Dialect.Engine()), limit)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res, err := r.DB.ExecContext(ctx, stmt, cutoff)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(limit) {
			return total, nil
		}
	}
}

// Count returns, per step of job, how many rows a run would remove now.
// Rows that several steps match (a session both expired and of a purged
// user) are counted by each.
func (r *Runner) Count(ctx context.Context, job Job) ([]Result, error) {
	now := r.Now().UTC().Truncate(time.Millisecond)
	var out []Result
	for _, st := range job.Steps {
		var n int64
		err := r.DB.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE %s`,
			st.Table, st.Where(r.DB.Dialect.Engine())), now.Add(-st.Age)).Scan(&n)
		if err != nil {
			return out, fmt.Errorf("retention %s: count %s: %w", job.Name, st.Table, err)
		}
		out = append(out, Result{Job: job.Name, Table: st.Table, Rows: n})
	}
	return out, nil
}

// RunAll runs, or with dryRun counts, every job once, in order, and
// returns what each step removed or would remove. It stops at the first
// error.
func (r *Runner) RunAll(ctx context.Context, jobs []Job, dryRun bool) ([]Result, error) {
	var out []Result
	for _, j := range jobs {
		run := r.Run
		if dryRun {
			run = r.Count
		}
		res, err := run(ctx, j)
		out = append(out, res...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// logResults writes one info line per table a job removed rows from.
func logResults(l *slog.Logger, res []Result, took time.Duration) {
	for _, r := range res {
		if r.Rows > 0 {
			l.Info("retention removed rows", "job", r.Job, "table", r.Table,
				"rows", r.Rows, "durationMs", took.Milliseconds())
		}
	}
}
