package oauth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestClientJSONUsesMillisecondTimesAndNoSecret(t *testing.T) {
	h := "digest"
	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	c := Client{ClientID: "abc", CreatedAt: at, UpdatedAt: at, secretHash: &h}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, `"createdAt":"2025-03-01T09:30:00.000Z"`) ||
		!strings.Contains(s, `"revokedAt":null`) || strings.Contains(s, "digest") {
		t.Fatalf("client JSON %s", s)
	}
}
