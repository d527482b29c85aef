package app

import (
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/httpapi"
	"github.com/cerberus-iam/cerberus/internal/retention"
	"github.com/cerberus-iam/cerberus/internal/webhook"
)

// registerWebhooks builds the webhook delivery worker and the endpoint
// service, adds the /v1/admin/webhooks routes, and adds the delivery worker
// and the retention scheduler to the workers of serve.
func (s *server) registerWebhooks(rt *httpapi.Router, svc *services) {
	if svc.events == nil {
		svc.events = event.NewRecorder(svc.now)
	}
	guard := webhook.NewGuard(nil, s.cfg.WebhookAllowPrivateTargets)
	worker := webhook.NewWorker(s.db, svc.keys, svc.events, guard, svc.now, s.log,
		webhook.WorkerOptions{Result: func(r string) {
			s.metrics.WebhookDeliveries.WithLabelValues(r).Inc()
		}})
	hooks := webhook.New(webhook.Options{DB: s.db, Keys: svc.keys, Events: svc.events,
		Guard: guard, Kick: worker, Now: svc.now, Production: s.cfg.Production()})
	(&httpapi.WebhooksAPI{Service: hooks, Auth: svc.authn}).Register(rt)
	s.workers = append(s.workers, worker, &retention.Scheduler{
		Runner: &retention.Runner{DB: s.db, Now: svc.now, Metrics: s.metrics},
		Jobs:   retention.Jobs(daysDuration(s.cfg.AuditRetentionDays)), Log: s.log})
}
