package event

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// Event is one audit entry and the webhook notifications it causes.
type Event struct {
	// Type is the audit event type (AuditTypes); empty records no audit
	// row, only the webhooks.
	Type string
	// OrganisationID is the tenant; empty for system events without one.
	OrganisationID string
	// Actor overrides the actor of the context.
	Actor *Actor
	// UserID and ClientID name the user and the client (clients.id) the
	// event is about, when there is one.
	UserID   string
	ClientID string
	// ResourceType and ResourceID name the changed resource.
	ResourceType string
	ResourceID   string
	// Failed marks an unsuccessful attempt (a failed login); ErrorMessage
	// says why in caller-safe words.
	Failed       bool
	ErrorMessage string
	Metadata     map[string]any
	// Webhooks are queued for every active endpoint of the organisation
	// subscribed to their type.
	Webhooks []Webhook
}

// Webhook is a notification for webhook endpoints.
type Webhook struct {
	Type string
	Data any
	// ClientID (clients.id) is the client the event is about. Endpoints
	// bound to a client receive only events about it; unbound endpoints
	// receive every event they subscribe to.
	ClientID string
}

// Envelope is the body of a webhook delivery.
type Envelope struct {
	ID             string `json:"id"`
	Type           string `json:"type"`
	CreatedAt      string `json:"createdAt"`
	OrganisationID string `json:"organisationId"`
	Data           any    `json:"data"`
	Actor          *Actor `json:"actor,omitempty"`
}

// Recorder writes events.
type Recorder struct {
	now func() time.Time
}

// NewRecorder returns a Recorder using now for timestamps.
func NewRecorder(now func() time.Time) *Recorder {
	return &Recorder{now: now}
}

// Record writes e's audit row and webhook outbox rows with q, which should
// be the transaction of the change e describes.
func (r *Recorder) Record(ctx context.Context, q db.Querier, e Event) error {
	now := r.now().UTC().Truncate(time.Millisecond)
	actor := r.actor(ctx, e)
	if e.Type != "" {
		if err := r.audit(ctx, q, e, actor, now); err != nil {
			return err
		}
	}
	if len(e.Webhooks) == 0 || e.OrganisationID == "" {
		return nil
	}
	return r.queueWebhooks(ctx, q, e, actor, now)
}

func (r *Recorder) actor(ctx context.Context, e Event) Actor {
	if e.Actor != nil {
		return *e.Actor
	}
	if a, ok := ActorFrom(ctx); ok {
		return a
	}
	return SystemActor
}

func (r *Recorder) audit(
	ctx context.Context, q db.Querier, e Event, actor Actor, now time.Time,
) error {
	if !IsAuditType(e.Type) {
		return fmt.Errorf("record event: unregistered audit type %q", e.Type)
	}
	req := RequestFrom(ctx)
	meta, err := db.JSONValue(mapOrNil(e.Metadata))
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO audit_logs (id, organisation_id, actor_type,
		actor_id, user_id, client_id, event_type, event_category, action, resource_type,
		resource_id, success, error_message, ip_address, user_agent, request_id, metadata,
		created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
		$16, $17, $18)`,
		db.NewID(), nullIfEmpty(e.OrganisationID), actor.Type, nullIfEmpty(actor.ID),
		nullIfEmpty(e.UserID), nullIfEmpty(e.ClientID), e.Type, Category(e.Type),
		Action(e.Type), nullIfEmpty(e.ResourceType), nullIfEmpty(e.ResourceID), !e.Failed,
		nullIfEmpty(e.ErrorMessage), nullIfEmpty(req.IP), nullIfEmpty(truncate(req.UserAgent, 512)),
		nullIfEmpty(req.RequestID), meta, now)
	if err != nil {
		return fmt.Errorf("insert audit %s: %w", e.Type, err)
	}
	return nil
}

type endpoint struct {
	id       string
	events   []string
	clientID *string
}

func (r *Recorder) queueWebhooks(
	ctx context.Context, q db.Querier, e Event, actor Actor, now time.Time,
) error {
	endpoints, err := activeEndpoints(ctx, q, e.OrganisationID)
	if err != nil || len(endpoints) == 0 {
		return err
	}
	for _, w := range e.Webhooks {
		if !IsWebhookType(w.Type) {
			return fmt.Errorf("record event: unregistered webhook type %q", w.Type)
		}
		env := Envelope{ID: db.NewID(), Type: w.Type, CreatedAt: db.FormatTime(now),
			OrganisationID: e.OrganisationID, Data: w.Data, Actor: &actor}
		for _, ep := range endpoints {
			if !subscribed(ep, w) {
				continue
			}
			if err := QueueDelivery(ctx, q, ep.id, env, now); err != nil {
				return err
			}
		}
	}
	return nil
}

func subscribed(ep endpoint, w Webhook) bool {
	if !slices.Contains(ep.events, w.Type) {
		return false
	}
	return ep.clientID == nil || *ep.clientID == w.ClientID
}

func activeEndpoints(ctx context.Context, q db.Querier, orgID string) ([]endpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, events, client_id FROM webhook_endpoints
		WHERE organisation_id = $1 AND is_active = TRUE`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []endpoint
	for rows.Next() {
		var ep endpoint
		if err := rows.Scan(&ep.id, db.JSON(&ep.events), &ep.clientID); err != nil {
			return nil, fmt.Errorf("scan webhook endpoint: %w", err)
		}
		out = append(out, ep)
	}
	return out, rows.Err()
}

// QueueDelivery inserts one pending delivery of env to an endpoint, due now.
func QueueDelivery(
	ctx context.Context, q db.Querier, endpointID string, env Envelope, now time.Time,
) error {
	payload, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode webhook %s: %w", env.Type, err)
	}
	_, err = q.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id,
		organisation_id, event_id, event_type, payload, status, attempts, next_attempt_at,
		created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7)`,
		db.NewID(), endpointID, env.OrganisationID, env.ID, env.Type, string(payload), now)
	if err != nil {
		return fmt.Errorf("queue webhook %s: %w", env.Type, err)
	}
	return nil
}

func mapOrNil(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
