package app

import (
	"net/http"
	"testing"
)

// PATCH isActive:true resets the failure record and stores the reset,
// whether the endpoint was disabled or is still active with failures.
func TestAdminWebhookReactivationResetsFailures(t *testing.T) {
	eachEngine(t, func(t *testing.T, r *admRig) {
		o := r.onboard("Hook reset")
		id := o.owner.call(http.MethodPost, "/v1/admin/webhooks", map[string]any{
			"url": "https://hooks.example.com/in", "events": []string{"user.created"}}).
			want(t, http.StatusCreated, "").str("id")
		stored := func(what string, active bool, failures int) {
			t.Helper()
			if n := r.count(`SELECT COUNT(*) FROM webhook_endpoints WHERE id = $1
				AND is_active = $2 AND failure_count = $3 AND disabled_at IS NULL`,
				id, active, failures); n != 1 {
				t.Fatalf("%s: stored endpoint is not active=%v with %d failures", what,
					active, failures)
			}
		}
		on := map[string]any{"isActive": true}
		for _, c := range []struct{ what, setup string }{
			{"active with failures", `UPDATE webhook_endpoints SET failure_count = 7
				WHERE id = $1`},
			{"disabled", `UPDATE webhook_endpoints SET failure_count = 10,
				is_active = FALSE, disabled_at = updated_at WHERE id = $1`},
		} {
			r.exec(c.setup, id)
			before := r.audits(o.id, "webhook.updated")
			rep := o.owner.call(http.MethodPatch, "/v1/admin/webhooks/"+id, on).
				want(t, http.StatusOK, "")
			if rep.body["failureCount"] != 0.0 || rep.body["disabledAt"] != nil {
				t.Fatalf("%s: answer %s", c.what, rep.raw)
			}
			stored(c.what, true, 0)
			if d := r.audits(o.id, "webhook.updated") - before; d != 1 {
				t.Fatalf("%s: %d webhook.updated audit rows, want 1", c.what, d)
			}
		}
		before := r.audits(o.id, "webhook.updated")
		o.owner.call(http.MethodPatch, "/v1/admin/webhooks/"+id, on).want(t, http.StatusOK, "")
		if d := r.audits(o.id, "webhook.updated") - before; d != 0 {
			t.Fatalf("nothing to reset: %d webhook.updated audit rows, want 0", d)
		}
	})
}
