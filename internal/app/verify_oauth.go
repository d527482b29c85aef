package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/cerberus-iam/cerberus/internal/config"
)

// jwks is a fetched key set.
type jwks = jose.JSONWebKeySet

// signingAlgorithmsAccepted are the algorithms verify accepts in a token.
var signingAlgorithmsAccepted = []jose.SignatureAlgorithm{jose.EdDSA, jose.RS256, jose.ES256}

// jwks fetches the key set and checks that every key is a complete public
// signing key: it parses, is valid, has a kid and an algorithm, and holds
// no private part.
func (v *verifier) jwks(ctx context.Context) config.Check {
	const name = "JWKS"
	target := v.endpoint("jwks_uri", "/oauth2/jwks.json")
	var set jwks
	if err := v.getJSON(ctx, target, &set); err != nil {
		return fail(name, err.Error(), "check the server's log; the signing keys are "+
			"created at startup (`cerberus keys list`)")
	}
	if len(set.Keys) == 0 {
		return fail(name, target+" has no keys", "run `cerberus keys rotate`")
	}
	var described []string
	for _, k := range set.Keys {
		if problem := keyProblem(k); problem != "" {
			return fail(name, fmt.Sprintf("key %q: %s", k.KeyID, problem),
				"rotate the signing keys: `cerberus keys rotate`")
		}
		described = append(described, k.KeyID[:min(8, len(k.KeyID))]+"… "+k.Algorithm)
	}
	v.keys = &set
	return pass(name, fmt.Sprintf("%d usable keys: %s", len(set.Keys),
		strings.Join(described, ", ")))
}

func keyProblem(k jose.JSONWebKey) string {
	switch {
	case !k.Valid():
		return "not a valid key"
	case !k.IsPublic():
		return "a private key is published"
	case k.KeyID == "":
		return "no kid"
	case k.Algorithm == "":
		return "no alg"
	case k.Use != "sig":
		return "use is " + k.Use + ", not sig"
	}
	return ""
}

// clientCredentials obtains a token with the client-credentials grant,
// verifies its signature against the JWKS, and introspects it.
func (v *verifier) clientCredentials(ctx context.Context, id, secret string) []config.Check {
	const name, introName = "Client credentials token", "Token introspection"
	form := url.Values{"grant_type": {"client_credentials"}}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	status, err := v.postForm(ctx, v.endpoint("token_endpoint", "/oauth2/token"), form,
		id, secret, &tok)
	if err != nil || status != http.StatusOK || tok.AccessToken == "" {
		detail := fmt.Sprintf("token endpoint answered %d", status)
		if err != nil {
			detail = err.Error()
		}
		return []config.Check{fail(name, detail, "check the client id and secret, and "+
			"that the client allows client_credentials"),
			fail(introName, "not checked: no token", "fix the token row")}
	}
	first := v.verifyToken(name, tok.AccessToken)
	return []config.Check{first, v.introspect(ctx, introName, tok.AccessToken, id, secret)}
}

// verifyToken checks the access token's signature with the JWKS key its
// header names.
func (v *verifier) verifyToken(name, token string) config.Check {
	if v.keys == nil {
		return fail(name, "token issued, but not verified: no usable JWKS",
			"fix the JWKS row")
	}
	sig, err := jose.ParseSigned(token, signingAlgorithmsAccepted)
	if err != nil {
		return fail(name, "token issued, but it is not a JWS: "+err.Error(),
			"check JWT_ALG")
	}
	kid := sig.Signatures[0].Header.KeyID
	keys := v.keys.Key(kid)
	if len(keys) == 0 {
		return fail(name, "token signed with key "+kid+", which the JWKS lacks",
			"check that every instance shares the database (same signing keys)")
	}
	if _, err := sig.Verify(keys[0]); err != nil {
		return fail(name, "token signature does not verify with key "+kid,
			"rotate the signing keys: `cerberus keys rotate`")
	}
	return pass(name, "issued and verified with key "+kid[:min(8, len(kid))]+"…")
}

// introspect asks the introspection endpoint about token.
func (v *verifier) introspect(ctx context.Context, name, token, id, secret string) config.Check {
	var out struct {
		Active bool `json:"active"`
	}
	status, err := v.postForm(ctx, v.endpoint("introspection_endpoint",
		"/oauth2/introspect"), url.Values{"token": {token}}, id, secret, &out)
	switch {
	case err != nil:
		return fail(name, err.Error(), "check the introspection endpoint")
	case status != http.StatusOK:
		return fail(name, fmt.Sprintf("introspection answered %d", status),
			"allow introspection for the client (introspect: true)")
	case !out.Active:
		return fail(name, "the fresh token is reported inactive",
			"check that every instance shares one database")
	}
	return pass(name, "active: true")
}

// postForm POSTs a form with HTTP Basic client authentication and decodes
// a JSON answer into dst.
func (v *verifier) postForm(ctx context.Context, target string, form url.Values,
	id, secret string, dst any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target,
		strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	f, err := v.do(req)
	if err != nil {
		return 0, err
	}
	if f.resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(f.body, dst); err != nil {
			return f.resp.StatusCode, fmt.Errorf("POST %s: not JSON: %w", target, err)
		}
	}
	return f.resp.StatusCode, nil
}

// login signs the test account in with POST /v1/auth/login and signs it
// out again.
func (v *verifier) login(ctx context.Context, email, password string) config.Check {
	const name = "Login"
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/v1/auth/login",
		bytes.NewReader(body))
	if err != nil {
		return fail(name, err.Error(), "check --url")
	}
	req.Header.Set("Content-Type", "application/json")
	f, err := v.do(req)
	if err != nil {
		return fail(name, "POST /v1/auth/login: "+err.Error(), "check that the server runs")
	}
	if f.resp.StatusCode != http.StatusOK {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(f.body, &p)
		return fail(name, fmt.Sprintf("POST /v1/auth/login answered %d %q",
			f.resp.StatusCode, p.Detail), "check the test account (not blocked, no "+
			"MFA, password current)")
	}
	return pass(name, "signed in"+v.logout(ctx, f.resp))
}

// logout ends the session a login created; it reports the outcome as a
// suffix of the login row.
func (v *verifier) logout(ctx context.Context, login *http.Response) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/v1/auth/logout",
		nil)
	if err != nil {
		return ""
	}
	for _, c := range login.Cookies() {
		req.AddCookie(c)
	}
	req.Header.Set("X-CSRF-Token", login.Header.Get("X-CSRF-Token"))
	f, err := v.do(req)
	if err != nil || f.resp.StatusCode != http.StatusOK {
		return " (sign-out did not succeed; the session expires on its own)"
	}
	return " and out"
}
