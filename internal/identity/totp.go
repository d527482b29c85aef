package identity

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// TOTP parameters (RFC 6238) fixed by the contract.
const (
	totpPeriod      = 30 // seconds per time step
	totpSkew        = 1  // steps accepted either side of now
	totpSecretBytes = 20
	totpIssuer      = "Cerberus"
	qrCodeSize      = 256 // pixels
	backupCodeCount = 10
)

// Second-factor methods, as login metadata and metric labels.
const (
	MethodPassword   = "password"
	MethodTOTP       = "totp"
	MethodBackupCode = "backup_code"
)

var (
	totpCodeRE   = regexp.MustCompile(`^[0-9]{6}$`)
	backupCodeRE = regexp.MustCompile(`^[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}$`)
	base32Raw    = base32.StdEncoding.WithPadding(base32.NoPadding)
)

// isTOTPCode reports a six-digit code.
func isTOTPCode(s string) bool { return totpCodeRE.MatchString(s) }

// isBackupCode reports a backup code: eight hex digits, any case, with or
// without the hyphen in the middle.
func isBackupCode(s string) bool { return backupCodeRE.MatchString(s) }

// newTOTPSecret returns 20 random bytes in Base32 without padding (32
// characters).
func newTOTPSecret() string {
	return base32Raw.EncodeToString(crypto.RandomBytes(totpSecretBytes))
}

// totpURI is the otpauth:// URI authenticator apps read from the QR code.
func totpURI(email, secret string) string {
	return "otpauth://totp/" + totpIssuer + ":" + url.PathEscape(email) +
		"?secret=" + secret + "&issuer=" + totpIssuer +
		"&algorithm=SHA1&digits=6&period=30"
}

// qrPNG renders content as a QR code PNG.
func qrPNG(content string) ([]byte, error) {
	png, err := qrcode.Encode(content, qrcode.Medium, qrCodeSize)
	if err != nil {
		return nil, fmt.Errorf("render qr code: %w", err)
	}
	return png, nil
}

// pngDataURL wraps a PNG in a data: URL.
func pngDataURL(png []byte) string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
}

// totpStep returns the time step of now.
func totpStep(now time.Time) int64 {
	return now.Unix() / totpPeriod
}

// matchTOTP returns the time step, within ±1 of now, at which code is the
// secret's TOTP value, and whether there is one. Validation is the
// library's HOTP check run on each candidate step, so the caller learns
// which step matched and can refuse replays.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	if !isTOTPCode(code) {
		return 0, false
	}
	opts := hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	step := totpStep(now)
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		ok, err := hotp.ValidateCustom(code, uint64(step+d), secret, opts)
		if err == nil && ok {
			return step + d, true
		}
	}
	return 0, false
}

// newBackupCodes returns a fresh set of backup codes, XXXX-XXXX in
// upper-case hex.
func newBackupCodes() []string {
	codes := make([]string, backupCodeCount)
	for i := range codes {
		h := strings.ToUpper(hex.EncodeToString(crypto.RandomBytes(4)))
		codes[i] = h[:4] + "-" + h[4:]
	}
	return codes
}

// factor is a second factor that checked out, not yet consumed.
type factor struct {
	method string
	step   int64  // TOTP time step
	codeID string // backup code row
}

// checkFactor checks code against the user's active TOTP secret (refusing
// steps already used) and, when allowBackup, the user's unused backup
// codes. It returns nil when the code is not valid. It consumes nothing.
func (s *Service) checkFactor(ctx context.Context, u *user, code string,
	allowBackup bool) (*factor, error) {
	code = strings.TrimSpace(code)
	if isTOTPCode(code) {
		return s.checkTOTP(u, code)
	}
	if allowBackup && isBackupCode(code) {
		return s.checkBackupCode(ctx, u, code)
	}
	return nil, nil
}

func (s *Service) checkTOTP(u *user, code string) (*factor, error) {
	if u.TOTPSecret == nil {
		return nil, nil
	}
	secret, err := s.keys.OpenString(*u.TOTPSecret)
	if err != nil {
		return nil, fmt.Errorf("open totp secret: %w", err)
	}
	step, ok := matchTOTP(secret, code, s.clock())
	if !ok || (u.TOTPLastStep != nil && step <= *u.TOTPLastStep) {
		return nil, nil
	}
	return &factor{method: MethodTOTP, step: step}, nil
}

func (s *Service) checkBackupCode(ctx context.Context, u *user, code string) (*factor, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, code_hash FROM mfa_backup_codes
		WHERE user_id = $1 AND used_at IS NULL ORDER BY id`, u.ID)
	if err != nil {
		return nil, fmt.Errorf("read backup codes: %w", err)
	}
	var ids, hashes []string
	for rows.Next() {
		var id, h string
		if err := rows.Scan(&id, &h); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan backup code: %w", err)
		}
		ids, hashes = append(ids, id), append(hashes, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read backup codes: %w", err)
	}
	i, err := s.hasher.MatchCode(ctx, code, hashes)
	if err != nil {
		return nil, hashErr(err)
	}
	if i < 0 {
		return nil, nil
	}
	return &factor{method: MethodBackupCode, codeID: ids[i]}, nil
}

// consume records the use of a factor in q: the TOTP step becomes the last
// accepted one, the backup code is marked used. It reports false when a
// concurrent use got there first (the code is then a replay).
func (f *factor) consume(ctx context.Context, q db.Querier, userID string,
	now time.Time) (bool, error) {
	var stmt string
	var args []any
	switch f.method {
	case MethodTOTP:
		stmt = `UPDATE users SET totp_last_step = $1, updated_at = $2 WHERE id = $3
			AND (totp_last_step IS NULL OR totp_last_step < $1)`
		args = []any{f.step, now, userID}
	case MethodBackupCode:
		stmt = `UPDATE mfa_backup_codes SET used_at = $1 WHERE id = $2 AND user_id = $3
			AND used_at IS NULL`
		args = []any{now, f.codeID, userID}
	default:
		return true, nil
	}
	res, err := q.ExecContext(ctx, stmt, args...)
	if err != nil {
		return false, fmt.Errorf("consume %s: %w", f.method, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// storeBackupCodes replaces the user's backup codes with hashes.
func storeBackupCodes(ctx context.Context, q db.Querier, userID string, hashes []string,
	now time.Time) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM mfa_backup_codes WHERE user_id = $1`,
		userID); err != nil {
		return fmt.Errorf("delete backup codes: %w", err)
	}
	for _, h := range hashes {
		_, err := q.ExecContext(ctx, `INSERT INTO mfa_backup_codes (id, user_id, code_hash,
			created_at) VALUES ($1, $2, $3, $4)`, db.NewID(), userID, h, now)
		if err != nil {
			return fmt.Errorf("store backup code: %w", err)
		}
	}
	return nil
}
