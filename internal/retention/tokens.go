package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// TokenRevocation counts what RevokeAllTokens revoked, or would revoke.
type TokenRevocation struct {
	AccessTokens       int64
	RefreshTokens      int64
	AuthorizationCodes int64
	DeviceCodes        int64
}

// RevokeAllTokens revokes every live access and refresh token issued up
// to now, of one organisation (orgID) or of all (empty orgID), and drops
// the authorization codes and device approvals that could still mint new
// ones. Tokens are revoked in batches of at most DefaultBatch rows per
// transaction; tokens issued while it runs are left alone. It records
// system.tokens_revoked_all with the counts. With dryRun it only counts.
//
// Running instances see a revoked access token within the few seconds
// they cache token states.
func RevokeAllTokens(ctx context.Context, d *db.DB, rec *event.Recorder, now time.Time,
	orgID string, dryRun bool) (TokenRevocation, error) {
	now = now.UTC().Truncate(time.Millisecond)
	var out TokenRevocation
	steps, args := revocationSteps(orgID, &out)
	args = append([]any{now}, args...)
	if dryRun {
		return out, countAll(ctx, d, args, steps)
	}
	for _, st := range steps {
		n, err := execBatches(ctx, d, st.stmt, args)
		*st.n = n
		if err != nil {
			return out, fmt.Errorf("revoke all tokens: %w", err)
		}
	}
	return out, rec.Record(event.WithActor(ctx, event.SystemActor), d, event.Event{
		Type: "system.tokens_revoked_all", OrganisationID: orgID, Metadata: map[string]any{
			"accessTokens": out.AccessTokens, "refreshTokens": out.RefreshTokens,
			"authorizationCodes": out.AuthorizationCodes, "deviceCodes": out.DeviceCodes}})
}

// revocation is one step of RevokeAllTokens: the rows of table matching
// where, changed by the batched stmt and counted in n. $1 is the time of
// the run; $2, with an organisation, its id.
type revocation struct {
	table, where, stmt string
	n                  *int64
}

func revocationSteps(orgID string, out *TokenRevocation) ([]revocation, []any) {
	scope, args := "", []any{}
	if orgID != "" {
		scope, args = " AND organisation_id = $2", []any{orgID}
	}
	live := `revoked_at IS NULL AND expires_at > $1 AND created_at <= $1` + scope
	codes := `consumed_at IS NULL AND expires_at > $1` + scope
	devices := `status IN ('pending', 'approved') AND expires_at > $1` + scope
	ids := func(table, where string) string {
		return `id IN (SELECT id FROM ` + table + ` WHERE ` + where + batchLimit + `)`
	}
	return []revocation{
		{"tokens", live, `UPDATE tokens SET revoked_at = $1 WHERE ` + ids("tokens", live),
			&out.AccessTokens},
		{"refresh_tokens", live, `UPDATE refresh_tokens SET revoked_at = $1 WHERE ` +
			ids("refresh_tokens", live), &out.RefreshTokens},
		{"authorization_codes", codes, `DELETE FROM authorization_codes WHERE ` +
			ids("authorization_codes", codes), &out.AuthorizationCodes},
		{"device_codes", devices, `UPDATE device_codes SET status = 'denied',
			updated_at = $1 WHERE ` + ids("device_codes", devices), &out.DeviceCodes},
	}, args
}

// batchLimit ends the id subquery of a batched statement.
var batchLimit = fmt.Sprintf(" LIMIT %d", DefaultBatch)

// execBatches runs a batched statement until it changes fewer rows than a
// batch and returns the rows it changed.
func execBatches(ctx context.Context, d *db.DB, stmt string, args []any) (int64, error) {
	var total int64
	for {
		res, err := d.ExecContext(ctx, stmt, args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < DefaultBatch {
			return total, nil
		}
	}
}

// countAll counts, for each step, the rows it would change.
func countAll(ctx context.Context, d *db.DB, args []any, steps []revocation) error {
	for _, st := range steps {
		err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+st.table+` WHERE `+st.where,
			args...).Scan(st.n)
		if err != nil {
			return fmt.Errorf("count %s: %w", st.table, err)
		}
	}
	return nil
}
