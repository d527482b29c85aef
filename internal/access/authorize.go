package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
)

// Covers reports whether the holder set held covers perm: it contains `*`,
// `<resource>:*` or perm itself. There is no other wildcard form.
func Covers(held []string, perm string) bool {
	if slices.Contains(held, Wildcard) || slices.Contains(held, perm) {
		return true
	}
	res, _, ok := strings.Cut(perm, ":")
	return ok && slices.Contains(held, res+":*")
}

// CanGrant reports whether an actor holding held may grant perm without
// escalating: `*` only by `*`, `<resource>:*` by `*` or `<resource>:*`,
// anything else by a covering set.
func CanGrant(held []string, perm string) bool {
	if perm == Wildcard {
		return slices.Contains(held, Wildcard)
	}
	return Covers(held, perm)
}

// ErrCannotGrant refuses a grant beyond the actor's own permissions.
var ErrCannotGrant = apperr.New(apperr.Forbidden, "Cannot grant permissions you do not hold")

// CheckGrant returns ErrCannotGrant unless held may grant every perm.
func CheckGrant(held []string, perms ...string) error {
	for _, p := range perms {
		if !CanGrant(held, p) {
			return ErrCannotGrant
		}
	}
	return nil
}

// Authorizer evaluates permissions. It caches each user's effective set
// keyed by the organisation's rbac_version, which every change to roles,
// role permissions or memberships increments in its own transaction, so a
// cached set never outlives a committed change.
type Authorizer struct {
	db *db.DB

	mu    sync.Mutex
	cache map[string]cachedSet
}

type cachedSet struct {
	version int64
	perms   []string
}

// maxCached bounds the cache; it is cleared when full.
const maxCached = 10_000

// NewAuthorizer returns an Authorizer reading d.
func NewAuthorizer(d *db.DB) *Authorizer {
	return &Authorizer{db: d, cache: map[string]cachedSet{}}
}

// BumpRBAC marks a change to the organisation's roles, role permissions or
// memberships; call it in the transaction of the change.
func BumpRBAC(ctx context.Context, q db.Querier, orgID string) error {
	_, err := q.ExecContext(ctx,
		"UPDATE organisations SET rbac_version = rbac_version + 1 WHERE id = $1", orgID)
	if err != nil {
		return fmt.Errorf("bump rbac version: %w", err)
	}
	return nil
}

// Permissions returns the effective permission set of a user of orgID: the
// union of the permissions of the user's roles, wildcards as held, sorted.
func (a *Authorizer) Permissions(ctx context.Context, orgID, userID string) ([]string, error) {
	var version int64
	err := a.db.QueryRowContext(ctx, `SELECT rbac_version FROM organisations
		WHERE id = $1 AND deleted_at IS NULL`, orgID).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read rbac version: %w", err)
	}
	key := orgID + "/" + userID
	a.mu.Lock()
	c, ok := a.cache[key]
	a.mu.Unlock()
	if ok && c.version == version {
		return c.perms, nil
	}
	perms, err := UserPermissions(ctx, a.db, orgID, userID)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxCached {
		clear(a.cache)
	}
	a.cache[key] = cachedSet{version: version, perms: perms}
	a.mu.Unlock()
	return perms, nil
}

// UserPermissions reads the effective permission set of a user with q,
// without the cache (inside a transaction that is about to change it). A
// blocked or deleted user holds nothing, so a credential checked against
// the user's current set stops working with the block.
func UserPermissions(ctx context.Context, q db.Querier, orgID, userID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT p.slug FROM user_roles ur
		JOIN users u ON u.id = ur.user_id
		JOIN roles r ON r.id = ur.role_id
		JOIN role_permissions rp ON rp.role_id = r.id
		JOIN permissions p ON p.id = rp.permission_id
		WHERE ur.user_id = $1 AND r.organisation_id = $2 AND u.blocked_at IS NULL
		AND u.deleted_at IS NULL ORDER BY p.slug`, userID, orgID)
	if err != nil {
		return nil, fmt.Errorf("read permissions: %w", err)
	}
	defer rows.Close()
	perms := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("scan permission: %w", err)
		}
		perms = append(perms, s)
	}
	return perms, rows.Err()
}

// Require returns nil when p may use perm, following the rules of each
// credential kind, and a 403 naming perm otherwise.
//
//   - session: the user's effective set covers perm;
//   - user access token: its scopes and the user's current set cover perm;
//   - client-credentials token: its scopes cover perm;
//   - API key: its scopes and its creator's current set cover perm.
//
// Audience and the activity of users and creators are checked when the
// credential is authenticated.
func (a *Authorizer) Require(ctx context.Context, p *Principal, perm string) error {
	if p == nil {
		return apperr.New(apperr.Unauthorized, "Authentication required")
	}
	if p.Kind == KindAPIKey && !Covers(p.Scopes, perm) {
		return errKeyScope(perm)
	}
	if (p.Kind == KindUserToken || p.Kind == KindClientToken) && !Covers(p.Scopes, perm) {
		return apperr.MissingPermission(perm)
	}
	if p.Kind == KindClientToken {
		return nil
	}
	held, err := a.Permissions(ctx, p.OrganisationID, p.UserID)
	if err != nil {
		return err
	}
	if !Covers(held, perm) && p.Kind == KindAPIKey {
		// The key's effective scope is what both the key and its
		// creator hold, so a key answers in its own words either way.
		return errKeyScope(perm)
	}
	if !Covers(held, perm) {
		return apperr.MissingPermission(perm)
	}
	return nil
}

// errKeyScope is the 403 of an API key whose effective scope misses perm.
func errKeyScope(perm string) error {
	return apperr.New(apperr.Forbidden, "API key lacks required scope: "+perm)
}

// Held returns the set a principal may grant from: the user's current set
// for sessions; the scopes of a client token; for user tokens and API keys
// the catalogue permissions covered both by the credential's scopes and by
// the user's current set.
func (a *Authorizer) Held(ctx context.Context, p *Principal) ([]string, error) {
	if p.Kind == KindClientToken {
		return p.Scopes, nil
	}
	user, err := a.Permissions(ctx, p.OrganisationID, p.UserID)
	if err != nil || p.Kind == KindSession {
		return user, err
	}
	out := []string{}
	for _, s := range Catalogue() {
		if Covers(p.Scopes, s) && Covers(user, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
