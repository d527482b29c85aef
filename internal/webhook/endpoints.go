package webhook

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
)

// Create saves a new endpoint of the organisation and returns it with its
// secret, which is shown only now. Errors: 400 for an invalid body or a
// URL that targets a private address.
func (s *Service) Create(ctx context.Context, orgID string,
	in EndpointCreate) (*Endpoint, string, error) {
	u, err := s.validCreate(ctx, orgID, in)
	if err != nil {
		return nil, "", err
	}
	now := s.clock()
	e := &Endpoint{ID: db.NewID(), OrganisationID: orgID, URL: u.String(),
		Events: *in.Events, ClientID: in.ClientID, IsActive: true,
		CreatedAt: now, UpdatedAt: now}
	secret := NewSecret()
	sealed, err := s.keys.SealString(secret)
	if err != nil {
		return nil, "", fmt.Errorf("seal webhook secret: %w", err)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := insertEndpoint(ctx, tx, e, sealed); err != nil {
			return err
		}
		return s.record(ctx, tx, "webhook.created", e, map[string]any{
			"host": u.Host, "events": e.Events})
	})
	if err != nil {
		return nil, "", err
	}
	return e, secret, nil
}

// Get returns an endpoint of the organisation, or 404 "Webhook not found".
func (s *Service) Get(ctx context.Context, orgID, id string) (*Endpoint, error) {
	return loadEndpoint(ctx, s.db, orgID, id)
}

// Update applies a PATCH body. Turning isActive on resets failureCount and
// disabledAt; turning it off ends the pending deliveries with "endpoint
// disabled". Errors: 400 as for Create, 404.
func (s *Service) Update(ctx context.Context, orgID, id string,
	in EndpointPatch) (*Endpoint, error) {
	u, err := s.validPatch(ctx, orgID, in)
	if err != nil {
		return nil, err
	}
	var out *Endpoint
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		e, err := lockEndpoint(ctx, s.db, tx, orgID, id)
		if err != nil {
			return err
		}
		changes := applyPatch(e, in, u)
		out = e
		if len(changes) == 0 {
			return nil
		}
		return s.saveChanges(ctx, tx, e, changes)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// applyPatch changes e as in asks and returns the names of the members
// that changed.
func applyPatch(e *Endpoint, in EndpointPatch, u *url.URL) []string {
	var changes []string
	if u != nil && u.String() != e.URL {
		e.URL = u.String()
		changes = append(changes, "url")
	}
	if in.Events.Set && !slices.Equal(in.Events.Value, e.Events) {
		e.Events = in.Events.Value
		changes = append(changes, "events")
	}
	if in.ClientID.Set && !equalPtr(in.ClientID.Ptr(), e.ClientID) {
		e.ClientID = in.ClientID.Ptr()
		changes = append(changes, "clientId")
	}
	if in.IsActive.Set && in.IsActive.Value != e.IsActive {
		e.IsActive = in.IsActive.Value
		changes = append(changes, "isActive")
	}
	// Turning on resets the failure record even when the endpoint is
	// already active; the reset is a change to store and audit.
	if in.IsActive.Set && in.IsActive.Value && e.FailureCount != 0 {
		e.FailureCount = 0
		changes = append(changes, "failureCount")
	}
	if in.IsActive.Set && in.IsActive.Value && e.DisabledAt != nil {
		e.DisabledAt = nil
		changes = append(changes, "disabledAt")
	}
	return changes
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// saveChanges stores a changed endpoint, ends its pending deliveries when
// it was turned off, and records webhook.updated.
func (s *Service) saveChanges(ctx context.Context, tx *sql.Tx, e *Endpoint,
	changes []string) error {
	e.UpdatedAt = s.clock()
	if err := saveEndpoint(ctx, tx, e); err != nil {
		return err
	}
	if !e.IsActive && slices.Contains(changes, "isActive") {
		if _, err := failPending(ctx, tx, e.ID, e.UpdatedAt); err != nil {
			return err
		}
	}
	return s.record(ctx, tx, "webhook.updated", e, map[string]any{"changes": changes})
}

// Delete removes an endpoint with its deliveries, pending ones included.
func (s *Service) Delete(ctx context.Context, orgID, id string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		e, err := loadEndpoint(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_endpoints
			WHERE id = $1 AND organisation_id = $2`, id, orgID)
		if err != nil {
			return fmt.Errorf("delete webhook %s: %w", id, err)
		}
		if !affected(res) {
			return errNotFound // a concurrent request deleted it first
		}
		return s.record(ctx, tx, "webhook.deleted", e, nil)
	})
}

// RotateSecret gives an endpoint a new secret and returns it, shown only
// now. The previous secret keeps signing, as a second v1 signature, for
// PreviousSecretLifetime. Only one previous secret is kept: rotating again
// within that time drops the one before it at once.
func (s *Service) RotateSecret(ctx context.Context, orgID, id string) (*Endpoint,
	string, error) {
	secret := NewSecret()
	sealed, err := s.keys.SealString(secret)
	if err != nil {
		return nil, "", fmt.Errorf("seal webhook secret: %w", err)
	}
	var out *Endpoint
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		e, err := loadEndpoint(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		e.UpdatedAt = s.clock()
		res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints
			SET previous_secret = secret, previous_secret_expires_at = $1, secret = $2,
			updated_at = $3 WHERE id = $4 AND organisation_id = $5`,
			e.UpdatedAt.Add(PreviousSecretLifetime), sealed, e.UpdatedAt, id, orgID)
		if err != nil {
			return fmt.Errorf("rotate webhook secret %s: %w", id, err)
		}
		if !affected(res) {
			return errNotFound // deleted since e was read
		}
		out = e
		return s.record(ctx, tx, "webhook.secret_rotated", e, nil)
	})
	if err != nil {
		return nil, "", err
	}
	return out, secret, nil
}

