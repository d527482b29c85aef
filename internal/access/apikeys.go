package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// APIKey is an API key as the administration API shows it; the key itself
// is shown once, at creation.
type APIKey struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	Scopes      []string   `json:"scopes"`
	CreatedByID string     `json:"createdById"`
	LastUsedAt  *Timestamp `json:"lastUsedAt"`
	ExpiresAt   *Timestamp `json:"expiresAt"`
	RevokedAt   *Timestamp `json:"revokedAt"`
	CreatedAt   Timestamp  `json:"createdAt"`
	UpdatedAt   Timestamp  `json:"updatedAt"`
}

// APIKeySorts maps the sort fields of the key list to their columns.
var APIKeySorts = map[string]string{"createdAt": "created_at", "name": "name",
	"lastUsedAt": "last_used_at"}

// APIKeyQuery selects keys: a page and optionally revoked or live ones.
type APIKeyQuery struct {
	Page    Page
	Revoked *bool
}

// APIKeyCreate is the body of a key creation. ExpiresInDays nil means the
// key never expires.
type APIKeyCreate struct {
	Name          string   `json:"name"`
	Scopes        []string `json:"scopes"`
	ExpiresInDays *int     `json:"expiresInDays"`
}

// Limits of API keys.
const (
	maxKeyScopes  = 50
	maxKeyDays    = 3650
	keyRandomLen  = 8  // [a-z0-9] characters of the visible prefix
	keySecretLen  = 43 // base64url characters of the secret part
	keyLiveMarker = "ck_live_"
	keyTestMarker = "ck_test_"
	// keyPrefixLen is the length of the stored prefix: marker + random part.
	keyPrefixLen = len(keyLiveMarker) + keyRandomLen
	// keyLength is the length of a whole key.
	keyLength = keyPrefixLen + 1 + keySecretLen
	// lastUsedInterval is how stale last_used_at must be before a use
	// writes it again.
	lastUsedInterval = time.Minute
)

// KeyWarning is the warning shown with a new key.
const KeyWarning = "Store this key now; it will not be shown again"

// Errors of the key rules.
var (
	errKeyNotFound  = apperr.NotFoundf("API key")
	errKeyByNonUser = apperr.New(apperr.Forbidden, "API keys can only be created by a user")
	// ErrInvalidAPIKey answers a key that is unknown, revoked, expired or
	// whose creator or organisation is gone or blocked.
	ErrInvalidAPIKey = apperr.New(apperr.Unauthorized, "Invalid or expired API key")
)

const keyAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newKey makes a key and its stored prefix.
func (s *Service) newKey() (key, prefix string) {
	marker := keyTestMarker
	if s.live {
		marker = keyLiveMarker
	}
	prefix = marker + crypto.RandomString(keyAlphabet, keyRandomLen)
	return prefix + "_" + crypto.NewToken(), prefix
}

// CreateAPIKey creates a key for the actor, who must be a user (session
// or user access token) able to grant every scope (audit
// api_key.created). It returns the key and its secret form, shown once.
// Errors: 400 "Invalid input", 403 "API keys can only be created by a
// user", 403 "Cannot grant permissions you do not hold".
func (s *Service) CreateAPIKey(ctx context.Context, actor *Principal, in APIKeyCreate) (
	*APIKey, string, error) {
	if !actor.IsUser() {
		return nil, "", errKeyByNonUser
	}
	scopes, err := checkKeyCreate(&in)
	if err != nil {
		return nil, "", err
	}
	if err := s.checkGrant(ctx, actor, scopes...); err != nil {
		return nil, "", err
	}
	raw, prefix := s.newKey()
	now := s.clock()
	k := &APIKey{ID: db.NewID(), Name: in.Name, Prefix: prefix, Scopes: scopes,
		CreatedByID: actor.UserID, CreatedAt: Stamp(now), UpdatedAt: Stamp(now)}
	if in.ExpiresInDays != nil {
		k.ExpiresAt = StampPtr(ptr(now.AddDate(0, 0, *in.ExpiresInDays)))
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		return s.insertKey(ctx, tx, actor.OrganisationID, k, crypto.HashToken(raw))
	})
	if err != nil {
		return nil, "", err
	}
	return k, raw, nil
}

func ptr[T any](v T) *T { return &v }

