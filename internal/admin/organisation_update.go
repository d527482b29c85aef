package admin

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/identity"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

// OrganisationPatch is the body of a settings update; absent members stay
// and null clears the nullable ones. Slug and owner are immutable.
type OrganisationPatch struct {
	Name                patch.Field[string]              `json:"name"`
	Email               patch.Field[string]              `json:"email"`
	Phone               patch.Field[string]              `json:"phone"`
	Website             patch.Field[string]              `json:"website"`
	AllowedCallbackURLs patch.Field[[]string]            `json:"allowedCallbackUrls"`
	AllowedLogoutURLs   patch.Field[[]string]            `json:"allowedLogoutUrls"`
	AllowedOrigins      patch.Field[[]string]            `json:"allowedOrigins"`
	SessionLifetime     patch.Field[int]                 `json:"sessionLifetime"`
	SessionIdleTimeout  patch.Field[int]                 `json:"sessionIdleTimeout"`
	RequireMFA          patch.Field[bool]                `json:"requireMfa"`
	AllowedMFAMethods   patch.Field[[]string]            `json:"allowedMfaMethods"`
	PasswordPolicy      patch.Field[PasswordPolicy]      `json:"passwordPolicy"`
	TokenLifetimePolicy patch.Field[TokenLifetimePolicy] `json:"tokenLifetimePolicy"`
	Branding            patch.Field[Branding]            `json:"branding"`
	Metadata            patch.Field[map[string]any]      `json:"metadata"`
}

// PasswordPolicy overrides the default password rules; members left out
// keep the default's value.
type PasswordPolicy struct {
	MinLength        *int  `json:"minLength,omitempty"`
	RequireUppercase *bool `json:"requireUppercase,omitempty"`
	RequireLowercase *bool `json:"requireLowercase,omitempty"`
	RequireNumbers   *bool `json:"requireNumbers,omitempty"`
	RequireSymbols   *bool `json:"requireSymbols,omitempty"`
	PreventReuse     *int  `json:"preventReuse,omitempty"`
}

// TokenLifetimePolicy overrides token lifetimes, in seconds.
type TokenLifetimePolicy struct {
	AccessToken  *int `json:"accessToken,omitempty"`
	IDToken      *int `json:"idToken,omitempty"`
	RefreshToken *int `json:"refreshToken,omitempty"`
}

// Branding styles the hosted pages.
type Branding struct {
	LogoURL      *string `json:"logoUrl"`
	PrimaryColor *string `json:"primaryColor"`
}

// Bounds of the settings.
const (
	maxURLs           = 20
	maxURLLength      = 2048
	minSessionSeconds = 300
	maxSessionSeconds = 2_592_000
	minIdleSeconds    = 60
	maxMetadataBytes  = 16 << 10
)

var colorPattern = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

// UpdateOrganisation applies a settings patch (audit organisation.updated
// naming the changed fields; none when nothing changed). Every rule is checked and every problem
// reported at once. Errors: 404 "Organisation not found", 400 "Invalid
// input".
func (s *Service) UpdateOrganisation(ctx context.Context, orgID string,
	p OrganisationPatch) (*Organisation, error) {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockOrganisation(ctx, tx, orgID); err != nil {
			return err
		}
		o, err := readOrganisation(ctx, tx, orgID)
		if err != nil {
			return err
		}
		before := *o
		fields, err := applyOrganisation(o, p)
		if err != nil {
			return err
		}
		if fields, err = changedFields(&before, o, fields); err != nil || len(fields) == 0 {
			return err
		}
		return s.saveOrganisation(ctx, tx, o, fields)
	})
	if err != nil {
		return nil, err
	}
	return s.Organisation(ctx, orgID)
}

// lockOrganisation holds the organisation's row until tx ends on
// PostgreSQL, so that a patch, which writes back every setting, starts
// from what the previous patch committed, and a deletion from a live
// organisation. SQLite transactions already exclude each other.
func (s *Service) lockOrganisation(ctx context.Context, tx *sql.Tx, orgID string) error {
	return s.db.LockRows(ctx, tx, `SELECT 1 FROM organisations WHERE id = $1`, orgID)
}

// applyOrganisation validates p and applies it to o; it returns the names
// of the members the patch sent.
func applyOrganisation(o *Organisation, p OrganisationPatch) ([]string, error) {
	var c checker
	var fields []string
	set := func(name string, present bool) bool {
		if present {
			fields = append(fields, name)
		}
		return present
	}
	applyContact(&c, o, p, set)
	applyLists(&c, o, p, set)
	applySessions(&c, o, p, set)
	applyPolicies(&c, o, p, set)
	return fields, c.Err()
}

type setter func(name string, present bool) bool

