package retention

import (
	"time"

	"github.com/cerberus-iam/cerberus/internal/db"
)

// Job is one retention rule: its steps run in order, every Every.
type Job struct {
	Name  string
	Every time.Duration
	Steps []Step
}

// Step deletes the rows of Table matching Where, a condition whose only
// argument, $1, is the cutoff: the time of the run minus Age.
type Step struct {
	Table string
	Age   time.Duration
	// Where returns the condition for an engine; most are the same on both.
	Where func(db.Engine) string
	// Expired marks the step whose rows are sessions that ran out (the
	// sessions-ended metric counts them).
	Expired bool
}

func same(cond string) func(db.Engine) string {
	return func(db.Engine) string { return cond }
}

const day = 24 * time.Hour

// sessionIdleEnd is the time a session's idle limit runs out, per engine.
func sessionIdleEnd(e db.Engine) string {
	if e == db.Postgres {
		return `last_activity_at + idle_timeout * INTERVAL '1 second' <= $1`
	}
	return `strftime('%Y-%m-%dT%H:%M:%fZ', last_activity_at,
		'+' || idle_timeout || ' seconds') <= $1`
}

// Jobs returns the retention rules of the contract, with audit rows kept
// for auditRetention.
func Jobs(auditRetention time.Duration) []Job {
	return []Job{
		{Name: "sessions", Every: 10 * time.Minute, Steps: []Step{
			{Table: "sessions", Where: same(`expires_at <= $1`), Expired: true},
			{Table: "sessions", Where: sessionIdleEnd, Expired: true},
		}},
		{Name: "authorization", Every: 10 * time.Minute, Steps: []Step{
			{Table: "authorization_requests", Age: time.Hour,
				Where: same(`expires_at <= $1 OR (done AND updated_at <= $1)`)},
			{Table: "authorization_codes", Age: time.Hour,
				Where: same(`expires_at <= $1 OR consumed_at <= $1`)},
			{Table: "device_codes", Age: time.Hour,
				Where: same(`expires_at <= $1 OR consumed_at <= $1`)},
		}},
		{Name: "account_tokens", Every: time.Hour, Steps: []Step{
			{Table: "account_tokens", Age: day,
				Where: same(`expires_at <= $1 OR consumed_at <= $1`)},
		}},
		{Name: "tokens", Every: time.Hour, Steps: []Step{
			{Table: "tokens", Age: 7 * day, Where: same(`expires_at <= $1`)},
			{Table: "refresh_tokens", Age: 7 * day, Where: same(`expires_at <= $1`)},
		}},
		{Name: "client_assertions", Every: time.Hour, Steps: []Step{
			{Table: "client_assertions", Where: same(`expires_at <= $1`)},
		}},
		{Name: "jwks", Every: time.Hour, Steps: []Step{
			{Table: "jwks", Age: 7 * day,
				Where: same(`status = 'retired' AND retired_at <= $1`)},
		}},
		{Name: "invitations", Every: day, Steps: []Step{
			{Table: "invitations", Age: 90 * day, Where: same(
				`accepted_at <= $1 OR cancelled_at <= $1 OR expires_at <= $1`)},
		}},
		{Name: "consents", Every: day, Steps: []Step{
			{Table: "consents", Age: 730 * day, Where: same(`revoked_at <= $1`)},
		}},
		{Name: "outboxes", Every: day, Steps: []Step{
			{Table: "webhook_deliveries", Age: 30 * day, Where: same(`completed_at <= $1`)},
			{Table: "email_outbox", Age: 30 * day, Where: same(
				`(status = 'sent' AND sent_at <= $1) OR (status = 'failed' AND updated_at <= $1)`)},
		}},
		{Name: "organisations", Every: day, Steps: organisationPurge()},
		{Name: "users", Every: day, Steps: userPurge()},
		{Name: "clients", Every: day, Steps: clientPurge()},
		{Name: "audit_logs", Every: day, Steps: []Step{
			{Table: "audit_logs", Age: auditRetention, Where: same(`created_at < $1`)},
		}},
	}
}

// purgeAge is how long soft-deleted users, clients and organisations are
// kept before they are removed for good.
const purgeAge = 30 * day

