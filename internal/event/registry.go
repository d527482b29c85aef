package event

import (
	"slices"
	"strings"
)

// AuditTypes is the registry of audit event types. Recording a type not in
// it is a programming error and fails the transaction.
var AuditTypes = []string{
	"user.login.success", "user.login.failed", "user.logout", "user.locked",
	"user.password_reset", "user.password_changed", "user.mfa.enabled", "user.mfa.disabled",
	"user.email_verified", "user.created", "user.updated", "user.deleted", "user.blocked",
	"user.unblocked", "user.role_assigned", "user.role_removed",
	"session.revoked",
	"oauth2.authorize", "oauth2.consent.granted", "oauth2.consent.revoked",
	"oauth2.token_issued", "oauth2.token_refreshed", "oauth2.token_revoked",
	"oauth2.refresh_token_reuse_detected",
	"client.created", "client.updated", "client.revoked", "client.deleted",
	"client.secret_regenerated",
	"role.created", "role.updated", "role.deleted", "permission.granted", "permission.revoked",
	"team.created", "team.updated", "team.deleted", "team.member_added", "team.member_removed",
	"invitation.created", "invitation.resent", "invitation.cancelled", "invitation.accepted",
	"api_key.created", "api_key.revoked",
	"webhook.created", "webhook.updated", "webhook.deleted", "webhook.secret_rotated",
	"webhook.disabled",
	"organisation.updated", "organisation.deleted",
	"system.keys_rotated", "system.encryption_key_rotated", "system.tokens_revoked_all",
	"system.password_reset_forced",
}

// WebhookTypes is the registry of webhook event types endpoints may
// subscribe to. webhook.test is sent only by the test endpoint.
var WebhookTypes = []string{
	"user.created", "user.updated", "user.deleted", "user.blocked", "user.unblocked",
	"mfa.enabled", "mfa.disabled",
	"role.created", "role.updated", "role.deleted",
	"team.created", "team.updated", "team.deleted",
	"client.created", "client.updated", "client.revoked",
	"session.created", "session.revoked",
	"login.success", "login.failed",
	"invitation.created", "invitation.accepted",
	"oauth2.token.revoked", "oauth2.refresh_token.reuse_detected",
}

// TestWebhookType is the type of the test delivery.
const TestWebhookType = "webhook.test"

// IsAuditType reports whether t is a registered audit event type.
func IsAuditType(t string) bool { return slices.Contains(AuditTypes, t) }

// IsWebhookType reports whether endpoints may subscribe to t.
func IsWebhookType(t string) bool { return slices.Contains(WebhookTypes, t) }

// Category returns the eventCategory of an audit event type.
func Category(t string) string {
	switch {
	case strings.HasPrefix(t, "user.login."), t == "user.logout", t == "user.locked",
		strings.HasPrefix(t, "user.password_"), strings.HasPrefix(t, "user.mfa."):
		return "auth"
	case strings.HasPrefix(t, "role."), strings.HasPrefix(t, "permission."):
		return "permission"
	}
	first, _, _ := strings.Cut(t, ".")
	return first
}

// Action returns the action (create, update, delete, login, logout) of an
// audit event type.
func Action(t string) string {
	switch {
	case strings.HasPrefix(t, "user.login."):
		return "login"
	case t == "user.logout":
		return "logout"
	case t == "oauth2.authorize", t == "oauth2.token_issued",
		hasAnySuffix(t, ".created", ".granted", "_added", "_assigned"):
		return "create"
	case t == "system.tokens_revoked_all",
		hasAnySuffix(t, ".deleted", ".revoked", "_revoked", "_removed", ".cancelled",
			"_reuse_detected"):
		return "delete"
	}
	return "update"
}

func hasAnySuffix(s string, suffixes ...string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}
