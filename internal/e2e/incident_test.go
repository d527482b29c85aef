package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// userTokens signs the owner in through a relying party and returns its
// access and refresh tokens.
func userTokens(t *testing.T, o *oauthEnv, c rpClient) *oauth2.Token {
	t.Helper()
	rp := newRelyingParty(t, o.s, c, "EdDSA")
	verifier := oauth2.GenerateVerifier()
	cb := o.signIn(newPageBrowser(t), rp.config.AuthCodeURL("st",
		oauth2.S256ChallengeOption(verifier), oidc.Nonce("n")))
	tok, err := rp.config.Exchange(context.Background(), cb.Query().Get("code"),
		oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// clientToken gets a client-credentials access token for c, meant for the
// admin API (its audience names the issuer).
func clientToken(t *testing.T, o *oauthEnv, c rpClient, scope string) string {
	t.Helper()
	body := clientForm(t, o, c, "/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "scope": {scope}, "resource": {o.s.URL}})
	tok, _ := body["access_token"].(string)
	if tok == "" {
		t.Fatalf("client credentials: %v", body)
	}
	return tok
}

// bearerStatus calls path with a bearer token and returns the status.
func bearerStatus(t *testing.T, s *e2e.Server, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTokensRevokeAll issues user and client tokens, revokes them all with
// the CLI while the server runs, and checks every one of them fails: at
// userinfo, at the admin API, at the token endpoint and at introspection.
func TestTokensRevokeAll(t *testing.T) {
	o := newOAuthEnv(t, db.Postgres, map[string]string{"PASSWORD_HASH_MEMORY_KIB": "19456",
		"PASSWORD_HASH_ITERATIONS": "1", "PASSWORD_HASH_PARALLELISM": "1"})
	rp := o.createClient(nil)
	service := o.createClient(map[string]any{"grantTypes": []string{"client_credentials"},
		"scopes": []string{"users:read"}, "introspect": true})
	user := userTokens(t, o, rp)
	machine := clientToken(t, o, service, "users:read")
	if st := bearerStatus(t, o.s, "/v1/admin/users", machine); st != http.StatusOK {
		t.Fatalf("client token before the revocation: %d", st)
	}

	code, out := e2e.Run(t, o.s.Dir, o.s.Env, "tokens", "revoke-all", "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run") ||
		!strings.Contains(out, "access tokens        2") {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	if got := introspectAs(t, o, rp, user.RefreshToken); got["active"] != true {
		t.Fatalf("the dry run revoked the refresh token: %v", got)
	}
	code, out = e2e.Run(t, o.s.Dir, o.s.Env, "tokens", "revoke-all", "--org", o.slug)
	if code != 0 || !strings.Contains(out, "refresh tokens       1") {
		t.Fatalf("revoke-all: %d\n%s", code, out)
	}

	if st := bearerStatus(t, o.s, "/oauth2/userinfo", user.AccessToken); st != 401 {
		t.Errorf("userinfo with a revoked access token: %d", st)
	}
	if got := introspectAs(t, o, rp, user.RefreshToken); got["active"] != false {
		t.Errorf("refresh token still active: %v", got)
	}
	st, body := clientFormStatus(t, o, rp, "/oauth2/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {user.RefreshToken}})
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("refresh with a revoked token: %d %v", st, body)
	}
	// The client token was checked before, so the server may trust its
	// cached state for a few seconds more.
	hookWait(t, 20*time.Second, "the used client token to be refused", func() bool {
		return bearerStatus(t, o.s, "/v1/admin/users", machine) == http.StatusUnauthorized
	})
	d := hookDB(t, o.s.Env["DATABASE_URL"])
	if n := hookCount(t, d, `SELECT COUNT(*) FROM audit_logs WHERE event_type =
		'system.tokens_revoked_all' AND actor_type = 'system'`); n != 1 {
		t.Errorf("%d revocation audit rows", n)
	}
}

// TestUsersForcePasswordReset flags the organisation's users from the CLI:
// their sessions end, login asks for a reset, and the reset email the
// running server sends lets them back in.
func TestUsersForcePasswordReset(t *testing.T) {
	s, smtp := startWithMail(t, nil)
	o := oauthOnboard(t, s, "Reset "+oauthWord())
	code, out := e2e.Run(t, s.Dir, s.Env, "users", "force-password-reset", "--org", o.slug,
		"--dry-run")
	if code != 0 || !strings.Contains(out, "would be flagged") {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	code, out = e2e.Run(t, s.Dir, s.Env, "users", "force-password-reset", "--org", o.slug)
	if code != 0 || !strings.Contains(out, "reset emails queued: 1") {
		t.Fatalf("force-password-reset: %d\n%s", code, out)
	}
	if resp, _ := o.call(http.MethodGet, "/v1/admin/webhooks", nil); resp.StatusCode != 401 {
		t.Errorf("the owner's session survived: %d", resp.StatusCode)
	}
	b := newAccountBrowser(t, s.URL)
	b.login(o.email, o.password, "").want(t, 401, "Password reset required")

	var token string
	hookWait(t, 30*time.Second, "the reset email", func() bool {
		for _, m := range smtp.To(o.email) {
			if l := m.Link("https://admin.example.test/reset-password"); l != "" {
				token = m.Token()
			}
		}
		return token != ""
	})
	b.call(http.MethodPost, "/v1/auth/reset-password", map[string]any{"token": token,
		"password": "Brand-New-Horse-7!"}).want(t, 200, "")
	b.login(o.email, "Brand-New-Horse-7!", "").want(t, 200, "")
}

// TestSecretsRotateKeepsEverySecretWorking seals a TOTP seed, a rotated
// webhook secret pair and the signing keys under one key, re-seals them
// with the CLI under a new key, and restarts the server with the new key
// alone: the TOTP code, the webhook signature and token signing still work
// with the very same secrets.
func TestSecretsRotateKeepsEverySecretWorking(t *testing.T) {
	url, dir, oldKey := dbtest.URL(t, db.Postgres), t.TempDir(), e2e.NewKey()
	env := hookEnv(url, oldKey)
	s := e2e.Start(t, e2e.Options{DatabaseURL: url, Dir: dir, Env: env})
	o := oauthOnboard(t, s, "Rotate "+oauthWord())
	seed := enableTOTP(t, o)
	rcv := newHookReceiver(t)
	hook := hookCreate(o, rcv, "user.created")
	resp, rotated := o.call(http.MethodPost, "/v1/admin/webhooks/"+hook+"/rotate-secret", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rotate webhook secret: %d", resp.StatusCode)
	}
	rcv.setSecret(rotated["secret"].(string))
	service := o.createClient(map[string]any{"grantTypes": []string{"client_credentials"},
		"scopes": []string{"users:read"}})
	kids := jwksKids(t, s)
	s.Stop(t)

	newKey := e2e.NewKey()
	rotating := hookEnv(url, newKey)
	rotating["SECRET_ENCRYPTION_KEY_PREVIOUS"] = oldKey
	code, out := e2e.Run(t, dir, rotating, "secrets", "rotate")
	if code != 0 || !strings.Contains(out, "webhook_endpoints.previous_secret  1") {
		t.Fatalf("secrets rotate: %d\n%s", code, out)
	}
	s = e2e.Start(t, e2e.Options{DatabaseURL: url, Dir: dir, Env: hookEnv(url, newKey)})
	o.s = s

	b := newAccountBrowser(t, s.URL)
	b.login(o.email, o.password, codeAt(t, seed, 30*time.Second)).want(t, 200, "")
	rcv.setDecide(func(int) hookAction { return hookOK })
	o.csrf = b.csrf
	o.admin = b.hc
	hookTestEvent(o, hook)
	hookWait(t, 30*time.Second, "the signed test delivery", func() bool {
		return len(rcv.accepted()) == 1
	})
	token := clientToken(t, o, service, "users:read")
	checkSignedBy(t, token, kids)
	if st := bearerStatus(t, s, "/v1/admin/users", token); st != http.StatusOK {
		t.Errorf("token signed after the rotation refused: %d", st)
	}
}

// enableTOTP turns on MFA for the owner and returns the TOTP seed.
func enableTOTP(t *testing.T, o *oauthEnv) string {
	t.Helper()
	resp, body := o.call(http.MethodPost, "/v1/me/mfa/enable", nil)
	seed, _ := body["secret"].(string)
	if resp.StatusCode != http.StatusOK || seed == "" {
		t.Fatalf("mfa enable: %d %v", resp.StatusCode, body)
	}
	resp, body = o.call(http.MethodPost, "/v1/me/mfa/verify",
		map[string]any{"token": codeAt(t, seed, 0)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mfa verify: %d %v", resp.StatusCode, body)
	}
	return seed
}

// jwksKids returns the key set of the server by kid.
func jwksKids(t *testing.T, s *e2e.Server) map[string]jose.JSONWebKey {
	t.Helper()
	resp, err := http.Get(s.URL + "/oauth2/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	out := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		out[k.KeyID] = k
	}
	return out
}

// checkSignedBy verifies a JWT with the key of its kid among kids.
func checkSignedBy(t *testing.T, token string, kids map[string]jose.JSONWebKey) {
	t.Helper()
	jws, err := jose.ParseSigned(token,
		[]jose.SignatureAlgorithm{jose.EdDSA, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	key, ok := kids[jws.Signatures[0].Header.KeyID]
	if !ok {
		t.Fatalf("token signed by kid %s, not one of the keys before the rotation",
			jws.Signatures[0].Header.KeyID)
	}
	if _, err := jws.Verify(key.Key); err != nil {
		t.Errorf("signature: %v", err)
	}
}
