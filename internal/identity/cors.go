package identity

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/cerberus-iam/cerberus/internal/telemetry"
)

// originCacheTTL bounds how long a preflight answer about an origin is
// reused: an origin added to or removed from an organisation's
// allowedOrigins takes effect for preflights within this time (actual
// requests are checked against the current row).
const originCacheTTL = 30 * time.Second

// originCache remembers whether any live organisation allows an origin.
type originCache struct {
	mu      sync.Mutex
	entries map[string]originEntry
}

type originEntry struct {
	allowed bool
	at      time.Time
}

// maxOriginEntries bounds the cache against floods of made-up origins.
const maxOriginEntries = 1024

// OrganisationAllows reports whether origin is in the allowedOrigins of the
// request's organisation: the organisation of its session cookie, else the
// one its X-Org-Domain header names. For a preflight, which carries
// neither, it reports whether any live organisation allows the origin.
func (s *Service) OrganisationAllows(r *http.Request, origin string, preflight bool) bool {
	ctx := r.Context()
	if preflight {
		return s.anyOrganisationAllows(ctx, origin)
	}
	orgID := s.requestOrganisation(r)
	if orgID == "" {
		return false
	}
	var ok bool
	err := s.db.QueryRowContext(ctx, `SELECT TRUE FROM organisations
		WHERE id = $1 AND deleted_at IS NULL AND `+
		s.db.Dialect.JSONArrayContains("allowed_origins", "$2"), orgID, origin).Scan(&ok)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		telemetry.Logger(ctx).Warn("cors origin lookup failed", "error", err.Error())
	}
	return ok
}

// requestOrganisation finds the organisation of a request without
// touching its session.
func (s *Service) requestOrganisation(r *http.Request) string {
	if token := s.cookies.SessionToken(r); token != "" {
		if st, err := s.lookupSession(r.Context(), token); err == nil && st != nil {
			return st.OrganisationID
		}
	}
	if slug := r.Header.Get("X-Org-Domain"); slug != "" {
		if id, err := s.OrganisationIDBySlug(r.Context(), slug); err == nil {
			return id
		}
	}
	return ""
}

func (s *Service) anyOrganisationAllows(ctx context.Context, origin string) bool {
	now := s.clock()
	c := &s.origins
	c.mu.Lock()
	e, ok := c.entries[origin]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < originCacheTTL {
		return e.allowed
	}
	var allowed bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM organisations
		WHERE deleted_at IS NULL AND `+
		s.db.Dialect.JSONArrayContains("allowed_origins", "$1")+`)`, origin).Scan(&allowed)
	if err != nil {
		telemetry.Logger(ctx).Warn("cors origin lookup failed", "error", err.Error())
		return false
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxOriginEntries {
		c.entries = map[string]originEntry{}
	}
	c.entries[origin] = originEntry{allowed: allowed, at: now}
	c.mu.Unlock()
	return allowed
}
