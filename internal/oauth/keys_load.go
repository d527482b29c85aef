package oauth

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// List returns every stored key, newest first.
func (k *KeyStore) List(ctx context.Context) ([]KeyInfo, error) {
	keys, err := k.load(ctx, k.db, false)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, len(keys))
	for i, key := range keys {
		out[i] = key.KeyInfo
	}
	return out, nil
}

// JWKS returns the published key set: active keys and retired keys still
// within their publication time, public halves only.
func (k *KeyStore) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	keys, err := k.load(ctx, k.db, true)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, key := range keys {
		if k.published(key) {
			set.Keys = append(set.Keys, key.public)
		}
	}
	return set, nil
}

// Check reports an error unless every algorithm has a usable active key:
// the readiness check of the signing keys.
func (k *KeyStore) Check(ctx context.Context) error {
	for _, alg := range Algorithms {
		if _, err := k.active(ctx, k.db, alg); err != nil {
			return err
		}
	}
	return nil
}

// published reports whether a key belongs in the JWKS.
func (k *KeyStore) published(key signingKey) bool {
	if key.Status == KeyActive {
		return true
	}
	return key.RetiredAt != nil && k.now().Sub(*key.RetiredAt) < RetiredKeyPublished
}

// active returns the newest active key of alg, reading the set with q
// when the cache is stale.
func (k *KeyStore) active(ctx context.Context, q db.Querier, alg string) (signingKey, error) {
	keys, err := k.load(ctx, q, true)
	if err != nil {
		return signingKey{}, err
	}
	for _, key := range keys {
		if key.Alg == alg && key.Status == KeyActive && key.private != nil {
			return key, nil
		}
	}
	return signingKey{}, fmt.Errorf("no active %s signing key", alg)
}

// publicKey returns the published key with that kid, reloading the set
// once when the kid is unknown (a key made by another instance).
func (k *KeyStore) publicKey(ctx context.Context, kid string) (signingKey, bool, error) {
	for _, reload := range []bool{false, true} {
		keys, err := k.load(ctx, k.db, !reload)
		if err != nil {
			return signingKey{}, false, err
		}
		for _, key := range keys {
			if key.KID == kid && k.published(key) {
				return key, true, nil
			}
		}
	}
	return signingKey{}, false, nil
}

// invalidate drops the cached key set.
func (k *KeyStore) invalidate() {
	k.mu.Lock()
	k.keys, k.loadedAt = nil, time.Time{}
	k.mu.Unlock()
}

// minReload spaces forced reloads so unknown kids cannot hammer the
// database.
const minReload = time.Second

// load returns the key set, from the cache when useCache and it is fresh,
// else read with q. A caller inside a transaction passes the transaction:
// waiting for a second pooled connection while holding one (and its row
// locks) can exhaust the pool and deadlock concurrent requests.
func (k *KeyStore) load(ctx context.Context, q db.Querier, useCache bool) ([]signingKey,
	error) {
	k.mu.Lock()
	age := time.Since(k.loadedAt)
	if k.keys != nil && (age < minReload || useCache && age < keyCacheTTL) {
		keys := k.keys
		k.mu.Unlock()
		return keys, nil
	}
	k.mu.Unlock()
	keys, err := k.read(ctx, q)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.keys, k.loadedAt = keys, time.Now()
	k.mu.Unlock()
	return keys, nil
}

func (k *KeyStore) read(ctx context.Context, q db.Querier) ([]signingKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT kid, alg, public_key, private_key, status,
		created_at, retired_at FROM jwks ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	defer rows.Close()
	var out []signingKey
	for rows.Next() {
		key, err := k.scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	return out, rows.Err()
}

func (k *KeyStore) scanKey(rows interface{ Scan(...any) error }) (signingKey, error) {
	var key signingKey
	var pub string
	var sealed *string
	err := rows.Scan(&key.KID, &key.Alg, &pub, &sealed, &key.Status,
		db.Time(&key.CreatedAt), db.NullTime(&key.RetiredAt))
	if err != nil {
		return key, fmt.Errorf("scan signing key: %w", err)
	}
	if err := json.Unmarshal([]byte(pub), &key.public); err != nil {
		return key, fmt.Errorf("decode public key %s: %w", key.KID, err)
	}
	if sealed != nil {
		if key.private, err = k.openPrivate(*sealed); err != nil {
			return key, fmt.Errorf("open private key %s: %w", key.KID, err)
		}
	}
	return key, nil
}

func (k *KeyStore) openPrivate(sealed string) (crypto.Signer, error) {
	der, err := k.ring.Open(sealed)
	if err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("stored key is not a signer")
	}
	return signer, nil
}

// sign serialises claims as a compact JWS with the active key of alg and
// the header typ.
// sign signs claims with the active key of alg; q reads the key set when
// the cache is stale (see load).
func (k *KeyStore) sign(ctx context.Context, q db.Querier, alg, typ string,
	claims any) (string, error) {
	key, err := k.active(ctx, q, alg)
	if err != nil {
		return "", err
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).
		WithHeader(jose.HeaderKey("kid"), key.KID)
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(alg), Key: key.private}, opts)
	if err != nil {
		return "", fmt.Errorf("signer %s: %w", key.KID, err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign with %s: %w", key.KID, err)
	}
	return jws.CompactSerialize()
}