// purgeSteps builds steps deleting, from each table, the rows whose column
// is in the set selected by parents (a SELECT of ids using $1).
func purgeSteps(parents string, tables map[string][]string) []Step {
	var steps []Step
	for _, column := range []string{"organisation_id", "user_id", "client_id", "role_id",
		"endpoint_id"} {
		for _, t := range tables[column] {
			steps = append(steps, Step{Table: t, Age: purgeAge,
				Where: same(column + ` IN (` + parents + `)`)})
		}
	}
	return steps
}

const (
	goneOrgs    = `SELECT id FROM organisations WHERE deleted_at <= $1`
	goneUsers   = `SELECT id FROM users WHERE deleted_at <= $1`
	goneClients = `SELECT id FROM clients WHERE deleted_at <= $1`
)

// organisationPurge removes every row of the organisations deleted more
// than 30 days ago, leaves first, except audit rows.
func organisationPurge() []Step {
	steps := purgeSteps(goneOrgs, map[string][]string{"organisation_id": {
		"webhook_deliveries", "webhook_endpoints", "email_outbox", "tokens",
		"refresh_tokens", "consents", "authorization_codes", "device_codes",
		"authorization_requests", "sessions", "invitations", "api_keys"}})
	users := `SELECT id FROM users WHERE organisation_id IN (` + goneOrgs + `)`
	steps = append(steps, purgeSteps(users, map[string][]string{"user_id": {
		"password_history", "mfa_backup_codes", "account_tokens", "user_roles",
		"team_members"}})...)
	clients := `SELECT id FROM clients WHERE organisation_id IN (` + goneOrgs + `)`
	steps = append(steps, purgeSteps(clients, map[string][]string{
		"client_id": {"client_assertions"}})...)
	roles := `SELECT id FROM roles WHERE organisation_id IN (` + goneOrgs + `)`
	teams := `SELECT id FROM teams WHERE organisation_id IN (` + goneOrgs + `)`
	steps = append(steps, purgeSteps(roles, map[string][]string{
		"role_id": {"role_permissions", "user_roles"}})...)
	steps = append(steps, Step{Table: "team_members", Age: purgeAge,
		Where: same(`team_id IN (` + teams + `)`)})
	steps = append(steps, purgeSteps(goneOrgs, map[string][]string{"organisation_id": {
		"clients", "users", "roles", "teams"}})...)
	return append(steps, Step{Table: "organisations", Age: purgeAge,
		Where: same(`deleted_at <= $1`)})
}

// userPurge removes users deleted more than 30 days ago with everything
// that references them. Audit rows keep their user ids.
func userPurge() []Step {
	steps := purgeSteps(goneUsers, map[string][]string{"user_id": {
		"sessions", "tokens", "refresh_tokens", "consents", "authorization_codes",
		"authorization_requests", "device_codes", "account_tokens", "password_history",
		"mfa_backup_codes", "user_roles", "team_members"}})
	return append(steps,
		Step{Table: "api_keys", Age: purgeAge,
			Where: same(`created_by_id IN (` + goneUsers + `)`)},
		Step{Table: "users", Age: purgeAge, Where: same(`deleted_at <= $1`)})
}

// clientPurge removes clients deleted more than 30 days ago with their
// grants. Webhook endpoints bound to such a client go too: unbound, they
// would start receiving every event of the organisation.
func clientPurge() []Step {
	steps := purgeSteps(goneClients, map[string][]string{"client_id": {
		"tokens", "refresh_tokens", "consents", "authorization_codes",
		"authorization_requests", "device_codes", "client_assertions"}})
	endpoints := `SELECT id FROM webhook_endpoints WHERE client_id IN (` + goneClients + `)`
	steps = append(steps, purgeSteps(endpoints, map[string][]string{
		"endpoint_id": {"webhook_deliveries"}})...)
	steps = append(steps, purgeSteps(goneClients, map[string][]string{
		"client_id": {"webhook_endpoints"}})...)
	return append(steps, Step{Table: "clients", Age: purgeAge,
		Where: same(`deleted_at <= $1`)})
}
