package app

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/cerberus-iam/cerberus/internal/db"
)

const migrateUsage = `Usage: cerberus migrate up [N] | down [N] | status

  up [N]     apply N pending migrations (default: all)
  down [N]   revert the N most recent migrations (default: 1)
  status     list every migration of this binary, applied or pending

Migrations are embedded in the binary, one set per engine. On PostgreSQL an
advisory lock keeps two instances from migrating at once.
`

var migrateCommand = command{
	summary: "apply, revert or list schema migrations",
	usage:   migrateUsage,
	run:     runMigrate,
}

func runMigrate(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 || len(args) > 2 {
		return usageError(e, migrateUsage, "migrate needs up, down or status")
	}
	n := 0
	if len(args) == 2 {
		v, err := strconv.Atoi(args[1])
		if err != nil || v < 1 || args[0] == "status" {
			return usageError(e, migrateUsage, "invalid count %q", args[1])
		}
		n = v
	}
	if args[0] != "up" && args[0] != "down" && args[0] != "status" {
		return usageError(e, migrateUsage, "unknown migrate action %q", args[0])
	}
	cfg, _ := loadConfig(e)
	if cfg == nil {
		return ExitFailure
	}
	log := quietLogger(e, cfg)
	d, err := openDatabase(ctx, cfg, log, false, 0)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: open database: %v\n", err)
		return ExitFailure
	}
	defer d.Close()
	switch args[0] {
	case "up":
		return report(e, "applied", one(d.MigrateUp(ctx, n)))
	case "down":
		return report(e, "reverted", one(d.MigrateDown(ctx, n)))
	}
	return migrationStatus(ctx, e, d)
}

type versionsResult struct {
	versions []int64
	err      error
}

func one(v []int64, err error) versionsResult { return versionsResult{v, err} }

func report(e *Env, verb string, r versionsResult) int {
	for _, v := range r.versions {
		fmt.Fprintf(e.Stdout, "%s %05d\n", verb, v)
	}
	if r.err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: %v\n", r.err)
		return ExitFailure
	}
	if len(r.versions) == 0 {
		fmt.Fprintf(e.Stdout, "nothing to do: no migration %s\n", verb)
	}
	return ExitOK
}

func migrationStatus(ctx context.Context, e *Env, d *db.DB) int {
	sts, err := d.MigrationStatuses(ctx)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: %v\n", err)
		return ExitFailure
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
	for _, s := range sts {
		state, at := "pending", "-"
		if s.Applied {
			state, at = "applied", db.FormatTime(*s.AppliedAt)
		}
		fmt.Fprintf(tw, "%05d\t%s\t%s\t%s\n", s.Version, s.Name, state, at)
	}
	return exitOf(tw.Flush())
}

func exitOf(err error) int {
	if err != nil {
		return ExitFailure
	}
	return ExitOK
}
