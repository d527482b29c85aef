package event_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/dbtest"
	"github.com/cerberus-iam/cerberus/internal/event"
)

func TestCategoryAndAction(t *testing.T) {
	cases := []struct{ typ, category, action string }{
		{"user.login.success", "auth", "login"},
		{"user.logout", "auth", "logout"},
		{"user.password_reset", "auth", "update"},
		{"user.mfa.enabled", "auth", "update"},
		{"user.locked", "auth", "update"},
		{"user.created", "user", "create"},
		{"user.role_assigned", "user", "create"},
		{"user.role_removed", "user", "delete"},
		{"role.deleted", "permission", "delete"},
		{"permission.granted", "permission", "create"},
		{"team.member_added", "team", "create"},
		{"invitation.cancelled", "invitation", "delete"},
		{"oauth2.authorize", "oauth2", "create"},
		{"oauth2.token_issued", "oauth2", "create"},
		{"oauth2.token_revoked", "oauth2", "delete"},
		{"oauth2.consent.revoked", "oauth2", "delete"},
		{"oauth2.refresh_token_reuse_detected", "oauth2", "delete"},
		{"system.tokens_revoked_all", "system", "delete"},
		{"system.keys_rotated", "system", "update"},
		{"organisation.updated", "organisation", "update"},
	}
	for _, c := range cases {
		if got := event.Category(c.typ); got != c.category {
			t.Errorf("Category(%s) = %s, want %s", c.typ, got, c.category)
		}
		if got := event.Action(c.typ); got != c.action {
			t.Errorf("Action(%s) = %s, want %s", c.typ, got, c.action)
		}
	}
}

func TestRecordWritesAuditAndDeliveries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := event.WithRequest(t.Context(), event.RequestInfo{
			IP: "203.0.113.9", UserAgent: "ua", RequestID: "req-1"})
		ctx = event.WithActor(ctx, event.Actor{Type: event.ActorUser, ID: "actor-1"})
		now := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
		org := seedOrg(t, d, now)
		all := seedEndpoint(t, d, org, []string{"user.created"}, nil, true)
		seedEndpoint(t, d, org, []string{"user.created"}, nil, false)
		seedEndpoint(t, d, org, []string{"role.created"}, nil, true)
		client := seedClient(t, d, org, now)
		bound := seedEndpoint(t, d, org, []string{"user.created"}, &client, true)

		rec := event.NewRecorder(func() time.Time { return now })
		err := rec.Record(ctx, d, event.Event{
			Type: "user.created", OrganisationID: org, UserID: db.NewID(),
			ResourceType: "user", ResourceID: "u1", Metadata: map[string]any{"onboard": true},
			Webhooks: []event.Webhook{{Type: "user.created", Data: map[string]any{"id": "u1"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var typ, cat, action, actorType, actorID, ip, reqID string
		var success bool
		err = d.QueryRowContext(ctx, `SELECT event_type, event_category, action, actor_type,
			actor_id, ip_address, request_id, success FROM audit_logs`).
			Scan(&typ, &cat, &action, &actorType, &actorID, &ip, &reqID, &success)
		if err != nil {
			t.Fatal(err)
		}
		if typ != "user.created" || cat != "user" || action != "create" ||
			actorType != "user" || actorID != "actor-1" || ip != "203.0.113.9" ||
			reqID != "req-1" || !success {
			t.Fatalf("audit row: %s %s %s %s %s %s %s %v",
				typ, cat, action, actorType, actorID, ip, reqID, success)
		}
		rows, err := d.QueryContext(ctx, "SELECT endpoint_id, payload FROM webhook_deliveries")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var ep, payload string
			if err := rows.Scan(&ep, &payload); err != nil {
				t.Fatal(err)
			}
			var env event.Envelope
			if err := json.Unmarshal([]byte(payload), &env); err != nil {
				t.Fatal(err)
			}
			if env.Type != "user.created" || env.OrganisationID != org ||
				env.Actor == nil || env.Actor.ID != "actor-1" {
				t.Fatalf("envelope %+v", env)
			}
			got = append(got, ep)
		}
		// The bound endpoint gets nothing: the event is not about its client.
		if len(got) != 1 || got[0] != all {
			t.Fatalf("deliveries to %v, want only %s (not %s)", got, all, bound)
		}
	})
}

func TestRecordRefusesUnknownType(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	rec := event.NewRecorder(time.Now)
	err := rec.Record(context.Background(), d, event.Event{Type: "user.exploded"})
	if err == nil {
		t.Fatal("unknown audit type accepted")
	}
}

func seedOrg(t *testing.T, d *db.DB, now time.Time) string {
	t.Helper()
	id := db.NewID()
	_, err := d.ExecContext(t.Context(), `INSERT INTO organisations (id, slug, name,
		created_at, updated_at) VALUES ($1, $2, 'Org', $3, $3)`, id, "org-"+id[len(id)-6:], now)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func seedClient(t *testing.T, d *db.DB, org string, now time.Time) string {
	t.Helper()
	id := db.NewID()
	_, err := d.ExecContext(t.Context(), `INSERT INTO clients (id, organisation_id, client_id,
		name, client_type, token_endpoint_auth_method, created_at, updated_at)
		VALUES ($1, $2, $3, 'c', 'confidential', 'client_secret_basic', $4, $4)`,
		id, org, id[:8], now)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func seedEndpoint(
	t *testing.T, d *db.DB, org string, events []string, client *string, active bool,
) string {
	t.Helper()
	id := db.NewID()
	_, err := d.ExecContext(t.Context(), `INSERT INTO webhook_endpoints (id, organisation_id,
		url, events, client_id, secret, is_active, created_at, updated_at)
		VALUES ($1, $2, 'https://example.com/h', $3, $4, 's', $5, $6, $6)`,
		id, org, db.MustJSON(events), client, active, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return id
}
