package webhook

import (
	"regexp"
	"testing"
	"time"
)

// guideBody, guideSecret and guideSignature are the worked example of
// docs/webhooks.md; this test keeps the guide true.
const (
	guideSecret = "whsec_3q2-7wEXAMPLEONLYexampleONLYexampleONLYex4A"
	guideBody   = `{"id":"0193f1e2-7c4a-7b1e-9d3f-2a6c8e0b4d51","type":"webhook.test",` +
		`"createdAt":"2025-03-01T09:30:00.000Z",` +
		`"organisationId":"0193f1e0-1111-7aaa-8bbb-123456789abc",` +
		`"data":{"message":"This is a test event",` +
		`"webhookId":"0193f1e1-2222-7ccc-8ddd-abcdef012345"},` +
		`"actor":{"type":"user","id":"0193f1e0-3333-7eee-8fff-0123456789ab"}}`
	guideSignature = "t=1740821400," +
		"v1=4f44e969d752be5cb1986e2d3dd022822973416bef86f01a6dc55e1698ac85ba"
)

func TestSignMatchesTheIntegrationGuide(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	if got := Sign(at, []byte(guideBody), guideSecret); got != guideSignature {
		t.Errorf("Sign = %s, want %s", got, guideSignature)
	}
	two := Sign(at, []byte(guideBody), guideSecret, "whsec_other")
	if !regexp.MustCompile(`^t=1740821400,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$`).MatchString(two) ||
		two[:len(guideSignature)] != guideSignature {
		t.Errorf("two secrets: %s", two)
	}
}

func TestNewSecretFormat(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if !secretFormat.MatchString(a) || a == b {
		t.Errorf("secrets %q and %q", a, b)
	}
}
