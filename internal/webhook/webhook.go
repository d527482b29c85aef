// Package webhook administers the webhook endpoints of an organisation and
// delivers the notifications that internal/event queues for them.
//
// The outbox rows (webhook_deliveries) are written by event.Recorder in the
// transaction of the change they describe. A Worker claims due rows with a
// lease, POSTs the stored envelope signed with the endpoint's secret, and
// records the outcome: success on any 2xx answer, otherwise a retry on the
// schedule of the contract (immediately, then 1 m, 5 m, 15 m, 1 h, 6 h and
// 24 h after each failure; seven attempts) and finally failure. Delivery is
// at least once: a row is claimed by one worker at a time, on any number of
// instances, and a row recorded as finished is never sent again; a crash
// between a receiver's answer and the record sends the same delivery again,
// with the same X-Cerberus-Delivery id, once the lease has run out.
//
// Every connection goes through a Guard, which refuses private and
// otherwise internal addresses unless WEBHOOK_ALLOW_PRIVATE_TARGETS is set.
package webhook

import (
	"encoding/json"
	"time"

	"github.com/cerberus-iam/cerberus/internal/crypto"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Limits of the contract.
const (
	MaxURLLength = 2048
	MaxEvents    = 25
	// DisableAfter is the number of consecutive failed deliveries that
	// disables an endpoint.
	DisableAfter = 10
	// PreviousSecretLifetime is how long a rotated-out secret keeps
	// signing beside the new one.
	PreviousSecretLifetime = 24 * time.Hour
)

// ErrorEndpointDisabled is the error of deliveries dropped because their
// endpoint was disabled.
const ErrorEndpointDisabled = "endpoint disabled"

// Endpoint is a webhook endpoint as the admin API shows it.
type Endpoint struct {
	ID             string
	OrganisationID string
	URL            string
	Events         []string
	// ClientID is the clients.id the endpoint is bound to, if any.
	ClientID       *string
	IsActive       bool
	FailureCount   int
	LastDeliveryAt *time.Time
	DisabledAt     *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// MarshalJSON writes the endpoint with times in RFC 3339 UTC with
// milliseconds.
func (e Endpoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID             string   `json:"id"`
		URL            string   `json:"url"`
		Events         []string `json:"events"`
		ClientID       *string  `json:"clientId"`
		IsActive       bool     `json:"isActive"`
		FailureCount   int      `json:"failureCount"`
		LastDeliveryAt *string  `json:"lastDeliveryAt"`
		DisabledAt     *string  `json:"disabledAt"`
		CreatedAt      string   `json:"createdAt"`
		UpdatedAt      string   `json:"updatedAt"`
	}{e.ID, e.URL, e.Events, e.ClientID, e.IsActive, e.FailureCount,
		formatPtr(e.LastDeliveryAt), formatPtr(e.DisabledAt),
		db.FormatTime(e.CreatedAt), db.FormatTime(e.UpdatedAt)})
}

// Delivery is one notification of one event to one endpoint.
type Delivery struct {
	ID             string
	EventID        string
	EventType      string
	Status         string
	Attempts       int
	LastAttemptAt  *time.Time
	NextAttemptAt  *time.Time
	ResponseStatus *int
	ResponseTimeMS *int
	Error          *string
	CreatedAt      time.Time
	CompletedAt    *time.Time
}

// MarshalJSON writes the delivery with times in RFC 3339 UTC with
// milliseconds.
func (d Delivery) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID             string  `json:"id"`
		EventID        string  `json:"eventId"`
		EventType      string  `json:"eventType"`
		Status         string  `json:"status"`
		Attempts       int     `json:"attempts"`
		LastAttemptAt  *string `json:"lastAttemptAt"`
		NextAttemptAt  *string `json:"nextAttemptAt"`
		ResponseStatus *int    `json:"responseStatus"`
		ResponseTimeMS *int    `json:"responseTimeMs"`
		Error          *string `json:"error"`
		CreatedAt      string  `json:"createdAt"`
		CompletedAt    *string `json:"completedAt"`
	}{d.ID, d.EventID, d.EventType, d.Status, d.Attempts, formatPtr(d.LastAttemptAt),
		formatPtr(d.NextAttemptAt), d.ResponseStatus, d.ResponseTimeMS, d.Error,
		db.FormatTime(d.CreatedAt), formatPtr(d.CompletedAt)})
}

func formatPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := db.FormatTime(*t)
	return &s
}

// Kicker wakes a delivery worker; *Worker is one.
type Kicker interface{ Kick() }

// Options are what a Service needs. Kick may be nil.
type Options struct {
	DB     *db.DB
	Keys   *crypto.KeyRing
	Events *event.Recorder
	Guard  *Guard
	Kick   Kicker
	Now    func() time.Time
	// Production requires https URLs.
	Production bool
}

// Service administers webhook endpoints and lists their deliveries.
type Service struct {
	db         *db.DB
	keys       *crypto.KeyRing
	events     *event.Recorder
	guard      *Guard
	kick       Kicker
	now        func() time.Time
	production bool
}

// New returns a Service.
func New(o Options) *Service {
	return &Service{db: o.DB, keys: o.Keys, events: o.Events, guard: o.Guard,
		kick: o.Kick, now: o.Now, production: o.Production}
}

func (s *Service) clock() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}
