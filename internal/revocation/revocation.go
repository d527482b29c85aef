// Package revocation ends sessions and revokes grants when a user, a
// client, a consent or an organisation stops being trusted. Every function
// runs with the caller's Querier so the cascade commits with the change
// that causes it (a block, a reset, a deletion).
//
// Access tokens are revoked by marking their rows; the bearer check reads
// that state through a cache of a few seconds, so a revoked token dies on
// every instance within that time.
package revocation

import (
	"context"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// exec runs each statement with the arguments it uses, in order, and stops
// at the first error. Statements number their placeholders from args: $1
// is args[0], $2 is args[1].
func exec(ctx context.Context, q db.Querier, what string, args []any, stmts ...string) error {
	for _, s := range stmts {
		if _, err := q.ExecContext(ctx, s, args[:placeholders(s)]...); err != nil {
			return fmt.Errorf("revoke %s: %w", what, err)
		}
	}
	return nil
}

// placeholders returns the highest $n (1–9) a statement uses.
func placeholders(s string) int {
	n := 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '$' && s[i+1] >= '1' && s[i+1] <= '9' {
			n = max(n, int(s[i+1]-'0'))
		}
	}
	return n
}

// EndSessions deletes the sessions of a user except keep (empty: all) and
// returns the ids it deleted.
func EndSessions(ctx context.Context, q db.Querier, userID, keep string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2
		RETURNING id`, userID, keepID(keep))
	if err != nil {
		return nil, fmt.Errorf("end sessions: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("end sessions: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// keepID stands in for "no session to keep": a well-formed id no row has.
func keepID(keep string) string {
	if keep == "" {
		return "00000000-0000-0000-0000-000000000000"
	}
	return keep
}

// UserGrants revokes a user's refresh and access tokens, deletes their
// authorization codes and pending authorization requests, and denies their
// pending device approvals.
func UserGrants(ctx context.Context, q db.Querier, userID string, now time.Time) error {
	return exec(ctx, q, "user grants", []any{userID, now},
		`UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
		`UPDATE tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
		`DELETE FROM authorization_codes WHERE user_id = $1 AND consumed_at IS NULL
			AND expires_at > $2`,
		`DELETE FROM authorization_requests WHERE user_id = $1 AND expires_at > $2`,
		`UPDATE device_codes SET status = 'denied', updated_at = $2
			WHERE user_id = $1 AND status IN ('pending', 'approved')`,
	)
}

// UserConsents revokes every active consent of a user.
func UserConsents(ctx context.Context, q db.Querier, userID string, now time.Time) error {
	return exec(ctx, q, "user consents", []any{userID, now},
		`UPDATE consents SET revoked_at = $2, updated_at = $2
			WHERE user_id = $1 AND revoked_at IS NULL`)
}

// UserClient revokes what a user granted one client (clients.id): the
// consent and the tokens issued to that client for that user.
func UserClient(
	ctx context.Context, q db.Querier, userID, clientRef string, now time.Time,
) error {
	return exec(ctx, q, "user client grants", []any{userID, clientRef, now},
		`UPDATE consents SET revoked_at = $3, updated_at = $3
			WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL`,
		`UPDATE refresh_tokens SET revoked_at = $3
			WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL`,
		`UPDATE tokens SET revoked_at = $3
			WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL`,
	)
}

// Client revokes the tokens of a client (clients.id) and deletes its
// codes, device codes and authorization requests.
func Client(ctx context.Context, q db.Querier, clientRef string, now time.Time) error {
	return exec(ctx, q, "client grants", []any{clientRef, now},
		`UPDATE refresh_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL`,
		`UPDATE tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL`,
		`DELETE FROM authorization_codes WHERE client_id = $1`,
		`DELETE FROM device_codes WHERE client_id = $1`,
		`DELETE FROM authorization_requests WHERE client_id = $1`,
	)
}

// ClientConsents revokes every active consent given to a client.
func ClientConsents(ctx context.Context, q db.Querier, clientRef string, now time.Time) error {
	return exec(ctx, q, "client consents", []any{clientRef, now},
		`UPDATE consents SET revoked_at = $2, updated_at = $2
			WHERE client_id = $1 AND revoked_at IS NULL`)
}

// Family revokes a refresh-token family and the access tokens issued from
// it, and reports whether anything was still live.
func Family(ctx context.Context, q db.Querier, familyID string, now time.Time) (bool, error) {
	var n int64
	for _, s := range []string{
		`UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`,
		`UPDATE tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`,
	} {
		res, err := q.ExecContext(ctx, s, familyID, now)
		if err != nil {
			return false, fmt.Errorf("revoke family %s: %w", familyID, err)
		}
		c, _ := res.RowsAffected()
		n += c
	}
	return n > 0, nil
}

// Organisation ends every session of an organisation, deletes its codes,
// device codes and authorization requests, and revokes its tokens and
// consents.
func Organisation(ctx context.Context, q db.Querier, orgID string, now time.Time) error {
	return exec(ctx, q, "organisation grants", []any{orgID, now},
		`DELETE FROM sessions WHERE organisation_id = $1`,
		`DELETE FROM authorization_codes WHERE organisation_id = $1`,
		`DELETE FROM device_codes WHERE organisation_id = $1`,
		`DELETE FROM authorization_requests WHERE organisation_id = $1`,
		`UPDATE refresh_tokens SET revoked_at = $2
			WHERE organisation_id = $1 AND revoked_at IS NULL`,
		`UPDATE tokens SET revoked_at = $2 WHERE organisation_id = $1 AND revoked_at IS NULL`,
		`UPDATE consents SET revoked_at = $2, updated_at = $2
			WHERE organisation_id = $1 AND revoked_at IS NULL`,
	)
}
