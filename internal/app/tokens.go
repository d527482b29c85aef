package app

import (
	"context"
	"fmt"

	"github.com/cerberus-iam/cerberus/internal/retention"
)

const tokensUsage = `Usage: cerberus tokens revoke-all [--org SLUG] [--dry-run]

Revokes every live access and refresh token, of one organisation with
--org, and drops the unused authorization codes and pending device
approvals that could still be exchanged for new ones. Records
system.tokens_revoked_all. Running servers refuse a revoked access token
within a few seconds (they cache token states that long).

  --org SLUG   only the tokens of that organisation
  --dry-run    print what would be revoked and change nothing
`

var tokensCommand = command{
	summary: "revoke every access and refresh token (incident response)",
	usage:   tokensUsage,
	run:     runTokens,
}

func runTokens(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 || args[0] != "revoke-all" {
		return usageError(e, tokensUsage, "tokens needs revoke-all")
	}
	dryRun, slug, code := incidentFlags(e, "tokens", tokensUsage, args[1:], nil)
	if code >= 0 {
		return code
	}
	t, ok := openTool(ctx, e)
	if !ok {
		return ExitFailure
	}
	defer t.db.Close()
	orgID, label, ok := t.scope(ctx, e, slug)
	if !ok {
		return ExitFailure
	}
	res, err := retention.RevokeAllTokens(systemContext(ctx), t.db, t.events, t.now(),
		orgID, dryRun)
	if err != nil {
		fmt.Fprintf(e.Stderr, "cerberus: %v\n", err)
		return ExitFailure
	}
	verb := "revoked"
	if dryRun {
		verb = "would be revoked (dry run, nothing changed)"
	}
	fmt.Fprintf(e.Stdout, "tokens of %s %s:\n", label, verb)
	fmt.Fprintf(e.Stdout, "  access tokens        %d\n", res.AccessTokens)
	fmt.Fprintf(e.Stdout, "  refresh tokens       %d\n", res.RefreshTokens)
	fmt.Fprintf(e.Stdout, "  authorization codes  %d\n", res.AuthorizationCodes)
	fmt.Fprintf(e.Stdout, "  device codes         %d\n", res.DeviceCodes)
	return ExitOK
}
