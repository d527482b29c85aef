package access

import (
	"context"

	"github.com/cerberus-iam/cerberus/internal/event"
)

// Kind is the kind of credential a principal presented.
type Kind int

// The credential kinds.
const (
	KindSession     Kind = iota + 1 // the session cookie
	KindUserToken                   // an access token issued to a user
	KindClientToken                 // an access token of the client credentials grant
	KindAPIKey                      // an API key (ck_…)
)

// Principal is the authenticated caller of a request.
type Principal struct {
	Kind           Kind
	OrganisationID string
	// UserID is the user of a session or user token, or the creator of an
	// API key; empty for client tokens.
	UserID string
	// SessionID is the session behind a session credential, or the session
	// a user token was issued from (its sid), when known.
	SessionID string
	// Restricted marks an MFA-enrollment session (auth.md §2.3).
	Restricted bool
	// AMR lists the authentication methods of a session.
	AMR []string
	// Scopes are the scopes of a token or the permissions of an API key.
	Scopes []string
	// ClientID is the OAuth client_id of a token; ClientRef its clients.id.
	ClientID  string
	ClientRef string
	// APIKeyID is the id of an API key credential.
	APIKeyID string
	// TokenID is the jti of an access token.
	TokenID string
}

// Actor returns the audit actor of the principal.
func (p *Principal) Actor() event.Actor {
	switch p.Kind {
	case KindAPIKey:
		return event.Actor{Type: event.ActorAPIKey, ID: p.APIKeyID}
	case KindClientToken:
		return event.Actor{Type: event.ActorClient, ID: p.ClientID}
	}
	return event.Actor{Type: event.ActorUser, ID: p.UserID}
}

// IsUser reports a credential acting for a user: a session or a user token.
func (p *Principal) IsUser() bool {
	return p.Kind == KindSession || p.Kind == KindUserToken
}

type principalKey struct{}

// WithPrincipal returns a context carrying p, and p's actor for events.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	ctx = context.WithValue(ctx, principalKey{}, p)
	return event.WithActor(ctx, p.Actor())
}

// PrincipalFrom returns the principal of ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
