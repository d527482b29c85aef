package e2e_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// TestWebhookAdministration drives /v1/admin/webhooks on a server that
// refuses private targets: the guard at creation, the life cycle of an
// endpoint, and the delivery log.
func TestWebhookAdministration(t *testing.T) {
	o := newOAuthEnv(t, db.SQLite, nil)
	const base = "/v1/admin/webhooks"
	for _, u := range []string{"http://127.0.0.1/hook", "http://[::1]/hook",
		"http://169.254.169.254/latest/meta-data", "http://localhost:8080/hook",
		"http://10.0.0.1/hook"} {
		resp, body := o.call(http.MethodPost, base, map[string]any{"url": u,
			"events": []string{"user.created"}})
		if resp.StatusCode != http.StatusBadRequest ||
			body["detail"] != "Webhook URL targets a private address" {
			t.Errorf("create %s: %d %v", u, resp.StatusCode, body)
		}
	}

	resp, created := o.call(http.MethodPost, base, map[string]any{
		"url": "https://hooks.example.test/in", "events": []string{"user.created"}})
	if resp.StatusCode != http.StatusCreated ||
		!regexp.MustCompile(`^whsec_[A-Za-z0-9_-]{43}$`).MatchString(created["secret"].(string)) {
		t.Fatalf("create: %d %v", resp.StatusCode, created)
	}
	id := created["id"].(string)
	if resp, got := o.call(http.MethodGet, base+"/"+id, nil); resp.StatusCode != 200 ||
		got["secret"] != nil || got["isActive"] != true {
		t.Errorf("get: %d %v", resp.StatusCode, got)
	}
	resp, list := o.call(http.MethodGet, base+"?isActive=true&sort=url&limit=10", nil)
	if resp.StatusCode != 200 || list["total"] != float64(1) || list["pages"] != float64(1) {
		t.Errorf("list: %d %v", resp.StatusCode, list)
	}
	if resp, _ := o.call(http.MethodGet, base+"?sort=secret", nil); resp.StatusCode != 400 {
		t.Errorf("sort by an unlisted field: %d", resp.StatusCode)
	}

	resp, rotated := o.call(http.MethodPost, base+"/"+id+"/rotate-secret", nil)
	if resp.StatusCode != 200 || rotated["secret"] == created["secret"] {
		t.Errorf("rotate: %d %v", resp.StatusCode, rotated)
	}
	resp, queued := o.call(http.MethodPost, base+"/"+id+"/test", nil)
	if resp.StatusCode != 200 || queued["message"] != "Test event queued" {
		t.Fatalf("test: %d %v", resp.StatusCode, queued)
	}
	resp, deliveries := o.call(http.MethodGet, base+"/"+id+"/deliveries", nil)
	items, _ := deliveries["data"].([]any)
	if resp.StatusCode != 200 || len(items) != 1 ||
		items[0].(map[string]any)["id"] != queued["deliveryId"] {
		t.Errorf("deliveries: %d %v", resp.StatusCode, deliveries)
	}
	if resp, _ := o.call(http.MethodGet, base+"/"+id+"/deliveries?status=lost",
		nil); resp.StatusCode != 400 {
		t.Errorf("unknown status filter: %d", resp.StatusCode)
	}

	resp, updated := o.call(http.MethodPatch, base+"/"+id, map[string]any{"isActive": false})
	if resp.StatusCode != 200 || updated["isActive"] != false {
		t.Errorf("deactivate: %d %v", resp.StatusCode, updated)
	}
	if resp, body := o.call(http.MethodPost, base+"/"+id+"/test", nil); resp.StatusCode !=
		http.StatusUnprocessableEntity || body["detail"] != "Webhook is inactive" {
		t.Errorf("test of an inactive webhook: %d %v", resp.StatusCode, body)
	}
	if resp, _ := o.call(http.MethodDelete, base+"/"+id, nil); resp.StatusCode != 204 {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if resp, body := o.call(http.MethodGet, base+"/"+id, nil); resp.StatusCode != 404 ||
		body["detail"] != "Webhook not found" {
		t.Errorf("get after delete: %d %v", resp.StatusCode, body)
	}
}
