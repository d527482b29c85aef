package app

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/cerberus-iam/cerberus/internal/config"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// toolRun is what a one-shot maintenance command works with.
type toolRun struct {
	cfg    *config.Config
	log    *slog.Logger
	db     *db.DB
	keys   *crypto.KeyRing
	now    func() time.Time
	events *event.Recorder
}

// openTool loads the configuration and opens the database and the key
// ring for a one-shot command. On failure it has printed why.
func openTool(ctx context.Context, e *Env) (*toolRun, bool) {
	cfg, _ := loadConfig(e)
	if cfg == nil {
		return nil, false
	}
	log := quietLogger(e, cfg)
	keys, err := crypto.NewKeyRing(cfg.SecretKey, cfg.PreviousKeys...)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: encryption keys: %v\n", err)
		return nil, false
	}
	d, err := openDatabase(ctx, cfg, log, false, 0)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: open database: %v\n", err)
		return nil, false
	}
	now := func() time.Time { return time.Now().UTC() }
	return &toolRun{cfg: cfg, log: log, db: d, keys: keys, now: now,
		events: event.NewRecorder(now)}, true
}

// orgBySlug returns the id of the live organisation with that slug.
func (t *toolRun) orgBySlug(ctx context.Context, slug string) (string, error) {
	var id string
	err := t.db.QueryRowContext(ctx, `SELECT id FROM organisations WHERE slug = $1
		AND deleted_at IS NULL`, slug).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("no organisation with slug %q", slug)
	}
	if err != nil {
		return "", fmt.Errorf("read organisation %q: %w", slug, err)
	}
	return id, nil
}

// scope resolves an --org flag: the organisation's id and a label for
// messages, or "" and "every organisation" without the flag.
func (t *toolRun) scope(ctx context.Context, e *Env, slug string) (string, string, bool) {
	if slug == "" {
		return "", "every organisation", true
	}
	id, err := t.orgBySlug(ctx, slug)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: %v\n", err)
		return "", "", false
	}
	return id, "organisation " + slug, true
}

// incidentFlags parses the flags every incident command shares, --dry-run
// and --org, plus more; it returns -1 to go on or the exit code.
func incidentFlags(e *Env, name, usage string, args []string,
	more func(fs *flag.FlagSet)) (dryRun bool, org string, code int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dry := fs.Bool("dry-run", false, "")
	slug := fs.String("org", "", "")
	if more != nil {
		more(fs)
	}
	if code := parseFlags(fs, e, usage, args); code >= 0 {
		return false, "", code
	}
	if fs.NArg() > 0 {
		return false, "", usageError(e, usage, "unexpected argument %q", fs.Arg(0))
	}
	return *dry, *slug, -1
}

// systemContext marks what a command records as done by the system.
func systemContext(ctx context.Context) context.Context {
	return event.WithActor(ctx, event.SystemActor)
}
