package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// Purposes of account tokens.
const (
	PurposeVerifyEmail   = "verify_email"
	PurposePasswordReset = "password_reset"
	PurposePasswordSetup = "password_setup"
)

// tokenLifetimes are the lifetimes of account tokens by purpose.
var tokenLifetimes = map[string]time.Duration{
	PurposeVerifyEmail:   24 * time.Hour,
	PurposePasswordReset: time.Hour,
	PurposePasswordSetup: 7 * 24 * time.Hour,
}

// IssueAccountToken makes a one-time token for a user and purpose (one of
// the Purpose constants), valid for that purpose's lifetime from now, and
// invalidates the user's earlier unused tokens of the same purpose: only
// the newest works. Only the token's SHA-256 is stored. It returns the
// token and its expiry; q should be the transaction that also queues the
// email carrying the token.
func IssueAccountToken(ctx context.Context, q db.Querier, userID, purpose string,
	now time.Time) (string, time.Time, error) {
	ttl, ok := tokenLifetimes[purpose]
	if !ok {
		return "", time.Time{}, fmt.Errorf("issue account token: unknown purpose %q", purpose)
	}
	_, err := q.ExecContext(ctx, `UPDATE account_tokens SET consumed_at = $1
		WHERE user_id = $2 AND purpose = $3 AND consumed_at IS NULL`, now, userID, purpose)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("invalidate %s tokens: %w", purpose, err)
	}
	token := crypto.NewToken()
	expires := now.Add(ttl)
	_, err = q.ExecContext(ctx, `INSERT INTO account_tokens (id, user_id, purpose,
		token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		db.NewID(), userID, purpose, crypto.HashToken(token), expires, now)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue %s token: %w", purpose, err)
	}
	return token, expires, nil
}

// accountToken is a usable account token.
type accountToken struct {
	ID, UserID, Purpose string
}

// findAccountToken returns the unused, unexpired token of one of purposes
// whose user is live; nil when there is none.
func findAccountToken(ctx context.Context, q db.Querier, token string, now time.Time,
	purposes ...string) (*accountToken, error) {
	if token == "" {
		return nil, nil
	}
	var t accountToken
	err := q.QueryRowContext(ctx, `SELECT t.id, t.user_id, t.purpose FROM account_tokens t
		JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.consumed_at IS NULL
		AND t.expires_at > $2 AND u.deleted_at IS NULL`,
		crypto.HashToken(token), now).Scan(&t.ID, &t.UserID, &t.Purpose)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read account token: %w", err)
	}
	for _, p := range purposes {
		if t.Purpose == p {
			return &t, nil
		}
	}
	return nil, nil
}

// consumeAccountToken marks a token used; false when it was used
// concurrently.
func consumeAccountToken(ctx context.Context, q db.Querier, id string,
	now time.Time) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE account_tokens SET consumed_at = $1
		WHERE id = $2 AND consumed_at IS NULL`, now, id)
	if err != nil {
		return false, fmt.Errorf("consume account token: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