// changedFields keeps the members of fields whose JSON value differs
// between before and after, so that a patch repeating the current
// settings changes nothing and records nothing.
func changedFields(before, after *Organisation, fields []string) ([]string, error) {
	var was, is map[string]json.RawMessage
	if err := remarshal(before, &was); err != nil {
		return nil, err
	}
	if err := remarshal(after, &is); err != nil {
		return nil, err
	}
	var out []string
	for _, f := range fields {
		if !bytes.Equal(was[f], is[f]) {
			out = append(out, f)
		}
	}
	return out, nil
}

// remarshal decodes the JSON form of v into dst.
func remarshal(v, dst any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode organisation: %w", err)
	}
	return json.Unmarshal(b, dst)
}

func applyContact(c *checker, o *Organisation, p OrganisationPatch, set setter) {
	if set("name", p.Name.Set) && required(c, "name", p.Name.Null) {
		o.Name = c.Text("name", p.Name.Value, maxName)
	}
	if set("email", p.Email.Set) && required(c, "email", p.Email.Null) {
		e := c.email("email", p.Email.Value)
		o.Email = &e
	}
	if set("phone", p.Phone.Set) {
		if o.Phone = p.Phone.Ptr(); o.Phone != nil {
			c.phone("phone", *o.Phone)
		}
	}
	if set("website", p.Website.Set) {
		if o.Website = p.Website.Ptr(); o.Website != nil {
			httpsURL(c, "website", *o.Website)
		}
	}
}

// required refuses null for a member that cannot be cleared.
func required(c *checker, field string, null bool) bool {
	if null {
		c.Add(field, apperr.CodeInvalidType, "Must not be null")
	}
	return !null
}

func applyLists(c *checker, o *Organisation, p OrganisationPatch, set setter) {
	lists := []struct {
		name string
		f    patch.Field[[]string]
		dst  *[]string
		each func(c *checker, field, v string)
	}{
		{"allowedCallbackUrls", p.AllowedCallbackURLs, &o.AllowedCallbackURLs, absoluteURL},
		{"allowedLogoutUrls", p.AllowedLogoutURLs, &o.AllowedLogoutURLs, absoluteURL},
		{"allowedOrigins", p.AllowedOrigins, &o.AllowedOrigins, exactOrigin},
	}
	for _, l := range lists {
		if !set(l.name, l.f.Set) || !required(c, l.name, l.f.Null) {
			continue
		}
		if len(l.f.Value) > maxURLs {
			c.Add(l.name, apperr.CodeTooLarge, "At most 20 entries")
		}
		for i, v := range l.f.Value {
			l.each(c, l.name+"."+strconv.Itoa(i), v)
		}
		*l.dst = nonNil(l.f.Value)
	}
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// absoluteURL checks an absolute URL with a host and no fragment.
func absoluteURL(c *checker, field, v string) {
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" ||
		len(v) > maxURLLength {
		c.Add(field, apperr.CodeInvalidFormat, "Must be an absolute URL")
	}
}

// httpsURL checks an absolute https URL.
func httpsURL(c *checker, field, v string) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(v) > maxURLLength {
		c.Add(field, apperr.CodeInvalidFormat, "Must be an https URL")
	}
}

// exactOrigin checks scheme://host[:port] with nothing else and no
// wildcard.
func exactOrigin(c *checker, field, v string) {
	u, err := url.Parse(v)
	ok := err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" &&
		u.Scheme+"://"+u.Host == v && !strings.Contains(v, "*")
	if !ok {
		c.Add(field, apperr.CodeInvalidFormat,
			"Must be an exact origin (scheme://host[:port]) without wildcard")
	}
}

func applySessions(c *checker, o *Organisation, p OrganisationPatch, set setter) {
	if set("sessionLifetime", p.SessionLifetime.Set) &&
		required(c, "sessionLifetime", p.SessionLifetime.Null) {
		o.SessionLifetime = p.SessionLifetime.Value
		bounds(c, "sessionLifetime", o.SessionLifetime, minSessionSeconds, maxSessionSeconds)
	}
	if set("sessionIdleTimeout", p.SessionIdleTimeout.Set) &&
		required(c, "sessionIdleTimeout", p.SessionIdleTimeout.Null) {
		o.SessionIdleTimeout = p.SessionIdleTimeout.Value
	}
	if p.SessionLifetime.Set || p.SessionIdleTimeout.Set {
		bounds(c, "sessionIdleTimeout", o.SessionIdleTimeout, minIdleSeconds,
			o.SessionLifetime)
	}
	if set("requireMfa", p.RequireMFA.Set) && required(c, "requireMfa", p.RequireMFA.Null) {
		o.RequireMFA = p.RequireMFA.Value
	}
	if set("allowedMfaMethods", p.AllowedMFAMethods.Set) &&
		required(c, "allowedMfaMethods", p.AllowedMFAMethods.Null) {
		m := p.AllowedMFAMethods.Value
		if len(m) != 1 || m[0] != "totp" {
			c.Add("allowedMfaMethods", apperr.CodeInvalidValue, `Must be ["totp"]`)
		}
		o.AllowedMFAMethods = nonNil(m)
	}
}

