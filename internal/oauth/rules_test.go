package oauth

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/access"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

func TestLifetimesFollowClientThenOrganisation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.exec(t, `UPDATE organisations SET token_lifetime_policy = $1 WHERE id = $2`,
			db.MustJSON(map[string]int{"accessToken": 600}), e.org)
		ownLifetime, secret1 := e.confidential(t, func(in *ClientCreate) {
			in.AccessTokenLifetime = ptr(120)
		})
		orgLifetime, secret2 := e.confidential(t, nil)
		cc := url.Values{"grant_type": {GrantClientCredentials}, "scope": {""}}
		if _, b := e.token(t, ownLifetime, secret1, cc); b["expires_in"] != float64(120) {
			t.Errorf("client lifetime: expires_in %v, want 120", b["expires_in"])
		}
		if _, b := e.token(t, orgLifetime, secret2, cc); b["expires_in"] != float64(600) {
			t.Errorf("organisation policy: expires_in %v, want 600", b["expires_in"])
		}
	})
}

func TestMaxAgeAndPromptLoginNeedAFreshSignIn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		c, _ := e.confidential(t, func(in *ClientCreate) { in.IsFirstParty = ptr(true) })
		old := e.sessionPrincipal(t, e.user, e.org)
		e.clk.advance(2 * time.Hour)
		v := url.Values{"client_id": {c.ClientID}, "redirect_uri": {c.RedirectURIs[0]},
			"response_type": {"code"}, "code_challenge": {challenge(verifier)},
			"code_challenge_method": {"S256"}, "max_age": {"60"}, "login_hint": {"a@b.test"}}
		out := e.authorize(t, v, old)
		if !strings.HasPrefix(out.Redirect, testIssuer+"/auth/login?") ||
			!strings.Contains(out.Redirect, "prompt=login") ||
			!strings.Contains(out.Redirect, "login_hint=a%40b.test") {
			t.Fatalf("max_age exceeded: %+v", out)
		}
		resume := queryOf(t, out.Redirect).Get("redirect_uri")
		id := queryOf(t, resume).Get("request_id")
		if out := e.authorize(t, url.Values{"request_id": {id}}, old); out.Redirect == "" ||
			!strings.Contains(out.Redirect, "/auth/login") {
			t.Fatalf("resume with the old session: %+v", out)
		}
		fresh := e.sessionPrincipal(t, e.user, e.org)
		out = e.authorize(t, url.Values{"request_id": {id}}, fresh)
		if queryOf(t, out.Redirect).Get("code") == "" {
			t.Fatalf("resume after a fresh sign-in: %+v", out)
		}
		v.Del("max_age")
		v.Set("prompt", "none")
		other := e.addOrg(t, "beta")
		stranger := e.addUser(t, other, "b@beta.test", "owner")
		out = e.authorize(t, v, e.sessionPrincipal(t, stranger, other))
		if queryOf(t, out.Redirect).Get("error") != CodeLoginRequired {
			t.Fatalf("user of another organisation with prompt=none: %+v", out)
		}
	})
}

// A max_age too large for a time.Duration in nanoseconds still means a
// long time, not an immediate sign-in.
func TestHugeMaxAgeKeepsTheSession(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		c, _ := e.confidential(t, func(in *ClientCreate) { in.IsFirstParty = ptr(true) })
		s := e.sessionPrincipal(t, e.user, e.org)
		e.clk.advance(time.Minute)
		for maxAge, want := range map[string]string{"9300000000": "code",
			"99999999999999999999": "code", "-1": "error", "1e9": "error", "+60": "error"} {
			v := url.Values{"client_id": {c.ClientID}, "redirect_uri": {c.RedirectURIs[0]},
				"response_type": {"code"}, "code_challenge": {challenge(verifier)},
				"code_challenge_method": {"S256"}, "max_age": {maxAge}}
			out := e.authorize(t, v, s)
			if q := queryOf(t, out.Redirect); q.Get(want) == "" {
				t.Errorf("max_age=%s: %+v, want a redirect with %s", maxAge, out, want)
			}
		}
	})
}

func queryOf(t *testing.T, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query()
}

func TestIntrospectionVisibility(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		owner, ownerSecret := e.confidential(t, nil)
		peer, peerSecret := e.confidential(t, nil)
		auditor, auditorSecret := e.confidential(t, func(in *ClientCreate) {
			in.Introspect = ptr(true)
		})
		_, tok := e.token(t, owner, ownerSecret, url.Values{
			"grant_type": {GrantClientCredentials}})
		form := func() url.Values { return url.Values{"token": {tok["access_token"].(string)}} }
		for _, tc := range []struct {
			c      *Client
			secret string
			active bool
		}{{owner, ownerSecret, true}, {peer, peerSecret, false}, {auditor, auditorSecret, true}} {
			_, b := e.post(t, e.p.IntrospectEndpoint, tc.c, tc.secret, form())
			if b["active"] != tc.active {
				t.Errorf("client %s sees active=%v, want %v", tc.c.Name, b["active"], tc.active)
			}
		}
		// Another organisation's auditor sees nothing.
		other := e.addOrg(t, "beta")
		boss := e.addUser(t, other, "boss@beta.test", "owner")
		e.owner = &access.Principal{Kind: access.KindSession, OrganisationID: other,
			UserID: boss}
		foreign, foreignSecret := e.confidential(t, func(in *ClientCreate) {
			in.Introspect = ptr(true)
		})
		_, b := e.post(t, e.p.IntrospectEndpoint, foreign, foreignSecret, form())
		if b["active"] != false {
			t.Errorf("auditor of another organisation sees the token: %v", b)
		}
	})
}

// Introspection reports an access token inactive from its exp on; only
// bearer checks allow the clock skew.
func TestIntrospectionEndsAtExp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		c, secret := e.confidential(t, nil)
		issued := e.clk.t
		_, tok := e.token(t, c, secret, url.Values{"grant_type": {GrantClientCredentials}})
		at := tok["access_token"].(string)
		life := time.Duration(tok["expires_in"].(float64)) * time.Second
		for _, tc := range []struct {
			at     time.Duration
			active bool
		}{{life - time.Second, true}, {life, false}, {life + 20*time.Second, false}} {
			e.clk.t = issued.Add(tc.at)
			_, b := e.post(t, e.p.IntrospectEndpoint, c, secret, url.Values{"token": {at}})
			if b["active"] != tc.active {
				t.Errorf("%v after issue: %v, want active=%v", tc.at, b, tc.active)
			}
		}
		if _, _, err := e.p.verifyAccess(context.Background(), at); err != nil {
			t.Errorf("bearer check 20 s after exp (within skew): %v", err)
		}
	})
}
