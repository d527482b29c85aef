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
	scope, args := "", []any{now}
	if orgID != "" {
		scope, args = " AND organisation_id = $2", append(args, orgID)
	}
	live := `revoked_at IS NULL AND expires_at > $1 AND created_at <= $1` + scope
	codes := `consumed_at IS NULL AND expires_at > $1` + scope
	devices := `status IN ('pending', 'approved') AND expires_at > $1` + scope
	if dryRun {
		return out, countAll(ctx, d, args, []counted{{"tokens", live, &out.AccessTokens},
			{"refresh_tokens", live, &out.RefreshTokens},
			{"authorization_codes", codes, &out.AuthorizationCodes},
			{"device_codes", devices, &out.DeviceCodes}})
	}
	steps := []struct {
		stmt string
		n    *int64
	}{
		{`UPDATE tokens SET revoked_at = $1 WHERE id IN (SELECT id FROM tokens WHERE ` +
			live + batchLimit + `)`, &out.AccessTokens},
		{`UPDATE refresh_tokens SET revoked_at = $1 WHERE id IN (SELECT id FROM
			refresh_tokens WHERE ` + live + batchLimit + `)`, &out.RefreshTokens},
		{`DELETE FROM authorization_codes WHERE id IN (SELECT id FROM authorization_codes
			WHERE ` + codes + batchLimit + `)`, &out.AuthorizationCodes},
		{`UPDATE device_codes SET status = 'denied', updated_at = $1 WHERE id IN (SELECT id
			FROM device_codes WHERE ` + devices + batchLimit + `)`, &out.DeviceCodes},
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

// counted is a COUNT(*) of the rows of table matching where.
type counted struct {
	table, where string
	n            *int64
}

func countAll(ctx context.Context, d *db.DB, args []any, cs []counted) error {
	for _, c := range cs {
		err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+c.table+` WHERE `+c.where,
			args...).Scan(c.n)
		if err != nil {
			return fmt.Errorf("count %s: %w", c.table, err)
		}
	}
	return nil
}
