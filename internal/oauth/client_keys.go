package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cerberus-iam/cerberus/internal/webhook"
)

// Limits of fetching a client's jwks_uri.
const (
	jwksFetchTimeout = 5 * time.Second
	jwksMaxBytes     = 64 << 10
	// jwksTTL is how long a fetched key set is trusted.
	jwksTTL = 5 * time.Minute
	// jwksMinRefetch spaces the fetches an unknown kid may cause, so a
	// stream of bad assertions cannot make the server hammer a client.
	jwksMinRefetch = 30 * time.Second
	// maxKeySets bounds the cache; it is cleared when full.
	maxKeySets = 1000
	// minRSABits is the smallest RSA key accepted for assertions.
	minRSABits = 2048
)

// assertionAlgs are the algorithms of client assertions (RFC 7523).
var assertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// AssertionAlgs are the assertion algorithms as discovery lists them.
var AssertionAlgs = []string{string(jose.RS256), string(jose.ES256), string(jose.EdDSA)}

var errNoRedirect = errors.New("jwks_uri redirects are not followed")

// NewJWKSClient returns the HTTP client that fetches clients' jwks_uri:
// a short timeout, no redirects, and a dialer that refuses loopback,
// private and link-local addresses (the webhook package's guard), so a
// registered URI cannot make the server probe its own network.
func NewJWKSClient() *http.Client {
	guard := webhook.NewGuard(nil, false)
	return &http.Client{
		Timeout: jwksFetchTimeout,
		Transport: &http.Transport{DialContext: guard.DialContext,
			TLSHandshakeTimeout: jwksFetchTimeout, ResponseHeaderTimeout: jwksFetchTimeout,
			MaxResponseHeaderBytes: 16 << 10},
		CheckRedirect: func(*http.Request, []*http.Request) error { return errNoRedirect },
	}
}

// keySets caches the key sets fetched from clients' jwks_uri.
type keySets struct {
	client *http.Client

	mu      sync.Mutex
	entries map[string]cachedKeySet
}

type cachedKeySet struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

func newKeySets(client *http.Client) *keySets {
	if client == nil {
		client = NewJWKSClient()
	}
	return &keySets{client: client, entries: map[string]cachedKeySet{}}
}

// get returns the keys at uri, from the cache while fresh; stale forces a
// fetch unless the last one is more recent than jwksMinRefetch.
func (k *keySets) get(ctx context.Context, uri string, stale bool) ([]jose.JSONWebKey,
	error) {
	k.mu.Lock()
	e, ok := k.entries[uri]
	k.mu.Unlock()
	age := time.Since(e.fetched)
	if ok && (age < jwksMinRefetch || !stale && age < jwksTTL) {
		return e.keys, nil
	}
	keys, err := k.fetch(ctx, uri)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.entries) >= maxKeySets {
		clear(k.entries)
	}
	k.entries[uri] = cachedKeySet{keys: keys, fetched: time.Now()}
	k.mu.Unlock()
	return keys, nil
}

// fetch downloads and parses the key set at uri.
func (k *keySets) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks_uri: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read jwks_uri: %w", err)
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("jwks_uri answer exceeds %d bytes", jwksMaxBytes)
	}
	keys, _, err := parseKeySet(body)
	return keys, err
}

// parseKeySet reads a JWK set and returns its usable signature keys and
// the number of members it had to skip (not public, unsupported type or
// curve, or another use than sig).
func parseKeySet(raw []byte) ([]jose.JSONWebKey, int, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, 0, fmt.Errorf("parse key set: %w", err)
	}
	var out []jose.JSONWebKey
	skipped := 0
	for _, m := range set.Keys {
		var k jose.JSONWebKey
		if json.Unmarshal(m, &k) != nil || !usableKey(k) {
			skipped++
			continue
		}
		out = append(out, k)
	}
	return out, skipped, nil
}

// usableKey reports a public signature key of a supported type: RSA of
// at least 2048 bits, EC P-256 or Ed25519.
func usableKey(k jose.JSONWebKey) bool {
	if !k.Valid() || !k.IsPublic() || k.Use != "" && k.Use != "sig" {
		return false
	}
	alg := keyAlg(k)
	return alg != "" && (k.Algorithm == "" || k.Algorithm == string(alg))
}

// keyAlg returns the one assertion algorithm a key may verify, or "".
func keyAlg(k jose.JSONWebKey) jose.SignatureAlgorithm {
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() >= minRSABits {
			return jose.RS256
		}
	case *ecdsa.PublicKey:
		if pub.Curve == elliptic.P256() {
			return jose.ES256
		}
	case ed25519.PublicKey:
		return jose.EdDSA
	}
	return ""
}

// checkKeySet validates a client's registered jwks: a JWK set whose every
// member is a usable public signature key. It returns "" or the problem.
func checkKeySet(set map[string]any) string {
	raw, err := json.Marshal(set)
	if err != nil {
		return "Must be a JWK set"
	}
	keys, skipped, err := parseKeySet(raw)
	switch {
	case err != nil:
		return "Must be a JWK set"
	case skipped > 0:
		return "Every key must be a public RS256 (2048 bits or more), ES256 or " +
			"EdDSA signature key"
	case len(keys) == 0:
		return "At least one key is required"
	}
	return ""
}

// clientKeys returns the keys a client signs its assertions with: its
// registered jwks, or the set at its jwksUri (refetched when stale is set,
// within the refetch spacing).
func (p *Provider) clientKeys(ctx context.Context, c *Client, stale bool) (
	[]jose.JSONWebKey, error) {
	if c.JWKS != nil {
		raw, err := json.Marshal(*c.JWKS)
		if err != nil {
			return nil, fmt.Errorf("client jwks: %w", err)
		}
		keys, _, err := parseKeySet(raw)
		return keys, err
	}
	if c.JWKSURI == nil || httpsURLProblem(*c.JWKSURI) != "" {
		return nil, errors.New("client has no usable jwks_uri")
	}
	return p.keySets.get(ctx, *c.JWKSURI, stale)
}
