package httpapi

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/webhook"
)

func TestWebhookPaging(t *testing.T) {
	cases := []struct {
		query, want string
	}{
		{"", "page=1 limit=50 sort=-createdAt status="},
		{"page=3&limit=100&sort=url&status=failed", "page=3 limit=100 sort=url status=failed"},
		{"sort=-url", "page=1 limit=50 sort=-url status="},
		{"limit=101", "limit:invalid_value"},
		{"page=0&limit=x", "limit:invalid_value page:invalid_value"},
		{"sort=name&extra=1", "extra:unknown_field sort:invalid_value"},
	}
	for _, c := range cases {
		v, _ := url.ParseQuery(c.query)
		var status string
		p, err := webhookPaging(v, webhook.EndpointSorts, map[string]*string{"status": &status})
		got := ""
		if err != nil {
			var codes []string
			for _, f := range apperr.As(err).Fields {
				codes = append(codes, f.Field+":"+f.Code)
			}
			got = strings.Join(codes, " ")
		} else {
			got = "page=" + strconv.Itoa(p.Page) + " limit=" + strconv.Itoa(p.Limit) + " sort=" + p.Sort +
				" status=" + status
		}
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.query, got, c.want)
		}
	}
}

func TestWebhookWithSecretShowsEveryMember(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	e := &webhook.Endpoint{ID: "id", URL: "https://x.test/", Events: []string{"user.created"},
		IsActive: true, CreatedAt: now, UpdatedAt: now}
	b, err := json.Marshal(webhookWithSecret{endpoint: e, secret: "whsec_abc"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	for _, k := range []string{"id", "url", "events", "clientId", "isActive", "failureCount",
		"lastDeliveryAt", "disabledAt", "createdAt", "updatedAt", "secret"} {
		if _, ok := got[k]; !ok {
			t.Errorf("member %s missing from %s", k, b)
		}
	}
	if got["secret"] != "whsec_abc" || got["createdAt"] != "2026-03-01T09:30:00.000Z" {
		t.Errorf("answer %s", b)
	}
}
