package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/webhook"
)

// clientKey is a client's private key with its kid and algorithm.
type clientKey struct {
	alg  jose.SignatureAlgorithm
	kid  string
	priv crypto.Signer
}

func newClientKey(t *testing.T, alg jose.SignatureAlgorithm) clientKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{alg: alg, kid: string(alg) + "-" + db.NewID(), priv: priv}
}

// set returns the public JWK set of keys as a client registers it.
func publicSet(t *testing.T, keys ...clientKey) map[string]any {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid,
			Algorithm: string(k.alg), Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// assertion signs claims with k.
func (k clientKey) assertion(t *testing.T, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg,
		Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// claimsFor are valid assertion claims of c at the test clock.
func (e *env) claimsFor(c *Client, aud string) map[string]any {
	return map[string]any{"iss": c.ClientID, "sub": c.ClientID, "aud": aud,
		"jti": db.NewID(), "iat": e.clk.t.Unix(), "exp": e.clk.t.Add(2 * time.Minute).Unix()}
}

// jwtClient creates a private_key_jwt client with the keys' public set.
func (e *env) jwtClient(t *testing.T, keys ...clientKey) *Client {
	t.Helper()
	set := publicSet(t, keys...)
	c, secret := e.confidential(t, func(in *ClientCreate) {
		in.TokenEndpointAuthMethod = ptr(AuthPrivateKeyJWT)
		in.JWKS = &set
		in.Scopes = ptr([]string{"openid", "offline_access", "orders.read"})
	})
	if secret != "" {
		t.Fatal("a private_key_jwt client received a secret")
	}
	return c
}

func assertionForm(raw string, extra url.Values) url.Values {
	v := url.Values{"client_assertion_type": {ClientAssertionType},
		"client_assertion": {raw}}
	for k, vals := range extra {
		v[k] = vals
	}
	return v
}

var credentialsGrant = url.Values{"grant_type": {GrantClientCredentials},
	"scope": {"orders.read"}}

func TestPrivateKeyJWTEachAlgorithm(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		for _, alg := range assertionAlgs {
			k := newClientKey(t, alg)
			c := e.jwtClient(t, k)
			raw := k.assertion(t, e.claimsFor(c, testIssuer+"/oauth2/token"))
			st, body := e.token(t, nil, "", assertionForm(raw, credentialsGrant))
			if st != http.StatusOK || body["access_token"] == nil {
				t.Fatalf("%s: %d %v", alg, st, body)
			}
			// The issuer is an audience too, at any endpoint.
			raw = k.assertion(t, e.claimsFor(c, testIssuer))
			st, body = e.post(t, e.p.IntrospectEndpoint, nil, "", assertionForm(raw,
				url.Values{"token": {body["access_token"].(string)}}))
			if st != http.StatusOK || body["active"] != true {
				t.Fatalf("%s introspection: %d %v", alg, st, body)
			}
		}
	})
}

func TestPrivateKeyJWTRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		k := newClientKey(t, jose.ES256)
		c := e.jwtClient(t, k)
		tokenURL := testIssuer + "/oauth2/token"
		refused := func(name, raw string, extra url.Values) {
			t.Helper()
			if extra == nil {
				extra = credentialsGrant
			}
			st, body := e.token(t, nil, "", assertionForm(raw, extra))
			if st != http.StatusUnauthorized || body["error"] != CodeInvalidClient {
				t.Errorf("%s: %d %v, want 401 invalid_client", name, st, body)
			}
		}
		replayed := k.assertion(t, e.claimsFor(c, tokenURL))
		if st, body := e.token(t, nil, "", assertionForm(replayed, credentialsGrant)); st != 200 {
			t.Fatalf("first use: %d %v", st, body)
		}
		refused("replayed jti", replayed, nil)

		with := func(k2 clientKey, mod func(map[string]any)) string {
			cl := e.claimsFor(c, tokenURL)
			mod(cl)
			return k2.assertion(t, cl)
		}
		refused("expired", with(k, func(cl map[string]any) {
			cl["exp"] = e.clk.t.Add(-time.Minute).Unix()
		}), nil)
		refused("exp too far ahead", with(k, func(cl map[string]any) {
			cl["exp"] = e.clk.t.Add(10 * time.Minute).Unix()
		}), nil)
		refused("wrong audience", with(k, func(cl map[string]any) {
			cl["aud"] = "https://elsewhere.example.test/oauth2/token"
		}), nil)
		refused("introspection URL at the token endpoint", with(k, func(cl map[string]any) {
			cl["aud"] = testIssuer + "/oauth2/introspect"
		}), nil)
		refused("sub differs", with(k, func(cl map[string]any) { cl["sub"] = "someone" }), nil)
		refused("no jti", with(k, func(cl map[string]any) { delete(cl, "jti") }), nil)
		stranger := newClientKey(t, jose.ES256)
		stranger.kid = k.kid
		refused("key not in the set", with(stranger, func(map[string]any) {}), nil)
		refused("client_id differs", with(k, func(map[string]any) {}),
			url.Values{"grant_type": {GrantClientCredentials}, "client_id": {"other"}})

		st, body := e.token(t, nil, "", url.Values{"grant_type": {GrantClientCredentials},
			"client_assertion_type": {"urn:other"},
			"client_assertion":      {with(k, func(map[string]any) {})}})
		if st != http.StatusUnauthorized || body["error"] != CodeInvalidClient {
			t.Errorf("other assertion type: %d %v", st, body)
		}
		// A secret client cannot switch to an assertion.
		other, _ := e.confidential(t, nil)
		raw := k.assertion(t, e.claimsFor(other, tokenURL))
		refused("client of another method", raw, nil)
	})
}

