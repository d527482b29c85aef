package e2e_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// jwtKey is a client's signing key, used through go-jose directly.
type jwtKey struct {
	alg  jose.SignatureAlgorithm
	kid  string
	priv crypto.Signer
}

func newJWTKey(t *testing.T, alg jose.SignatureAlgorithm) jwtKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil || priv == nil {
		t.Fatalf("key %s: %v", alg, err)
	}
	return jwtKey{alg: alg, kid: strings.ToLower(string(alg)) + "-" + oauthWord(), priv: priv}
}

// jwks is the public JWK set of k as the admin API takes it.
func (k jwtKey) jwks(t *testing.T) map[string]any {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return out
}

// sign returns a compact JWS of claims signed by k.
func (k jwtKey) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg,
		Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
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

// assertionClaims are fresh claims of a client assertion for aud.
func assertionClaims(clientID, aud string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": clientID, "sub": clientID, "aud": aud,
		"jti": oauthWord() + oauthWord(), "iat": now.Unix(),
		"exp": now.Add(2 * time.Minute).Unix()}
}

// assertionPost posts form to path authenticated by assertion.
func assertionPost(t *testing.T, o *oauthEnv, path, assertion string,
	form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	form.Set("client_assertion_type",
		"urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", assertion)
	resp, err := http.PostForm(o.s.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// pkjwtClient creates a private_key_jwt client holding k's public key.
func (o *oauthEnv) pkjwtClient(k jwtKey, extra map[string]any) rpClient {
	o.t.Helper()
	body := map[string]any{"tokenEndpointAuthMethod": "private_key_jwt",
		"jwks": k.jwks(o.t), "grantTypes": []string{"authorization_code",
			"refresh_token", "client_credentials"},
		"scopes": []string{"openid", "offline_access", "orders.read"}}
	for key, v := range extra {
		body[key] = v
	}
	c := o.createClient(body)
	if c.Secret != "" {
		o.t.Fatal("a private_key_jwt client was given a secret")
	}
	return c
}

// TestPrivateKeyJWTClients authenticates clients with assertions signed
// by go-jose for each algorithm at the token, introspection and
// revocation endpoints, and checks the refusals: a replayed jti, an
// expired assertion, a wrong audience and a key outside the client's set.
func TestPrivateKeyJWTClients(t *testing.T) {
	o := newOAuthEnv(t, db.Postgres, nil)
	tokenURL := o.s.URL + "/oauth2/token"
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			o.t = t
			k := newJWTKey(t, alg)
			c := o.pkjwtClient(k, nil)
			resp, tok := assertionPost(t, o, "/oauth2/token",
				k.sign(t, assertionClaims(c.ClientID, tokenURL)),
				url.Values{"grant_type": {"client_credentials"}, "scope": {"orders.read"}})
			if resp.StatusCode != http.StatusOK || tok["access_token"] == nil {
				t.Fatalf("client credentials: %d %v", resp.StatusCode, tok)
			}
			at := tok["access_token"].(string)
			resp, got := assertionPost(t, o, "/oauth2/introspect",
				k.sign(t, assertionClaims(c.ClientID, o.s.URL+"/oauth2/introspect")),
				url.Values{"token": {at}})
			if resp.StatusCode != http.StatusOK || got["active"] != true {
				t.Fatalf("introspection: %d %v", resp.StatusCode, got)
			}
			resp, _ = assertionPost(t, o, "/oauth2/revoke",
				k.sign(t, assertionClaims(c.ClientID, o.s.URL)), url.Values{"token": {at}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revocation: %d", resp.StatusCode)
			}
			refusals(t, o, c, k)
		})
	}
}

// refusals checks that each bad assertion is answered invalid_client.
func refusals(t *testing.T, o *oauthEnv, c rpClient, k jwtKey) {
	tokenURL := o.s.URL + "/oauth2/token"
	replayed := k.sign(t, assertionClaims(c.ClientID, tokenURL))
	grant := func() url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "scope": {"orders.read"}}
	}
	resp, body := assertionPost(t, o, "/oauth2/token", replayed, grant())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first use: %d %v", resp.StatusCode, body)
	}
	expired := assertionClaims(c.ClientID, tokenURL)
	expired["exp"] = time.Now().Add(-2 * time.Minute).Unix()
	expired["iat"] = time.Now().Add(-4 * time.Minute).Unix()
	stranger := newJWTKey(t, k.alg)
	stranger.kid = k.kid
	cases := map[string]string{
		"replayed jti": replayed,
		"expired":      k.sign(t, expired),
		"wrong audience": k.sign(t, assertionClaims(c.ClientID,
			"https://other.example.test/oauth2/token")),
		"key not in the client's set": stranger.sign(t, assertionClaims(c.ClientID, tokenURL)),
	}
	for name, raw := range cases {
		resp, body := assertionPost(t, o, "/oauth2/token", raw, grant())
		if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" ||
			resp.Header.Get("WWW-Authenticate") != `Basic realm="cerberus"` {
			t.Errorf("%s: %d %v %q", name, resp.StatusCode, body,
				resp.Header.Get("WWW-Authenticate"))
		}
	}
}
