package oauth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	cercrypto "github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// The signing algorithms of the provider.
const (
	AlgEdDSA = "EdDSA"
	AlgRS256 = "RS256"
)

// Algorithms lists the signing algorithms; each has one active key.
var Algorithms = []string{AlgEdDSA, AlgRS256}

// Key statuses.
const (
	KeyActive  = "active"
	KeyRetired = "retired"
)

// RetiredKeyPublished is how long a retired key stays in the JWKS, longer
// than any token lifetime.
const RetiredKeyPublished = 7 * 24 * time.Hour

// keyCacheTTL bounds how long an instance trusts its copy of the key set,
// so a rotation by another instance is seen within it.
const keyCacheTTL = 10 * time.Second

// KeyInfo describes a signing key without its private half.
type KeyInfo struct {
	KID       string
	Alg       string
	Status    string
	CreatedAt time.Time
	RetiredAt *time.Time
}

// signingKey is a loaded key: public JWK and, while kept, the private key.
type signingKey struct {
	KeyInfo
	public  jose.JSONWebKey
	private crypto.Signer
}

// KeyStore keeps the signing keys in the jwks table: it creates, rotates,
// publishes and loads them. Private keys are sealed with the key ring.
type KeyStore struct {
	db          *db.DB
	ring        *cercrypto.KeyRing
	events      *event.Recorder
	now         func() time.Time
	rotateEvery time.Duration

	mu       sync.Mutex
	keys     []signingKey
	loadedAt time.Time
}

// NewKeyStore returns a KeyStore rotating keys every rotateEvery.
func NewKeyStore(d *db.DB, ring *cercrypto.KeyRing, rec *event.Recorder,
	now func() time.Time, rotateEvery time.Duration) *KeyStore {
	return &KeyStore{db: d, ring: ring, events: rec, now: now, rotateEvery: rotateEvery}
}

// rotationLock is the database lock of key creation and rotation.
const rotationLock = "key-rotation"

