package app

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

func TestAdminInvitations(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Inviting")
		c := o.owner
		team := c.call(http.MethodPost, "/v1/admin/teams", map[string]any{"name": "Ops",
			"slug": "ops"}).want(t, 201, "").str("id")
		rep := c.call(http.MethodPost, "/v1/admin/invitations", map[string]any{
			"email": " Guest@Example.com ", "roleId": o.roles["manager"],
			"teamIds": []string{team}}).want(t, 201, "")
		id := rep.str("id")
		inviter := rep.obj("invitedBy")
		if rep.str("email") != "guest@example.com" || rep.str("status") != "pending" ||
			rep.str("invitedById") != c.id || inviter["id"] != c.id ||
			rep.body["acceptedAt"] != nil || len(rep.body["teamIds"].([]any)) != 1 {
			t.Fatalf("invitation: %s", rep.raw)
		}
		created, _ := time.Parse(time.RFC3339, rep.str("createdAt"))
		expires, _ := time.Parse(time.RFC3339, rep.str("expiresAt"))
		if expires.Sub(created) != 7*24*time.Hour {
			t.Fatalf("default expiry %s", expires.Sub(created))
		}
		if _, leaked := rep.body["token"]; leaked {
			t.Fatal("token returned")
		}
		first := r.mailData("guest@example.com", "invitation")["token"].(string)
		pub := &admClient{r: r}
		pub.call(http.MethodGet, "/v1/public/invitations/"+first, nil).want(t, 200, "")

		c.call(http.MethodPost, "/v1/admin/invitations", map[string]any{
			"email": "guest@example.com", "roleId": o.roles["staff"]}).
			want(t, 409, "A pending invitation already exists for this email")
		c.call(http.MethodPost, "/v1/admin/invitations", map[string]any{
			"email": userEmail(t, o, c.id), "roleId": o.roles["staff"]}).
			want(t, 409, "Email already registered")
		c.call(http.MethodPost, "/v1/admin/invitations", map[string]any{
			"email": "x@example.com", "roleId": o.roles["owner"]}).
			want(t, 400, "The Owner role cannot be assigned or removed")
		c.call(http.MethodPost, "/v1/admin/invitations", map[string]any{"email": "nope",
			"teamIds": []string{db.NewID()}, "expiresInDays": 31}).
			wantField(t, "email", "invalid_format").wantField(t, "roleId", "required").
			wantField(t, "teamIds.0", "invalid_value").
			wantField(t, "expiresInDays", "invalid_value")
		c.call(http.MethodPost, "/v1/admin/invitations", map[string]any{
			"email": "y@example.com", "roleId": db.NewID()}).
			wantField(t, "roleId", "invalid_value")
		mgr := o.member("Meg", o.roles["manager"])
		mgr.call(http.MethodPost, "/v1/admin/invitations", map[string]any{
			"email": "z@example.com", "roleId": o.roles["admin"]}).
			want(t, 403, "Cannot grant permissions you do not hold")

		rep = c.call(http.MethodPost, "/v1/admin/invitations/"+id+"/resend", nil).
			want(t, 200, "")
		if rep.str("message") != "Invitation resent" ||
			rep.obj("invitation")["id"] != id {
			t.Fatalf("resend: %s", rep.raw)
		}
		second := r.mailData("guest@example.com", "invitation")["token"].(string)
		if second == first {
			t.Fatal("resend kept the token")
		}
		pub.call(http.MethodGet, "/v1/public/invitations/"+first, nil).
			want(t, 404, "Invitation not found or has expired")

		r.exec(`UPDATE invitations SET expires_at = $1 WHERE id = $2`,
			"2020-01-01T00:00:00.000Z", id)
		wantIDs(t, c.call(http.MethodGet, query("/v1/admin/invitations", "status",
			"expired"), nil), id)
		wantIDs(t, c.call(http.MethodGet, query("/v1/admin/invitations", "status",
			"pending"), nil))
		c.call(http.MethodPost, "/v1/admin/invitations/"+id+"/resend", nil).want(t, 200, "")
		third := r.mailData("guest@example.com", "invitation")["token"].(string)
		wantIDs(t, c.call(http.MethodGet, query("/v1/admin/invitations", "status",
			"pending", "email", "GUEST@example.com"), nil), id)

		pub.call(http.MethodPost, "/v1/public/invitations/"+third+"/accept", map[string]any{
			"email": "guest@example.com", "firstName": "Gia", "lastName": "Guest",
			"password": admPassword}).want(t, 201, "")
		rep = c.call(http.MethodGet, query("/v1/admin/invitations", "status", "accepted"),
			nil).want(t, 200, "")
		if len(rep.list()) != 1 || rep.list()[0]["acceptedById"] == nil {
			t.Fatalf("accepted: %s", rep.raw)
		}
		c.call(http.MethodDelete, "/v1/admin/invitations/"+id, nil).
			want(t, 409, "Invitation has already been accepted")
		c.call(http.MethodPost, "/v1/admin/invitations/"+id+"/resend", nil).
			want(t, 409, "Invitation is no longer pending")

		other := c.call(http.MethodPost, "/v1/admin/invitations", map[string]any{
			"email": "other@example.com", "roleId": o.roles["staff"], "expiresInDays": 1}).
			want(t, 201, "").str("id")
		c.call(http.MethodDelete, "/v1/admin/invitations/"+other, nil).want(t, 204, "")
		c.call(http.MethodDelete, "/v1/admin/invitations/"+other, nil).want(t, 204, "")
		c.call(http.MethodPost, "/v1/admin/invitations/"+other+"/resend", nil).
			want(t, 409, "Invitation is no longer pending")
		wantIDs(t, c.call(http.MethodGet, query("/v1/admin/invitations", "status",
			"cancelled"), nil), other)
		c.call(http.MethodDelete, "/v1/admin/invitations/"+db.NewID(), nil).
			want(t, 404, "Invitation not found")
		c.call(http.MethodPost, "/v1/admin/invitations/"+db.NewID()+"/resend", nil).
			want(t, 404, "Invitation not found")
		c.call(http.MethodGet, query("/v1/admin/invitations", "status", "lost"), nil).
			wantField(t, "status", "invalid_value")
		c.call(http.MethodGet, query("/v1/admin/invitations", "sort", "expiresAt"), nil).
			want(t, 200, "")
		for _, typ := range []string{"invitation.created", "invitation.resent",
			"invitation.cancelled", "invitation.accepted"} {
			if r.audits(o.id, typ) == 0 {
				t.Errorf("no %s audit", typ)
			}
		}
	})
}