// checkKeyCreate validates a creation body and returns its distinct
// scopes.
func checkKeyCreate(in *APIKeyCreate) ([]string, error) {
	var c checker
	in.Name = c.Text("name", in.Name, maxName)
	var scopes []string
	switch n := len(in.Scopes); {
	case n == 0:
		c.Add("scopes", apperr.CodeRequired, "At least one scope is required")
	case n > maxKeyScopes:
		c.Add("scopes", apperr.CodeTooLarge, "At most 50 scopes")
	}
	for i, sc := range in.Scopes {
		if !IsCatalogued(sc) {
			c.Add("scopes."+strconv.Itoa(i), apperr.CodeInvalidValue, "Unknown permission")
		} else if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if d := in.ExpiresInDays; d != nil && (*d < 1 || *d > maxKeyDays) {
		c.Add("expiresInDays", apperr.CodeInvalidValue, "Must be from 1 to 3650, or null")
	}
	return scopes, c.Err()
}

func (s *Service) insertKey(ctx context.Context, tx *sql.Tx, orgID string, k *APIKey,
	hash string) error {
	var expires *time.Time
	if k.ExpiresAt != nil {
		expires = ptr(k.ExpiresAt.Time())
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, organisation_id,
		created_by_id, name, prefix, key_hash, scopes, expires_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`, k.ID, orgID, k.CreatedByID,
		k.Name, k.Prefix, hash, db.MustJSON(k.Scopes), expires, k.CreatedAt.Time())
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	return s.events.Record(ctx, tx, event.Event{Type: "api_key.created",
		OrganisationID: orgID, UserID: k.CreatedByID, ResourceType: "api_key",
		ResourceID: k.ID, Metadata: map[string]any{"name": k.Name, "prefix": k.Prefix,
			"scopes": k.Scopes}})
}

const keyColumns = `id, name, prefix, scopes, created_by_id, last_used_at, expires_at,
	revoked_at, created_at, updated_at`

func scanKey(sc interface{ Scan(...any) error }) (*APIKey, error) {
	var k APIKey
	var lastUsed, expires, revoked *time.Time
	var created, updated time.Time
	err := sc.Scan(&k.ID, &k.Name, &k.Prefix, db.JSON(&k.Scopes), &k.CreatedByID,
		db.NullTime(&lastUsed), db.NullTime(&expires), db.NullTime(&revoked),
		db.Time(&created), db.Time(&updated))
	if err != nil {
		return nil, err
	}
	k.LastUsedAt, k.ExpiresAt, k.RevokedAt = StampPtr(lastUsed), StampPtr(expires),
		StampPtr(revoked)
	k.CreatedAt, k.UpdatedAt = Stamp(created), Stamp(updated)
	return &k, nil
}

// ListAPIKeys returns a page of an organisation's keys and their total.
func (s *Service) ListAPIKeys(ctx context.Context, orgID string, q APIKeyQuery) ([]APIKey,
	int, error) {
	where := ` FROM api_keys WHERE organisation_id = $1`
	switch {
	case q.Revoked != nil && *q.Revoked:
		where += ` AND revoked_at IS NOT NULL`
	case q.Revoked != nil:
		where += ` AND revoked_at IS NULL`
	}
	total, err := count(ctx, s.db, `SELECT COUNT(*)`+where, orgID)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+where+
		q.Page.OrderBy(APIKeySorts, "id")+fmt.Sprintf(" LIMIT %d OFFSET %d",
		q.Page.Limit, q.Page.Offset()), orgID)
	if err != nil {
		return nil, 0, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	out := []APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan api key: %w", err)
		}
		out = append(out, *k)
	}
	return out, total, rows.Err()
}

// APIKey returns a key of the organisation: 404 "API key not found".
func (s *Service) APIKey(ctx context.Context, orgID, id string) (*APIKey, error) {
	return readKey(ctx, s.db, orgID, id)
}

func readKey(ctx context.Context, q db.Querier, orgID, id string) (*APIKey, error) {
	if !db.ValidID(id) {
		return nil, errKeyNotFound
	}
	k, err := scanKey(q.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys
		WHERE id = $1 AND organisation_id = $2`, id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read api key: %w", err)
	}
	return k, nil
}

// RevokeAPIKey revokes a key for good (audit api_key.revoked). Revoking a
// revoked key changes nothing. Error: 404 "API key not found".
func (s *Service) RevokeAPIKey(ctx context.Context, orgID, id string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		k, err := readKey(ctx, tx, orgID, id)
		if err != nil || k.RevokedAt != nil {
			return err
		}
		now := s.clock()
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1, updated_at = $1
			WHERE id = $2 AND organisation_id = $3 AND revoked_at IS NULL`, now, k.ID, orgID)
		if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		if !affected(res) {
			return nil // a concurrent request revoked it first
		}
		return s.events.Record(ctx, tx, event.Event{Type: "api_key.revoked",
			OrganisationID: orgID, UserID: k.CreatedByID, ResourceType: "api_key",
			ResourceID: k.ID, Metadata: map[string]any{"prefix": k.Prefix}})
	})
}

// storedKey is a key row with the state of its creator and organisation.
type storedKey struct {
	id, orgID, creator, hash string
	scopes                   []string
	lastUsed, expires        *time.Time
	revoked                  *time.Time
	creatorGone, orgGone     bool
}

// AuthenticateAPIKey implements the API key credential of the HTTP
// guards: a well-formed key found by its prefix, whose SHA-256 matches in
// constant time, neither revoked nor expired, whose creator is live and
// not blocked in a live organisation. last_used_at is written at most
// once a minute. Any failure is ErrInvalidAPIKey.
func (s *Service) AuthenticateAPIKey(ctx context.Context, raw string) (*Principal, error) {
	if !wellFormedKey(raw) {
		return nil, ErrInvalidAPIKey
	}
	k, err := s.lookupKey(ctx, raw[:keyPrefixLen])
	if err != nil {
		return nil, err
	}
	now := s.clock()
	if k == nil || !crypto.EqualHash(crypto.HashToken(raw), k.hash) || !k.usable(now) {
		return nil, ErrInvalidAPIKey
	}
	if k.lastUsed == nil || now.Sub(*k.lastUsed) >= lastUsedInterval {
		if err := s.touchKey(ctx, k.id, now); err != nil {
			return nil, err
		}
	}
	return &Principal{Kind: KindAPIKey, OrganisationID: k.orgID, UserID: k.creator,
		Scopes: k.scopes, APIKeyID: k.id}, nil
}

// wellFormedKey checks the shape ck_live_|ck_test_ + 8 [a-z0-9] + _ + 43
// base64url characters before any query.
func wellFormedKey(raw string) bool {
	if len(raw) != keyLength {
		return false
	}
	marker := raw[:len(keyLiveMarker)]
	if marker != keyLiveMarker && marker != keyTestMarker || raw[keyPrefixLen] != '_' {
		return false
	}
	for _, c := range raw[len(keyLiveMarker):keyPrefixLen] {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	for _, c := range raw[keyPrefixLen+1:] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Service) lookupKey(ctx context.Context, prefix string) (*storedKey, error) {
	var k storedKey
	var userDeleted, blocked, orgDeleted *time.Time
	err := s.db.QueryRowContext(ctx, `SELECT k.id, k.organisation_id, k.created_by_id,
		k.key_hash, k.scopes, k.last_used_at, k.expires_at, k.revoked_at, u.deleted_at,
		u.blocked_at, o.deleted_at FROM api_keys k
		JOIN users u ON u.id = k.created_by_id
		JOIN organisations o ON o.id = k.organisation_id
		WHERE k.prefix = $1`, prefix).Scan(&k.id, &k.orgID, &k.creator, &k.hash,
		db.JSON(&k.scopes), db.NullTime(&k.lastUsed), db.NullTime(&k.expires),
		db.NullTime(&k.revoked), db.NullTime(&userDeleted), db.NullTime(&blocked),
		db.NullTime(&orgDeleted))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read api key: %w", err)
	}
	k.creatorGone = userDeleted != nil || blocked != nil
	k.orgGone = orgDeleted != nil
	return &k, nil
}

// usable reports a key neither revoked nor expired whose creator and
// organisation are live.
func (k *storedKey) usable(now time.Time) bool {
	return k.revoked == nil && (k.expires == nil || now.Before(*k.expires)) &&
		!k.creatorGone && !k.orgGone
}

func (s *Service) touchKey(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2
		AND (last_used_at IS NULL OR last_used_at <= $3)`, now, id,
		now.Add(-lastUsedInterval))
	if err != nil {
		return fmt.Errorf("record api key use: %w", err)
	}
	return nil
}
