package app

import (
	"context"
	"fmt"
	"time"

	"github.com/cerberus-iam/cerberus/internal/config"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// activeKeys is what the jwks table holds for one algorithm.
type activeKeys struct {
	count  int
	newest time.Time
}

// signingKeyChecks makes one row per signing algorithm: an active key must
// exist, and the newest must be younger than the rotation period plus a
// day (the hourly rotation check runs on some instance).
func signingKeyChecks(ctx context.Context, d *db.DB, cfg *config.Config,
	now time.Time) []config.Check {
	found, err := loadActiveKeys(ctx, d)
	if err != nil {
		return notChecked([]string{signingKeyRow("EdDSA"), signingKeyRow("RS256")},
			"jwks unreadable: "+err.Error(), "check the database and its schema")
	}
	out := make([]config.Check, 0, len(signingAlgorithms))
	for _, alg := range signingAlgorithms {
		out = append(out, judgeKeys(alg, found[alg], cfg, now))
	}
	return out
}

func loadActiveKeys(ctx context.Context, d *db.DB) (map[string]activeKeys, error) {
	rows, err := d.QueryContext(ctx, `SELECT alg, COUNT(*), MAX(created_at) FROM jwks
		WHERE status = 'active' GROUP BY alg`)
	if err != nil {
		return nil, fmt.Errorf("query jwks: %w", err)
	}
	defer rows.Close()
	out := map[string]activeKeys{}
	for rows.Next() {
		var alg string
		var k activeKeys
		if err := rows.Scan(&alg, &k.count, db.Time(&k.newest)); err != nil {
			return nil, fmt.Errorf("scan jwks: %w", err)
		}
		out[alg] = k
	}
	return out, rows.Err()
}

func judgeKeys(alg string, k activeKeys, cfg *config.Config, now time.Time) config.Check {
	ck := config.Check{Name: signingKeyRow(alg)}
	role := ""
	if alg == cfg.JWTAlg {
		role = " (JWT_ALG: signs access tokens)"
	}
	if k.count == 0 {
		ck.Status, ck.Detail = config.Fail, "no active "+alg+" signing key"+role
		ck.Fix = "start `cerberus serve` once (it creates a key per algorithm) " +
			"or run `cerberus keys rotate`"
		return ck
	}
	age := int(now.Sub(k.newest).Hours() / 24)
	detail := fmt.Sprintf("%d active, newest %d days old, rotated every %d days%s",
		k.count, age, cfg.JWKSRotateDays, role)
	if age > cfg.JWKSRotateDays+1 {
		ck.Status, ck.Detail = config.Warn, detail+": rotation is overdue"
		ck.Fix = "make sure an instance of `cerberus serve` runs (it checks hourly) " +
			"or run `cerberus keys rotate`"
		return ck
	}
	ck.Status, ck.Detail = config.Pass, detail
	return ck
}

// privilegedUsers selects the live users of live organisations who own
// their organisation or hold its owner or admin role.
const privilegedUsers = `FROM users u JOIN organisations o ON o.id = u.organisation_id
	WHERE u.deleted_at IS NULL AND o.deleted_at IS NULL AND (u.id = o.owner_id
	OR EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
		WHERE ur.user_id = u.id AND r.organisation_id = u.organisation_id
		AND r.slug IN ('owner', 'admin')))`

// adminMFACheck fails while any Owner or Admin account has no second
// factor. It reports counts only, never who.
func adminMFACheck(ctx context.Context, d *db.DB) config.Check {
	ck := config.Check{Name: rowAdminMFA}
	var total, without int
	err := d.QueryRowContext(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN u.mfa_enabled THEN 0 ELSE 1 END), 0) `+privilegedUsers).
		Scan(&total, &without)
	switch {
	case err != nil:
		ck.Status, ck.Detail = config.Fail, "not checked: "+err.Error()
		ck.Fix = "check the database and its schema"
	case without > 0:
		ck.Status = config.Fail
		ck.Detail = fmt.Sprintf("%d of %d Owner/Admin accounts have no MFA", without, total)
		ck.Fix = "ask them to enrol TOTP (POST /v1/me/mfa/enable, then verify), " +
			"or set requireMfa on their organisation"
	case total == 0:
		ck.Status, ck.Detail = config.Pass, "no Owner/Admin accounts yet"
	default:
		ck.Status, ck.Detail = config.Pass, fmt.Sprintf("all %d Owner/Admin accounts use MFA",
			total)
	}
	return ck
}

// passwordPolicyCheck warns about organisations that rely on the default
// password rules instead of a policy of their own.
func passwordPolicyCheck(ctx context.Context, d *db.DB) config.Check {
	ck := config.Check{Name: rowPasswordPolicy}
	var total, without int
	err := d.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE
		WHEN password_policy IS NULL OR password_policy = 'null' THEN 1 ELSE 0 END), 0)
		FROM organisations WHERE deleted_at IS NULL`).Scan(&total, &without)
	switch {
	case err != nil:
		ck.Status, ck.Detail = config.Fail, "not checked: "+err.Error()
		ck.Fix = "check the database and its schema"
	case without > 0:
		ck.Status = config.Warn
		ck.Detail = fmt.Sprintf("%d of %d organisations have no password policy "+
			"(the default rules apply)", without, total)
		ck.Fix = "set passwordPolicy with PATCH /v1/admin/organisation"
	case total == 0:
		ck.Status, ck.Detail = config.Pass, "no organisations yet"
	default:
		ck.Status, ck.Detail = config.Pass, fmt.Sprintf("all %d organisations have one", total)
	}
	return ck
}

// backupCheck is a reminder: backups cannot be seen from here.
func backupCheck(cfg *config.Config) config.Check {
	ck := config.Check{Name: rowBackups, Status: config.Warn,
		Detail: "cannot be checked from here: make sure a backup runs daily and a " +
			"restore was tested this month (docs/runbooks/backup-restore.md)"}
	if db.EngineOf(cfg.DatabaseURL) == db.SQLite {
		ck.Fix = fmt.Sprintf(`sqlite3 %s ".backup cerberus-backup.db"`,
			db.SQLitePath(cfg.DatabaseURL))
		return ck
	}
	ck.Fix = `pg_dump --format=custom --file="cerberus-$(date -u +%F).dump" "$DATABASE_URL"`
	return ck
}
