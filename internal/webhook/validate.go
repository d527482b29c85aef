package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

// EndpointCreate is the body of an endpoint creation.
type EndpointCreate struct {
	URL    *string   `json:"url"`
	Events *[]string `json:"events"`
	// ClientID is a clients.id: the endpoint then receives only events
	// about that client.
	ClientID *string `json:"clientId"`
}

// EndpointPatch is the body of an endpoint update: absent members stay,
// a null clientId unbinds the endpoint.
type EndpointPatch struct {
	URL      patch.Field[string]   `json:"url"`
	Events   patch.Field[[]string] `json:"events"`
	ClientID patch.Field[string]   `json:"clientId"`
	IsActive patch.Field[bool]     `json:"isActive"`
}

// errPrivateTarget is the 400 of a URL refused by the guard.
var errPrivateTarget = apperr.Fields("Webhook URL targets a private address",
	apperr.Field("url", apperr.CodeInvalidValue, "Targets a private address"))

func required(field string) apperr.FieldError {
	return apperr.Field(field, apperr.CodeRequired, "Required")
}

func notNull(field string) apperr.FieldError {
	return apperr.Field(field, apperr.CodeInvalidType, "Must not be null")
}

// checkURL validates the form of an endpoint URL: absolute http or https
// (https only in production), at most MaxURLLength characters.
func (s *Service) checkURL(raw string) (*url.URL, []apperr.FieldError) {
	if utf8.RuneCountInString(raw) > MaxURLLength {
		return nil, []apperr.FieldError{apperr.Field("url", apperr.CodeTooLong,
			"Must be at most 2048 characters")}
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Hostname() == "" ||
		(u.Scheme != "http" && u.Scheme != "https") {
		return nil, []apperr.FieldError{apperr.Field("url", apperr.CodeInvalidFormat,
			"Must be an absolute http or https URL")}
	}
	if s.production && u.Scheme != "https" {
		return nil, []apperr.FieldError{apperr.Field("url", apperr.CodeInvalidValue,
			"Must use https")}
	}
	return u, nil
}

// checkEvents validates a subscription list: 1–MaxEvents distinct types
// endpoints may subscribe to.
func checkEvents(events []string) []apperr.FieldError {
	switch {
	case len(events) == 0:
		return []apperr.FieldError{apperr.Field("events", apperr.CodeTooShort,
			"Must list at least one event")}
	case len(events) > MaxEvents:
		return []apperr.FieldError{apperr.Field("events", apperr.CodeTooLong,
			"Must list at most 25 events")}
	}
	var errs []apperr.FieldError
	seen := map[string]bool{}
	for i, e := range events {
		field := "events." + strconv.Itoa(i)
		switch {
		case !event.IsWebhookType(e):
			errs = append(errs, apperr.Field(field, apperr.CodeInvalidValue,
				"Unknown event type"))
		case seen[e]:
			errs = append(errs, apperr.Field(field, apperr.CodeInvalidValue,
				"Duplicate event type"))
		}
		seen[e] = true
	}
	return errs
}

// checkTarget refuses a URL whose host is or resolves to a private
// address.
func (s *Service) checkTarget(ctx context.Context, u *url.URL) error {
	if err := s.guard.CheckHost(ctx, u.Hostname()); err != nil {
		if errors.Is(err, ErrPrivateTarget) {
			return errPrivateTarget
		}
		return err
	}
	return nil
}

// checkClient refuses a clientId that is not a live client of the
// organisation.
func checkClient(ctx context.Context, q db.Querier, orgID, clientID string) error {
	unknown := apperr.InvalidInput(apperr.Field("clientId", apperr.CodeInvalidValue,
		"Unknown client"))
	if !db.ValidID(clientID) {
		return unknown
	}
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM clients WHERE id = $1
		AND organisation_id = $2 AND deleted_at IS NULL`, clientID, orgID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return unknown
	}
	if err != nil {
		return fmt.Errorf("read webhook client: %w", err)
	}
	return nil
}

// validCreate checks a creation body and returns its URL.
func (s *Service) validCreate(ctx context.Context, orgID string,
	in EndpointCreate) (*url.URL, error) {
	var errs []apperr.FieldError
	var u *url.URL
	if in.URL == nil {
		errs = append(errs, required("url"))
	} else {
		var ferrs []apperr.FieldError
		u, ferrs = s.checkURL(*in.URL)
		errs = append(errs, ferrs...)
	}
	if in.Events == nil {
		errs = append(errs, required("events"))
	} else {
		errs = append(errs, checkEvents(*in.Events)...)
	}
	if len(errs) > 0 {
		return nil, apperr.InvalidInput(errs...)
	}
	if in.ClientID != nil {
		if err := checkClient(ctx, s.db, orgID, *in.ClientID); err != nil {
			return nil, err
		}
	}
	return u, s.checkTarget(ctx, u)
}

// validPatch checks an update body; the URL is nil when unchanged.
func (s *Service) validPatch(ctx context.Context, orgID string,
	in EndpointPatch) (*url.URL, error) {
	var errs []apperr.FieldError
	var u *url.URL
	if in.URL.Set {
		if in.URL.Null {
			errs = append(errs, notNull("url"))
		} else {
			var ferrs []apperr.FieldError
			u, ferrs = s.checkURL(in.URL.Value)
			errs = append(errs, ferrs...)
		}
	}
	if in.Events.Set {
		if in.Events.Null {
			errs = append(errs, notNull("events"))
		} else {
			errs = append(errs, checkEvents(in.Events.Value)...)
		}
	}
	if in.IsActive.Set && in.IsActive.Null {
		errs = append(errs, notNull("isActive"))
	}
	if len(errs) > 0 {
		return nil, apperr.InvalidInput(errs...)
	}
	if in.ClientID.Set && !in.ClientID.Null {
		if err := checkClient(ctx, s.db, orgID, in.ClientID.Value); err != nil {
			return nil, err
		}
	}
	if u != nil {
		return u, s.checkTarget(ctx, u)
	}
	return nil, nil
}