// TestInvitationWithDeletedRole deletes the invited role before the
// invitation is accepted: the new member gets the default role.
func TestInvitationWithDeletedRole(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Fallback")
		role := o.owner.call(http.MethodPost, "/v1/admin/roles", map[string]any{
			"name": "Temp", "slug": "temp"}).want(t, 201, "").str("id")
		o.owner.call(http.MethodPost, "/v1/admin/invitations", map[string]any{
			"email": "late@example.com", "roleId": role}).want(t, 201, "")
		o.owner.call(http.MethodDelete, "/v1/admin/roles/"+role, nil).want(t, 204, "")
		token := r.mailData("late@example.com", "invitation")["token"].(string)
		rep := (&admClient{r: r}).call(http.MethodPost, "/v1/public/invitations/"+token+
			"/accept", map[string]any{"email": "late@example.com", "firstName": "L",
			"lastName": "Ate", "password": admPassword}).want(t, 201, "")
		id := rep.obj("user")["id"].(string)
		user := o.owner.call(http.MethodGet, "/v1/admin/users/"+id, nil).want(t, 200, "")
		roles := user.body["roles"].([]any)
		if len(roles) != 1 || roles[0].(map[string]any)["slug"] != "staff" {
			t.Fatalf("roles after acceptance: %s", user.raw)
		}
	})
}

// TestConcurrentInvitationsForOneAddress sends the same invitation many
// times at once: exactly one is created and the others are refused.
func TestConcurrentInvitationsForOneAddress(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Racing invitations")
		const n = 8
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for range n {
			caller := *o.owner // a client records cookies: one copy per goroutine
			wg.Go(func() {
				statuses <- caller.call(http.MethodPost, "/v1/admin/invitations",
					map[string]any{"email": "same@example.com",
						"roleId": o.roles["staff"]}).status
			})
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		if count[http.StatusCreated] != 1 || count[http.StatusConflict] != n-1 {
			t.Fatalf("statuses %v, want one 201 and %d 409", count, n-1)
		}
		if got := r.count(`SELECT COUNT(*) FROM invitations WHERE organisation_id = $1
			AND email = 'same@example.com'`, o.id); got != 1 {
			t.Fatalf("%d invitations stored", got)
		}
	})
}
