package app

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/cerberus-iam/cerberus/internal/retention"
)

const secretsRotateUsage = `Usage: cerberus secrets rotate [--dry-run]

Re-seals every stored secret (TOTP seeds, webhook secrets, signing keys,
queued mail) with SECRET_ENCRYPTION_KEY, opening the old values with the
keys of SECRET_ENCRYPTION_KEY_PREVIOUS. Run it after every server has been
given the new key with the old one as previous; remove the previous key
only once it reports nothing unreadable. It works in batches and skips
values already sealed with the current key, so it can be run again after
an interruption. Records system.encryption_key_rotated.

  --dry-run   print how many values would be re-sealed and change nothing
`

func runSecretsRotate(ctx context.Context, e *Env, args []string) int {
	dryRun, slug, code := incidentFlags(e, "secrets rotate", secretsRotateUsage, args, nil)
	if code >= 0 {
		return code
	}
	if slug != "" {
		return usageError(e, secretsRotateUsage, "secrets rotate takes no --org")
	}
	t, ok := openTool(ctx, e)
	if !ok {
		return ExitFailure
	}
	defer t.db.Close()
	res, err := retention.Reseal(systemContext(ctx), t.db, t.keys, t.events, dryRun)
	unreadable := printReseal(e, res, dryRun, t.keys.KeyID())
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: secrets rotate: %v\n", err)
		return ExitFailure
	}
	if unreadable > 0 {
		fmt.Fprintf(e.Stderr, "cerberus: %d stored values open with none of the "+
			"configured keys and were left as they are; keep the keys that sealed them\n",
			unreadable)
		if !dryRun {
			return ExitFailure
		}
	}
	return ExitOK
}

// printReseal writes a line per column and returns the unreadable total.
func printReseal(e *Env, res []retention.ResealResult, dryRun bool, keyID string) int64 {
	head := "RESEALED"
	if dryRun {
		head = "WOULD RESEAL"
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "VALUE\t%s\tUNREADABLE\n", head)
	var unreadable int64
	for _, r := range res {
		fmt.Fprintf(tw, "%s.%s\t%d\t%d\n", r.Table, r.Column, r.Resealed, r.Unreadable)
		unreadable += r.Unreadable
	}
	_ = tw.Flush()
	fmt.Fprintf(e.Stdout, "current key id: %s\n", keyID)
	if dryRun {
		fmt.Fprintln(e.Stdout, "dry run: nothing was changed")
	}
	return unreadable
}
