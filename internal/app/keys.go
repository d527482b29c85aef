package app

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/oauth"
)

const keysUsage = `Usage: cerberus keys list
       cerberus keys rotate [--retire-now] [--dry-run]

  list      show the signing keys: kid, algorithm, status, creation and
            retirement times
  rotate    make a new active key per algorithm now and retire the previous
            ones, which stay in the JWKS for 7 days so tokens they signed
            keep verifying; records system.keys_rotated
    --retire-now  delete the previous keys at once: tokens they signed stop
                  verifying immediately (use after a key compromise)
    --dry-run     print what would change and change nothing
`

var keysCommand = command{
	summary: "list or rotate the token signing keys",
	usage:   keysUsage,
	run:     runKeys,
}

func runKeys(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		return usageError(e, keysUsage, "keys needs list or rotate")
	}
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	retireNow := fs.Bool("retire-now", false, "")
	dryRun := fs.Bool("dry-run", false, "")
	if code := parseFlags(fs, e, keysUsage, args[1:]); code >= 0 {
		return code
	}
	if fs.NArg() > 0 || args[0] == "list" && (*retireNow || *dryRun) {
		return usageError(e, keysUsage, "unexpected arguments")
	}
	cfg, _ := loadConfig(e)
	if cfg == nil {
		return ExitFailure
	}
	d, err := openDatabase(ctx, cfg, quietLogger(e, cfg), false, 0)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: open database: %v\n", err)
		return ExitFailure
	}
	defer d.Close()
	store, err := keyStore(d, cfg.SecretKey, cfg.PreviousKeys, cfg.JWKSRotateDays)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: %v\n", err)
		return ExitFailure
	}
	if args[0] == "list" || *dryRun {
		return listKeys(ctx, e, store, *dryRun, *retireNow)
	}
	ctx = event.WithActor(ctx, event.SystemActor)
	keys, err := store.Rotate(ctx, *retireNow)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: rotate keys: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintln(e.Stdout, "signing keys rotated")
	printKeys(e, keys)
	return ExitOK
}

func keyStore(d *db.DB, key []byte, previous [][]byte, days int) (*oauth.KeyStore, error) {
	ring, err := crypto.NewKeyRing(key, previous...)
	if err != nil {
		return nil, fmt.Errorf("encryption keys: %w", err)
	}
	now := func() time.Time { return time.Now().UTC() }
	return oauth.NewKeyStore(d, ring, event.NewRecorder(now), now,
		time.Duration(days)*24*time.Hour), nil
}

func listKeys(ctx context.Context, e *Env, store *oauth.KeyStore, dryRun,
	retireNow bool) int {
	keys, err := store.List(ctx)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: list keys: %v\n", err)
		return ExitFailure
	}
	printKeys(e, keys)
	if dryRun {
		fate := "retired (published 7 more days)"
		if retireNow {
			fate = "deleted at once"
		}
		fmt.Fprintf(e.Stdout, "dry run: a new active %s and %s key would be made; "+
			"the keys above would be %s\n", oauth.AlgEdDSA, oauth.AlgRS256, fate)
	}
	return ExitOK
}

func printKeys(e *Env, keys []oauth.KeyInfo) {
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATUS\tCREATED\tRETIRED")
	for _, k := range keys {
		retired := "-"
		if k.RetiredAt != nil {
			retired = db.FormatTime(*k.RetiredAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.Status,
			db.FormatTime(k.CreatedAt), retired)
	}
	_ = tw.Flush()
}
