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
	"golang.org/x/oauth2"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// TestRelyingPartyFullFlow drives the server with a real relying party:
// discovery, authorization code with PKCE through the hosted login and
// consent pages, ID token verification (EdDSA, then RS256), userinfo,
// refresh, introspection, revocation and RP-initiated logout.
func TestRelyingPartyFullFlow(t *testing.T) {
	o := newOAuthEnv(t, db.Postgres, nil)
	for _, alg := range []string{"EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			o.t = t
			c := o.createClient(map[string]any{"idTokenSignedResponseAlg": alg})
			rp := newRelyingParty(t, o.s, c, alg)
			runRelyingParty(t, o, c, rp)
		})
	}
}

func runRelyingParty(t *testing.T, o *oauthEnv, c rpClient, rp *relyingParty) {
	ctx := context.Background()
	b := newPageBrowser(t)
	verifier := oauth2.GenerateVerifier()
	authURL := rp.config.AuthCodeURL("st-123", oauth2.S256ChallengeOption(verifier),
		oidc.Nonce("n-456"))
	cb := o.signIn(b, authURL)
	q := cb.Query()
	if q.Get("state") != "st-123" || q.Get("iss") != o.s.URL || q.Get("code") == "" {
		t.Fatalf("callback %s", cb)
	}

	tok, err := rp.config.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify id token: %v", err)
	}
	var claims map[string]any
	_ = idt.Claims(&claims)
	if idt.Nonce != "n-456" || claims["email"] != o.email || claims["sid"] == nil ||
		claims["acr"] != "urn:cerberus:loa:1" || claims["azp"] != c.ClientID {
		t.Fatalf("id token claims %v", claims)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}

	info, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Email != o.email || info.Subject != idt.Subject {
		t.Fatalf("userinfo: %+v %v", info, err)
	}

	// Refresh: a new access and refresh token.
	stale := &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
	fresh, err := rp.config.TokenSource(ctx, stale).Token()
	if err != nil || fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == "" {
		t.Fatalf("refresh: %v", err)
	}

	if active := introspectAs(t, o, c, fresh.AccessToken); active["active"] != true ||
		active["username"] != o.email {
		t.Fatalf("introspect access token: %v", active)
	}
	if rt := introspectAs(t, o, c, fresh.RefreshToken); rt["token_type"] != "refresh_token" {
		t.Fatalf("introspect refresh token: %v", rt)
	}
	revokeAs(t, o, c, fresh.AccessToken)
	if got := introspectAs(t, o, c, fresh.AccessToken); got["active"] != false {
		t.Fatalf("revoked token still active: %v", got)
	}

	// RP-initiated logout with the hint of this session: at once.
	logout := o.s.URL + "/oauth2/logout?" + url.Values{"id_token_hint": {raw},
		"post_logout_redirect_uri": {"http://127.0.0.1:9/bye"}, "state": {"bye"}}.Encode()
	resp, _ := b.get(logout)
	if resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != "http://127.0.0.1:9/bye?state=bye" {
		t.Fatalf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.get(authURL)
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "/auth/login") {
		t.Fatalf("after logout the session still works: %s", loc)
	}
}

// introspect calls the introspection endpoint as c.
func introspectAs(t *testing.T, o *oauthEnv, c rpClient, token string) map[string]any {
	t.Helper()
	return clientForm(t, o, c, "/oauth2/introspect", url.Values{"token": {token}})
}

func revokeAs(t *testing.T, o *oauthEnv, c rpClient, token string) {
	t.Helper()
	if got := clientForm(t, o, c, "/oauth2/revoke", url.Values{"token": {token}}); len(got) != 0 {
		t.Fatalf("revoke answered %v", got)
	}
}

// clientPost posts a form with Basic client authentication and decodes the
// JSON answer, failing on a status other than 200.
func clientForm(t *testing.T, o *oauthEnv, c rpClient, path string,
	form url.Values) map[string]any {
	t.Helper()
	st, body := clientFormStatus(t, o, c, path, form)
	if st != http.StatusOK {
		t.Fatalf("%s: %d %v", path, st, body)
	}
	return body
}

func clientFormStatus(t *testing.T, o *oauthEnv, c rpClient, path string,
	form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, o.s.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.Secret != "" {
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.Secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
