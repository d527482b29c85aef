// Package event records what happens in Cerberus IAM: an audit row per
// event and a webhook outbox row per subscribed endpoint, written in the
// transaction of the change they describe, so that both commit or neither
// does.
//
// Who acted and from where travel in the context: the HTTP layer sets them
// with WithRequest and WithActor, the CLI with WithActor(SystemActor).
package event

import (
	"context"
)

// Actor types.
const (
	ActorUser   = "user"
	ActorAPIKey = "api_key"
	ActorClient = "client"
	ActorSystem = "system"
)

// Actor is who caused an event: a user, an API key, an OAuth client (by its
// client_id) or the system.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// SystemActor is the actor of scheduled jobs and CLI commands.
var SystemActor = Actor{Type: ActorSystem}

// RequestInfo carries the facts of the HTTP request behind an event.
type RequestInfo struct {
	IP        string
	UserAgent string
	RequestID string
}

type requestKey struct{}
type actorKey struct{}

// WithRequest returns a context carrying request facts for events.
func WithRequest(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestKey{}, info)
}

// RequestFrom returns the request facts of ctx (zero when none).
func RequestFrom(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestKey{}).(RequestInfo)
	return info
}

// WithActor returns a context naming the actor of the events it records.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor of ctx, or false when none was set.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}
