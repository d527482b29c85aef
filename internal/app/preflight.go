package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cerberus-iam/cerberus/internal/config"
)

const preflightUsage = `Usage: cerberus preflight [--json]

Runs the production checklist against the configuration (environment and
./.env) and the live system: the database (reachable, encrypted, schema
current, signing keys, MFA on every Owner/Admin, password policies) and the
mail server (reachable with TLS). Prints one row per check: PASS, WARN or
FAIL, with the fix. Exits 1 when any check fails.

  --json   print the rows as a JSON array instead of a table
`

var preflightCommand = command{
	summary: "check the configuration against the production checklist",
	usage:   preflightUsage,
	run:     runPreflight,
}

func runPreflight(ctx context.Context, e *Env, args []string) int {
	fs := flag.NewFlagSet("preflight", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "JSON output")
	if code := parseFlags(fs, e, preflightUsage, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, preflightUsage, "unexpected argument %q", fs.Arg(0))
	}
	cfg, problems, warnings, err := config.Load(e.Environ, e.Dir)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: read configuration: %v\n", err)
		return ExitFailure
	}
	checks := config.Checks(cfg, problems, warnings)
	checks = append(checks, liveChecks(ctx, cfg, defaultLiveOptions())...)
	if *asJSON {
		err = writeChecksJSON(e.Stdout, checks)
	} else {
		err = writeChecksTable(e.Stdout, checks)
	}
	if err != nil {
		return ExitFailure
	}
	for _, c := range checks {
		if c.Status == config.Fail {
			return ExitFailure
		}
	}
	return ExitOK
}

func writeChecksTable(w io.Writer, checks []config.Check) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tDETAIL\tFIX")
	counts := map[config.Status]int{}
	for _, c := range checks {
		counts[c.Status]++
		fix := c.Fix
		if c.Status == config.Pass || fix == "" {
			fix = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Status, c.Name, oneLine(c.Detail), oneLine(fix))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d passed, %d warnings, %d failed\n",
		counts[config.Pass], counts[config.Warn], counts[config.Fail])
	return err
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

type checkJSON struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

func writeChecksJSON(w io.Writer, checks []config.Check) error {
	out := make([]checkJSON, 0, len(checks))
	for _, c := range checks {
		out = append(out, checkJSON{Name: c.Name, Status: string(c.Status), Detail: c.Detail,
			Fix: c.Fix})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
