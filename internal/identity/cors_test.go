package identity_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
)

func TestOrganisationAllowsOrigin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		r := newRig(t, d, nil)
		a := r.onboard(t, "cors-a@example.com")
		b := r.onboard(t, "cors-b@example.com")
		_, err := d.ExecContext(t.Context(), `UPDATE organisations SET allowed_origins = $1
			WHERE id = $2`, db.MustJSON([]string{"https://app.a.example"}), a.Organisation.ID)
		if err != nil {
			t.Fatal(err)
		}
		req := func(slug string) *http.Request {
			q := httptest.NewRequest(http.MethodGet, "/v1/admin/users", nil)
			if slug != "" {
				q.Header.Set("X-Org-Domain", slug)
			}
			return q
		}
		withSession := req("")
		withSession.AddCookie(&http.Cookie{Name: "cerb_sid", Value: a.SessionToken})
		cases := []struct {
			name      string
			r         *http.Request
			origin    string
			preflight bool
			want      bool
		}{
			{"own organisation", req(a.Organisation.Slug), "https://app.a.example", false, true},
			{"other organisation", req(b.Organisation.Slug), "https://app.a.example", false,
				false},
			{"no organisation", req(""), "https://app.a.example", false, false},
			{"session's organisation", withSession, "https://app.a.example", false, true},
			{"unlisted origin", req(a.Organisation.Slug), "https://evil.example", false, false},
			{"preflight listed", req(""), "https://app.a.example", true, true},
			{"preflight unlisted", req(""), "https://evil.example", true, false},
		}
		for _, c := range cases {
			if got := r.svc.OrganisationAllows(c.r, c.origin, c.preflight); got != c.want {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	})
}