// Ensure creates an active key for every algorithm that has none. It
// waits for the rotation lock held by another starting instance.
func (k *KeyStore) Ensure(ctx context.Context) error {
	release, err := k.waitLock(ctx)
	if err != nil {
		return err
	}
	defer release()
	err = k.db.Tx(ctx, func(tx *sql.Tx) error {
		active, err := activeAlgs(ctx, tx)
		if err != nil {
			return err
		}
		for _, alg := range Algorithms {
			if active[alg] {
				continue
			}
			if _, err := k.insertKey(ctx, tx, alg); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ensure signing keys: %w", err)
	}
	k.invalidate()
	return nil
}

// waitLock takes the rotation lock, retrying for up to 30 s while another
// instance holds it.
func (k *KeyStore) waitLock(ctx context.Context) (func(), error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		release, err := k.db.TryLock(ctx, rotationLock)
		if !errors.Is(err, db.ErrLockHeld) || time.Now().After(deadline) {
			return release, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Rotate makes a new active key per algorithm and retires the previous
// ones; retireNow deletes the previous keys at once instead, taking them
// out of the JWKS. It records system.keys_rotated and returns the keys
// after the change.
func (k *KeyStore) Rotate(ctx context.Context, retireNow bool) ([]KeyInfo, error) {
	release, err := k.waitLock(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := k.rotate(ctx, retireNow); err != nil {
		return nil, err
	}
	return k.List(ctx)
}

// RotateIfDue rotates when the newest active key is older than the
// rotation period and purges retired keys past their publication time. It
// does nothing when another instance holds the rotation lock, and reports
// whether it rotated.
func (k *KeyStore) RotateIfDue(ctx context.Context) (bool, error) {
	release, err := k.db.TryLock(ctx, rotationLock)
	if errors.Is(err, db.ErrLockHeld) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer release()
	if err := k.purgeRetired(ctx); err != nil {
		return false, err
	}
	due, err := k.rotationDue(ctx)
	if err != nil || !due {
		return false, err
	}
	return true, k.rotate(ctx, false)
}

func (k *KeyStore) rotationDue(ctx context.Context) (bool, error) {
	var newest time.Time
	err := k.db.QueryRowContext(ctx, `SELECT created_at FROM jwks WHERE status = $1
		ORDER BY created_at DESC LIMIT 1`, KeyActive).Scan(db.Time(&newest))
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read newest signing key: %w", err)
	}
	return k.now().Sub(newest) >= k.rotateEvery, nil
}

func (k *KeyStore) rotate(ctx context.Context, retireNow bool) error {
	now := k.now().UTC().Truncate(time.Millisecond)
	err := k.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := retireActive(ctx, tx, now, retireNow); err != nil {
			return err
		}
		var kids []string
		for _, alg := range Algorithms {
			kid, err := k.insertKey(ctx, tx, alg)
			if err != nil {
				return err
			}
			kids = append(kids, kid)
		}
		return k.events.Record(ctx, tx, event.Event{Type: "system.keys_rotated",
			ResourceType: "jwks", Metadata: map[string]any{"kids": kids,
				"retireNow": retireNow}})
	})
	if err != nil {
		return fmt.Errorf("rotate signing keys: %w", err)
	}
	k.invalidate()
	return nil
}

// retireActive retires the active keys, or deletes every other key when
// retireNow is set.
func retireActive(ctx context.Context, q db.Querier, now time.Time, retireNow bool) error {
	var err error
	if retireNow {
		_, err = q.ExecContext(ctx, `DELETE FROM jwks`)
	} else {
		_, err = q.ExecContext(ctx, `UPDATE jwks SET status = $1, retired_at = $2,
			updated_at = $2 WHERE status = $3`, KeyRetired, now, KeyActive)
	}
	if err != nil {
		return fmt.Errorf("retire signing keys: %w", err)
	}
	return nil
}

// purgeRetired removes retired keys once their publication time is over:
// the private key is erased with the row.
func (k *KeyStore) purgeRetired(ctx context.Context) error {
	cutoff := k.now().Add(-RetiredKeyPublished)
	res, err := k.db.ExecContext(ctx, `DELETE FROM jwks WHERE status = $1
		AND retired_at < $2`, KeyRetired, cutoff)
	if err != nil {
		return fmt.Errorf("purge retired signing keys: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		k.invalidate()
	}
	return nil
}

func activeAlgs(ctx context.Context, q db.Querier) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT alg FROM jwks WHERE status = $1`,
		KeyActive)
	if err != nil {
		return nil, fmt.Errorf("read active keys: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var alg string
		if err := rows.Scan(&alg); err != nil {
			return nil, fmt.Errorf("scan active key: %w", err)
		}
		out[alg] = true
	}
	return out, rows.Err()
}

// insertKey generates a key of alg, stores it active and returns its kid.
func (k *KeyStore) insertKey(ctx context.Context, q db.Querier, alg string) (string, error) {
	priv, err := generateKey(alg)
	if err != nil {
		return "", err
	}
	pub, err := publicJWK(priv, alg)
	if err != nil {
		return "", err
	}
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("encode private key: %w", err)
	}
	sealed, err := k.ring.Seal(der)
	if err != nil {
		return "", fmt.Errorf("seal private key: %w", err)
	}
	now := k.now().UTC().Truncate(time.Millisecond)
	_, err = q.ExecContext(ctx, `INSERT INTO jwks (id, kid, alg, public_key, private_key,
		status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
		db.NewID(), pub.KeyID, alg, string(pubJSON), sealed, KeyActive, now)
	if err != nil {
		return "", fmt.Errorf("insert signing key: %w", err)
	}
	return pub.KeyID, nil
}

func generateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case AlgEdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case AlgRS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
}

// publicJWK returns the public JWK of priv with kid = RFC 7638 thumbprint.
func publicJWK(priv crypto.Signer, alg string) (jose.JSONWebKey, error) {
	jwk := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("key thumbprint: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	return jwk, nil
}
