package webhooks

import (
	"crypto/sha256"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/webhooks/safehttp"
)

// API is the webhooks group's function: endpoints, their secrets, test
// deliveries and the delivery log. It reads the webhook key at cold start.
var API = platform.API{Name: "webhooks", Routes: routes, WebhookKey: true}

func routes(d *platform.Deps, rt *httpx.Router) error {
	svc, err := ServiceFrom(d)
	if err != nil {
		return err
	}
	NewHandlers(svc, d.Cursors).Register(rt)
	return nil
}

// ServiceFrom builds the service from a function's settings: the webhook
// key (hashed to AES-256's 32 bytes, so any secret of 32 characters or more
// serves), WEBHOOK_ALLOWED_HOSTS, and WEBHOOK_QUEUE_URL (where replays go).
func ServiceFrom(d *platform.Deps) (*Service, error) {
	if len(d.Config.WebhookKey) == 0 {
		return nil, errors.New("webhooks: no webhook key (WEBHOOK_KEY or WEBHOOK_KEY_PARAMETER)")
	}
	key := sha256.Sum256(d.Config.WebhookKey)
	sealer, err := NewSealer(key[:])
	if err != nil {
		return nil, err
	}
	policy, err := safehttp.NewPolicy(d.Config.WebhookAllowedHosts)
	if err != nil {
		return nil, err
	}
	svc := NewService(d.Store, d.Clock, sealer, policy)
	if d.Config.WebhookQueueURL != "" {
		svc.WithQueue(sqs.NewFromConfig(d.AWS), d.Config.WebhookQueueURL)
	}
	return svc, nil
}

// WorkerFunction is the webhook-worker function: the webhook queue's
// domain events (fanned out to the endpoints that subscribe) and attempts.
var WorkerFunction = platform.Worker[platform.SQSHandler]{
	Name:       "webhook-worker",
	Needs:      []string{"TABLE_NAME", "WEBHOOK_QUEUE_URL"},
	WebhookKey: true,
	Build: func(d *platform.Deps) (platform.SQSHandler, error) {
		svc, err := ServiceFrom(d)
		if err != nil {
			return nil, err
		}
		return NewWorker(svc, svc.q, d.Config.WebhookQueueURL).Handle, nil
	},
}