// TestMessage is the data message of a test delivery.
const TestMessage = "This is a test event"

// Test queues a webhook.test delivery to one active endpoint, whatever it
// subscribes to, and returns the delivery id. Errors: 404, 422 "Webhook is
// inactive".
func (s *Service) Test(ctx context.Context, orgID, id string) (string, error) {
	var deliveryID string
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		e, err := loadEndpoint(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if !e.IsActive {
			return apperr.New(apperr.Unprocessable, "Webhook is inactive")
		}
		deliveryID, err = s.queueTest(ctx, tx, e)
		return err
	})
	if err != nil {
		return "", err
	}
	if s.kick != nil {
		s.kick.Kick()
	}
	return deliveryID, nil
}

func (s *Service) queueTest(ctx context.Context, tx *sql.Tx, e *Endpoint) (string, error) {
	now := s.clock()
	actor, ok := event.ActorFrom(ctx)
	if !ok {
		actor = event.SystemActor
	}
	env := event.Envelope{ID: db.NewID(), Type: event.TestWebhookType,
		CreatedAt: db.FormatTime(now), OrganisationID: e.OrganisationID,
		Data: map[string]any{"message": TestMessage, "webhookId": e.ID}, Actor: &actor}
	if err := event.QueueDelivery(ctx, tx, e.ID, env, now); err != nil {
		return "", err
	}
	var deliveryID string
	err := tx.QueryRowContext(ctx, `SELECT id FROM webhook_deliveries
		WHERE event_id = $1 AND endpoint_id = $2`, env.ID, e.ID).Scan(&deliveryID)
	if err != nil {
		return "", fmt.Errorf("read test delivery: %w", err)
	}
	return deliveryID, nil
}

// record writes the audit row of a change to e.
func (s *Service) record(ctx context.Context, q db.Querier, typ string, e *Endpoint,
	meta map[string]any) error {
	ev := event.Event{Type: typ, OrganisationID: e.OrganisationID,
		ResourceType: "webhook", ResourceID: e.ID, Metadata: meta}
	if e.ClientID != nil {
		ev.ClientID = *e.ClientID
	}
	return s.events.Record(ctx, q, ev)
}