func TestPrivateKeyJWTFromJWKSURI(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		k := newClientKey(t, jose.EdDSA)
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter,
			_ *http.Request) {
			_ = json.NewEncoder(w).Encode(publicSet(t, k))
		}))
		defer srv.Close()
		e.p.keySets = newKeySets(srv.Client())
		c, _ := e.confidential(t, func(in *ClientCreate) {
			in.TokenEndpointAuthMethod = ptr(AuthPrivateKeyJWT)
			in.JWKSURI = ptr(srv.URL + "/jwks.json")
			in.Scopes = ptr([]string{"orders.read"})
		})
		raw := k.assertion(t, e.claimsFor(c, testIssuer+"/oauth2/token"))
		st, body := e.token(t, nil, "", assertionForm(raw, credentialsGrant))
		if st != http.StatusOK {
			t.Fatalf("jwks_uri client: %d %v", st, body)
		}
	})
}

func TestJWKSClientRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter,
		_ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer srv.Close()
	_, err := newKeySets(nil).fetch(context.Background(), srv.URL)
	if !errors.Is(err, webhook.ErrPrivateTarget) {
		t.Fatalf("fetch of a loopback jwks_uri: %v, want the private-target refusal", err)
	}
}

func TestJWKSFetchLimits(t *testing.T) {
	big := strings.Repeat(" ", jwksMaxBytes+1)
	cases := map[string]http.HandlerFunc{
		"too large": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(big))
		},
		"not 200": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNotFound)
		},
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		},
	}
	for name, h := range cases {
		srv := httptest.NewTLSServer(h)
		client := srv.Client()
		client.CheckRedirect = NewJWKSClient().CheckRedirect
		if _, err := newKeySets(client).fetch(context.Background(), srv.URL); err == nil {
			t.Errorf("%s: fetched", name)
		}
		srv.Close()
	}
}

func TestRegisteredKeySetRules(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	jwk := func(key any, use string) map[string]any {
		b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: "k", Use: use})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return map[string]any{"keys": []any{m}}
	}
	cases := []struct {
		name string
		set  map[string]any
		ok   bool
	}{
		{"public RSA", jwk(&rsaKey.PublicKey, "sig"), true},
		{"private RSA", jwk(rsaKey, "sig"), false},
		{"RSA 1024", jwk(&small.PublicKey, ""), false},
		{"P-384", jwk(&p384.PublicKey, ""), false},
		{"encryption key", jwk(&rsaKey.PublicKey, "enc"), false},
		{"symmetric", map[string]any{"keys": []any{map[string]any{"kty": "oct",
			"k": "c2VjcmV0"}}}, false},
		{"empty", map[string]any{"keys": []any{}}, false},
		{"not a set", map[string]any{"keys": "x"}, false},
	}
	for _, tc := range cases {
		if got := checkKeySet(tc.set) == ""; got != tc.ok {
			t.Errorf("%s: accepted %v, want %v (%s)", tc.name, got, tc.ok, checkKeySet(tc.set))
		}
	}
}
