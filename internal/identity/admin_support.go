package identity

import (
	"context"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// This file exports what the administration services reuse of the
// identity rules, so that an account an administrator creates obeys the
// same email and password rules as one created by its owner.

// CheckEmail checks a required email member on c and returns its
// normalised form (see NormalizeEmail): a bare address with a dotted
// domain, at most 254 characters.
func CheckEmail(c *apperr.Checker, field, raw string) string {
	e := NormalizeEmail(raw)
	switch {
	case e == "":
		c.Add(field, apperr.CodeRequired, "Required")
	case utf8.RuneCountInString(e) > maxEmailLength:
		c.Add(field, apperr.CodeTooLong, "Must be at most 254 characters")
	case !validEmail(e):
		c.Add(field, apperr.CodeInvalidFormat, "Invalid email address")
	}
	return e
}

var e164 = regexp.MustCompile(`^\+[0-9]{7,15}$`)

// CheckPhone checks an E.164 telephone number on c: + and 7 to 15 digits.
func CheckPhone(c *apperr.Checker, field, raw string) {
	if !e164.MatchString(raw) {
		c.Add(field, apperr.CodeInvalidFormat,
			"Must be an E.164 number: + and 7 to 15 digits")
	}
}

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
