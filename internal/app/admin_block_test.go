package app

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/crypto"
)

// userTokens runs the authorization-code flow with PKCE for a signed-in
// member through a first-party client allowed users:read, asking for the
// issuer as resource, and returns the client and the token answer.
func userTokens(t *testing.T, o *admOrg, member *admClient) (client *reply, tok *reply) {
	t.Helper()
	r := o.owner.r
	const redirect = "http://127.0.0.1:9/callback"
	client = o.owner.call(http.MethodPost, "/v1/admin/clients", map[string]any{
		"name": "Console", "clientType": "confidential", "isFirstParty": true,
		"grantTypes":   []string{"authorization_code", "refresh_token"},
		"redirectUris": []string{redirect},
		"scopes":       []string{"openid", "offline_access", "users:read"}}).
		want(t, http.StatusCreated, "")
	verifier := crypto.NewToken()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {client.str("clientId")},
		"redirect_uri": {redirect}, "scope": {"openid offline_access users:read"},
		"state": {"s"}, "resource": {r.issuer},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	req := member.request(http.MethodGet, "/oauth2/authorize?"+q.Encode(), nil)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok = r.tokenRequest(client.str("clientId"), client.str("clientSecret"), url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"code_verifier": {verifier}})
	if tok.status != http.StatusOK || tok.str("refresh_token") == "" {
		t.Fatalf("code exchange: %d %s", tok.status, tok.raw)
	}
	return client, tok
}

// TestBlockEndsEveryCredential blocks a user who holds a session, an
// access token and a refresh token: all three fail on their next use, and
// the rows say so.
func TestBlockEndsEveryCredential(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Cascade")
		m := o.member("Cal", o.roles["staff"])
		client, tok := userTokens(t, o, m)
		used := &admClient{r: r, bearer: tok.str("access_token")}
		used.call(http.MethodGet, "/v1/admin/users", nil).want(t, 200, "")
		refreshed := r.tokenRequest(client.str("clientId"), client.str("clientSecret"),
			url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {tok.str("refresh_token")}})
		if refreshed.status != http.StatusOK {
			t.Fatalf("refresh: %d %s", refreshed.status, refreshed.raw)
		}
		fresh := &admClient{r: r, bearer: refreshed.str("access_token")}
		m.call(http.MethodGet, "/v1/admin/users", nil).want(t, 200, "")

		o.owner.call(http.MethodPatch, "/v1/admin/users/"+m.id, map[string]any{
			"blockedAt": "2030-01-01T00:00:00Z"}).want(t, 200, "")

		m.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 401, "Invalid or expired session")
		fresh.call(http.MethodGet, "/v1/admin/users", nil).
			want(t, 401, "Invalid or expired token")
		// The bearer check may trust a token it has just seen for a few
		// seconds; a blocked user holds no permission meanwhile.
		if rep := used.call(http.MethodGet, "/v1/admin/users", nil); rep.status != 401 &&
			rep.str("detail") != "Missing required permission: users:read" {
			t.Fatalf("used token after the block: %d %s", rep.status, rep.raw)
		}
		again := r.tokenRequest(client.str("clientId"), client.str("clientSecret"),
			url.Values{"grant_type": {"refresh_token"},
				"refresh_token": {refreshed.str("refresh_token")}})
		if again.status != http.StatusBadRequest || again.str("error") != "invalid_grant" {
			t.Fatalf("refresh after block: %d %s", again.status, again.raw)
		}
		for q, want := range map[string]int{
			`SELECT COUNT(*) FROM sessions WHERE user_id = $1`:                          0,
			`SELECT COUNT(*) FROM tokens WHERE user_id = $1 AND revoked_at IS NULL`:     0,
			`SELECT COUNT(*) FROM tokens WHERE user_id = $1 AND revoked_at IS NOT NULL`: 2,
			`SELECT COUNT(*) FROM refresh_tokens WHERE user_id = $1
				AND revoked_at IS NULL`: 0,
		} {
			if got := r.count(q, m.id); got != want {
				t.Errorf("%s: %d, want %d", q, got, want)
			}
		}
	})
}
