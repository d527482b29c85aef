package e2e_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/e2e"
)

// keyRows counts the keys `cerberus keys list` prints.
func keyRows(t *testing.T, s *e2e.Server) (active, retired int) {
	t.Helper()
	code, out := e2e.Run(t, s.Dir, s.Env, "keys", "list")
	if code != 0 {
		t.Fatalf("keys list: %d\n%s", code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		switch f[2] {
		case "active":
			active++
		case "retired":
			retired++
		}
	}
	return active, retired
}

// TestKeyRotationAcrossInstances runs two instances on one PostgreSQL:
// the second one makes no keys of its own, tokens signed before a
// rotation verify after it on both, and a revoked token is refused by
// both once the 5 s state cache has passed.
func TestKeyRotationAcrossInstances(t *testing.T) {
	url0 := dbtest.URL(t, db.Postgres)
	key := e2e.NewKey()
	env := map[string]string{"SECRET_ENCRYPTION_KEY": key}
	a := e2e.Start(t, e2e.Options{DatabaseURL: url0, Env: env})
	// Instances behind one load balancer share ISSUER_URL.
	env["ISSUER_URL"] = a.URL
	b := e2e.Start(t, e2e.Options{DatabaseURL: url0, Env: env, NoWait: true})
	b.URL = "http://127.0.0.1:" + strconv.Itoa(b.Port)
	b.WaitHealthy(t, 20*time.Second)
	if active, retired := keyRows(t, a); active != 2 || retired != 0 {
		t.Fatalf("after two starts: %d active, %d retired keys; want 2 and 0", active, retired)
	}

	o := oauthOnboard(t, a, "Rotate "+oauthWord())
	svc := serviceClient(o)
	before := serviceToken(t, o, svc)
	onB := &oauthEnv{t: t, s: b}

	code, out := e2e.Run(t, a.Dir, a.Env, "keys", "rotate")
	if code != 0 || !strings.Contains(out, "signing keys rotated") {
		t.Fatalf("keys rotate: %d\n%s", code, out)
	}
	if active, retired := keyRows(t, a); active != 2 || retired != 2 {
		t.Fatalf("after rotation: %d active, %d retired; want 2 and 2", active, retired)
	}
	for name, s := range map[string]*oauthEnv{"A": o, "B": onB} {
		if st := bearerGet(t, s, "/v1/admin/clients", before, nil); st != http.StatusOK {
			t.Errorf("token signed before the rotation refused on %s: %d", name, st)
		}
	}

	token := serviceToken(t, o, svc)
	if st := bearerGet(t, onB, "/v1/admin/clients", token, nil); st != http.StatusOK {
		t.Fatalf("fresh token on B: %d", st)
	}
	revokeAs(t, o, svc, token)
	time.Sleep(5100 * time.Millisecond) // the state cache bound of the contract
	for name, s := range map[string]*oauthEnv{"A": o, "B": onB} {
		if st := bearerGet(t, s, "/v1/admin/clients", token, nil); st != http.StatusUnauthorized {
			t.Errorf("revoked token on %s after 5 s: %d", name, st)
		}
	}

	code, out = e2e.Run(t, a.Dir, a.Env, "keys", "rotate", "--retire-now")
	if code != 0 {
		t.Fatalf("keys rotate --retire-now: %d\n%s", code, out)
	}
	if active, retired := keyRows(t, a); active != 2 || retired != 0 {
		t.Fatalf("after --retire-now: %d active, %d retired; want 2 and 0", active, retired)
	}
	time.Sleep(10100 * time.Millisecond) // instances reread the key set every 10 s
	for _, s := range []*e2e.Server{a, b} {
		if jwks := bodyOf(t, s.URL+"/oauth2/jwks.json"); strings.Count(jwks, `"kid"`) != 2 {
			t.Errorf("JWKS after --retire-now: %s", jwks)
		}
	}
}

// bodyOf returns the body of a GET that must answer 200.
func bodyOf(t *testing.T, u string) string {
	t.Helper()
	b := newPageBrowser(t)
	resp, body := b.get(u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	return body
}
