package identity

import (
	"context"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// This file exports what the administration services reuse of the
// identity rules, so that an account an administrator creates obeys the
// same email and password rules as one created by its owner.

// ValidEmail reports whether a normalised address (see NormalizeEmail) is
// acceptable for an account: a bare address with a dotted domain.
func ValidEmail(s string) bool { return validEmail(s) }

// CheckNewPassword applies the password policy of an organisation to the
// first password of a new user: 400 "Password too weak" with one item per
// broken rule on the field "password".
func (s *Service) CheckNewPassword(ctx context.Context, orgID, password string) error {
	org, err := orgByID(ctx, s.db, orgID)
	if err != nil {
		return err
	}
	policy := DefaultPasswordPolicy
	if org != nil {
		if policy, err = org.Policy(); err != nil {
			return err
		}
	}
	return s.checkPassword(ctx, policy, "", passwordField, password)
}

// HashPassword returns the stored form of a new password; a saturated
// hasher is 503 "Service temporarily unavailable".
func (s *Service) HashPassword(ctx context.Context, password string) (string, error) {
	return s.hash(ctx, password)
}

// RecordPasswordHistory records a newly set password hash in the user's
// history, in the caller's transaction q, keeping only as many rows as
// the strictest policy may check.
func RecordPasswordHistory(ctx context.Context, q db.Querier, userID, hash string,
	now time.Time) error {
	return addHistory(ctx, q, userID, hash, now)
}
