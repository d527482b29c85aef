package app

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/cerberus-iam/cerberus/internal/retention"
)

const cleanupUsage = `Usage: cerberus cleanup [--dry-run]

Runs every retention job once (expired sessions, codes and tokens, old
outbox rows, soft-deleted users, clients and organisations after 30 days,
audit rows older than AUDIT_RETENTION_DAYS) and prints, per table, how
many rows went. Deletes go in batches of at most 1000 rows per transaction,
so running it against a live database is safe.

  --dry-run   print how many rows would go and delete nothing (a row that
              two rules match, such as a session both expired and of a
              purged user, is counted by each)
`

var cleanupCommand = command{
	summary: "run the retention jobs once",
	usage:   cleanupUsage,
	run:     runCleanup,
}

func runCleanup(ctx context.Context, e *Env, args []string) int {
	dryRun, slug, code := incidentFlags(e, "cleanup", cleanupUsage, args, nil)
	if code >= 0 {
		return code
	}
	if slug != "" {
		return usageError(e, cleanupUsage, "cleanup takes no --org")
	}
	t, ok := openTool(ctx, e)
	if !ok {
		return ExitFailure
	}
	defer t.db.Close()
	r := &retention.Runner{DB: t.db, Now: t.now}
	days := t.cfg.AuditRetentionDays
	res, err := r.RunAll(ctx, retention.Jobs(daysDuration(days)), dryRun)
	printCleanup(e, res, dryRun)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

// daysDuration turns a number of days into a duration.
func daysDuration(days int) time.Duration {
	return time.Duration(days) * 24 * time.Hour
}

// printCleanup writes the rows per table, in the order the jobs reached
// them.
func printCleanup(e *Env, res []retention.Result, dryRun bool) {
	var order []string
	rows := map[string]int64{}
	for _, r := range res {
		if _, seen := rows[r.Table]; !seen {
			order = append(order, r.Table)
		}
		rows[r.Table] += r.Rows
	}
	head := "DELETED"
	if dryRun {
		head = "WOULD DELETE"
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TABLE\t%s\n", head)
	for _, table := range order {
		fmt.Fprintf(tw, "%s\t%d\n", table, rows[table])
	}
	_ = tw.Flush()
	if dryRun {
		fmt.Fprintln(e.Stdout, "dry run: nothing was deleted")
	}
}
