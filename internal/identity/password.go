package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// Password length bounds; the maximum holds whatever the policy says.
const (
	minPasswordLength = 8
	maxPasswordLength = 128
	// maxHistory is the most previous passwords a policy may refuse, and so
	// the most history rows kept per user.
	maxHistory = 24
)

// PasswordPolicy is the rule set for new passwords: the default, or an
// organisation's passwordPolicy.
type PasswordPolicy struct {
	MinLength        int  `json:"minLength"`
	RequireUppercase bool `json:"requireUppercase"`
	RequireLowercase bool `json:"requireLowercase"`
	RequireNumbers   bool `json:"requireNumbers"`
	RequireSymbols   bool `json:"requireSymbols"`
	// PreventReuse is how many previous passwords (0–24) may not come back.
	PreventReuse int `json:"preventReuse"`
}

// DefaultPasswordPolicy applies when the organisation sets none: 8–128
// characters with an upper-case letter, a lower-case letter, a digit and a
// symbol.
var DefaultPasswordPolicy = PasswordPolicy{
	MinLength: minPasswordLength, RequireUppercase: true, RequireLowercase: true,
	RequireNumbers: true, RequireSymbols: true,
}

// storedPolicy is the passwordPolicy column; members left out keep the
// default's value.
type storedPolicy struct {
	MinLength        *int  `json:"minLength"`
	RequireUppercase *bool `json:"requireUppercase"`
	RequireLowercase *bool `json:"requireLowercase"`
	RequireNumbers   *bool `json:"requireNumbers"`
	RequireSymbols   *bool `json:"requireSymbols"`
	PreventReuse     *int  `json:"preventReuse"`
}

// parsePolicy reads an organisation's passwordPolicy column (nil or JSON
// null means the default).
func parsePolicy(raw []byte) (PasswordPolicy, error) {
	p := DefaultPasswordPolicy
	if len(raw) == 0 || string(raw) == "null" {
		return p, nil
	}
	var sp storedPolicy
	if err := json.Unmarshal(raw, &sp); err != nil {
		return p, fmt.Errorf("parse password policy: %w", err)
	}
	setInt(&p.MinLength, sp.MinLength)
	setBool(&p.RequireUppercase, sp.RequireUppercase)
	setBool(&p.RequireLowercase, sp.RequireLowercase)
	setBool(&p.RequireNumbers, sp.RequireNumbers)
	setBool(&p.RequireSymbols, sp.RequireSymbols)
	setInt(&p.PreventReuse, sp.PreventReuse)
	p.MinLength = min(max(p.MinLength, minPasswordLength), maxPasswordLength)
	p.PreventReuse = min(max(p.PreventReuse, 0), maxHistory)
	return p, nil
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

// Rules returns the message of every rule of p that password breaks, in a
// fixed order; none means it passes. Reuse is checked separately.
func (p PasswordPolicy) Rules(password string) []string {
	var upper, lower, digit, symbol bool
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case !unicode.IsLetter(r):
			symbol = true
		}
	}
	var out []string
	n := utf8.RuneCountInString(password)
	if n < p.MinLength {
		out = append(out, "Password must be at least "+strconv.Itoa(p.MinLength)+
			" characters long")
	}
	if n > maxPasswordLength {
		out = append(out, "Password must be at most 128 characters long")
	}
	for _, rule := range []struct {
		on, ok bool
		msg    string
	}{
		{p.RequireUppercase, upper, "Password must contain at least one upper-case letter"},
		{p.RequireLowercase, lower, "Password must contain at least one lower-case letter"},
		{p.RequireNumbers, digit, "Password must contain at least one digit"},
		{p.RequireSymbols, symbol, "Password must contain at least one symbol"},
	} {
		if rule.on && !rule.ok {
			out = append(out, rule.msg)
		}
	}
	return out
}

// Messages of the rules checked outside Rules.
const (
	msgReused      = "Password was used recently"
	msgSameAsNow   = "New password must differ from the current password"
	detailTooWeak  = "Password too weak"
	passwordField  = "password"
	newPasswordFld = "newPassword"
)

// weakPassword is the 400 "Password too weak" listing each broken rule.
func weakPassword(field string, msgs []string) error {
	fields := make([]apperr.FieldError, len(msgs))
	for i, m := range msgs {
		fields[i] = apperr.Field(field, apperr.CodePasswordPolicy, m)
	}
	return apperr.Fields(detailTooWeak, fields...)
}

// checkPassword applies p to a new password of userID (empty for a new
// user): the rules of Rules, and with PreventReuse the user's last
// passwords. extra adds messages the caller found (same as current).
func (s *Service) checkPassword(ctx context.Context, p PasswordPolicy, userID, field,
	password string, extra ...string) error {
	msgs := append(p.Rules(password), extra...)
	if p.PreventReuse > 0 && userID != "" {
		reused, err := s.reused(ctx, userID, password, p.PreventReuse)
		if err != nil {
			return err
		}
		if reused {
			msgs = append(msgs, msgReused)
		}
	}
	if len(msgs) > 0 {
		return weakPassword(field, msgs)
	}
	return nil
}

// reused reports whether password matches one of the user's last n
// passwords.
func (s *Service) reused(ctx context.Context, userID, password string, n int) (bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT password_hash FROM password_history
		WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, userID, n)
	if err != nil {
		return false, fmt.Errorf("read password history: %w", err)
	}
	var hashes []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return false, fmt.Errorf("scan password history: %w", err)
		}
		hashes = append(hashes, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read password history: %w", err)
	}
	for _, h := range hashes {
		ok, _, err := s.hasher.Verify(ctx, password, h)
		if err != nil && !errors.Is(err, crypto.ErrMalformedHash) {
			return false, hashErr(err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// hash makes the stored form of a new password.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	h, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return "", hashErr(err)
	}
	return h, nil
}

// hashErr turns a saturated hasher into 503 and wraps anything else.
func hashErr(err error) error {
	if errors.Is(err, crypto.ErrHasherBusy) {
		e := *errBusy
		e.Err = err
		return &e
	}
	return fmt.Errorf("password hashing: %w", err)
}

// setPassword stores a new password hash for a user and records it in the
// history, keeping at most maxHistory rows.
func setPassword(ctx context.Context, q db.Querier, userID, hash string, now time.Time) error {
	_, err := q.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2
		WHERE id = $3`, hash, now, userID)
	if err != nil {
		return fmt.Errorf("store password: %w", err)
	}
	return addHistory(ctx, q, userID, hash, now)
}

// addHistory records a password hash and drops rows past maxHistory.
func addHistory(ctx context.Context, q db.Querier, userID, hash string, now time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO password_history (id, user_id,
		password_hash, created_at) VALUES ($1, $2, $3, $4)`, db.NewID(), userID, hash, now)
	if err != nil {
		return fmt.Errorf("record password history: %w", err)
	}
	_, err = q.ExecContext(ctx, `DELETE FROM password_history WHERE user_id = $1
		AND id NOT IN (SELECT id FROM password_history WHERE user_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2)`, userID, maxHistory)
	if err != nil {
		return fmt.Errorf("trim password history: %w", err)
	}
	return nil
}