// bounds checks min ≤ v ≤ max.
func bounds(c *checker, field string, v, min, max int) {
	switch {
	case v < min:
		c.Add(field, apperr.CodeTooSmall, "Must be at least "+strconv.Itoa(min))
	case v > max:
		c.Add(field, apperr.CodeTooLarge, "Must be at most "+strconv.Itoa(max))
	}
}

func applyPolicies(c *checker, o *Organisation, p OrganisationPatch, set setter) {
	if set("passwordPolicy", p.PasswordPolicy.Set) {
		if !p.PasswordPolicy.Null {
			checkPasswordPolicy(c, p.PasswordPolicy.Value)
		}
		o.PasswordPolicy = rawOrNull(p.PasswordPolicy)
	}
	if set("tokenLifetimePolicy", p.TokenLifetimePolicy.Set) {
		if !p.TokenLifetimePolicy.Null {
			checkLifetimes(c, p.TokenLifetimePolicy.Value)
		}
		o.TokenLifetimePolicy = rawOrNull(p.TokenLifetimePolicy)
	}
	if set("branding", p.Branding.Set) {
		if !p.Branding.Null {
			checkBranding(c, p.Branding.Value)
		}
		o.Branding = rawOrNull(p.Branding)
	}
	if set("metadata", p.Metadata.Set) {
		o.Metadata = rawOrNull(p.Metadata)
		if len(o.Metadata) > maxMetadataBytes {
			c.Add("metadata", apperr.CodeTooLarge, "Must be at most 16 KiB")
		}
	}
}

// rawOrNull encodes a patch value as stored JSON.
func rawOrNull[T any](f patch.Field[T]) json.RawMessage {
	if f.Null {
		return json.RawMessage("null")
	}
	b, err := json.Marshal(f.Value)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

func checkPasswordPolicy(c *checker, p PasswordPolicy) {
	if p.MinLength != nil {
		bounds(c, "passwordPolicy.minLength", *p.MinLength,
			identity.DefaultPasswordPolicy.MinLength, 128)
	}
	if p.PreventReuse != nil {
		bounds(c, "passwordPolicy.preventReuse", *p.PreventReuse, 0, 24)
	}
}

func checkLifetimes(c *checker, p TokenLifetimePolicy) {
	for _, l := range []struct {
		name     string
		v        *int
		min, max int
	}{
		{"accessToken", p.AccessToken, 60, 86_400},
		{"idToken", p.IDToken, 60, 86_400},
		{"refreshToken", p.RefreshToken, 3_600, 31_536_000},
	} {
		if l.v != nil {
			bounds(c, "tokenLifetimePolicy."+l.name, *l.v, l.min, l.max)
		}
	}
}

func checkBranding(c *checker, b Branding) {
	if b.LogoURL != nil {
		httpsURL(c, "branding.logoUrl", *b.LogoURL)
	}
	if b.PrimaryColor != nil && !colorPattern.MatchString(*b.PrimaryColor) {
		c.Add("branding.primaryColor", apperr.CodeInvalidFormat, "Must be #RRGGBB")
	}
}

// saveOrganisation writes every setting and records the change.
func (s *Service) saveOrganisation(ctx context.Context, tx *sql.Tx, o *Organisation,
	fields []string) error {
	now := s.clock()
	_, err := tx.ExecContext(ctx, `UPDATE organisations SET name = $1, email = $2,
		phone = $3, website = $4, allowed_callback_urls = $5, allowed_logout_urls = $6,
		allowed_origins = $7, session_lifetime = $8, session_idle_timeout = $9,
		require_mfa = $10, allowed_mfa_methods = $11, password_policy = $12,
		token_lifetime_policy = $13, branding = $14, metadata = $15, updated_at = $16
		WHERE id = $17 AND deleted_at IS NULL`, o.Name, o.Email, o.Phone, o.Website,
		jsonList(o.AllowedCallbackURLs), jsonList(o.AllowedLogoutURLs),
		jsonList(o.AllowedOrigins), o.SessionLifetime, o.SessionIdleTimeout, o.RequireMFA,
		jsonList(o.AllowedMFAMethods), storedJSON(o.PasswordPolicy),
		storedJSON(o.TokenLifetimePolicy), storedJSON(o.Branding), storedJSON(o.Metadata),
		now, o.ID)
	if err != nil {
		return fmt.Errorf("update organisation: %w", err)
	}
	return s.events.Record(ctx, tx, event.Event{Type: "organisation.updated",
		OrganisationID: o.ID, ResourceType: "organisation", ResourceID: o.ID,
		Metadata: map[string]any{"fields": fields}})
}

func jsonList(v []string) any {
	b, _ := json.Marshal(nonNil(v))
	return string(b)
}

// storedJSON maps raw JSON to a column value, NULL for null.
func storedJSON(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return string(raw)
}
