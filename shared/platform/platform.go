// Package platform is the kit every function is built from: the
// dependencies made once at cold start, the guards of the API routes
// (authentication, rate limit, idempotency), and the entry points of an API
// function, an SQS worker and a stream consumer. It imports no resource
// group: each group exports its own wiring (contacts.API, imports.Worker, …)
// and functions/<name>/main.go names the ones its binary serves.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sendwell/sendwell/shared/authn"
	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/config"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/idempotency"
	"github.com/sendwell/sendwell/shared/logx"
	"github.com/sendwell/sendwell/shared/ratelimit"
	"github.com/sendwell/sendwell/shared/store"
)

// Deps are the long-lived pieces a function builds once, at cold start.
// AWS clients other than DynamoDB's are built by the group that uses them,
// from AWS, so a binary links and builds only the clients it needs.
type Deps struct {
	Config config.Config
	Clock  clock.Clock
	AWS    aws.Config
	Store  *store.Store // nil in a function that uses no table

	// The API functions' guards and signers; nil in workers, which have no
	// JWT secret.
	Tokens  *authn.Tokens
	Cursors *httpx.Cursors
	Authn   *authn.Authenticator
	Limiter *ratelimit.Limiter
	Idem    *idempotency.Keeper
}

// NewDeps wires the dependencies; nothing is called until a request or a
// message needs it. The table's store is built only when cfg names a table
// (the changes function has none), the guards only when cfg has a JWT
// secret (workers have none).
func NewDeps(awsCfg aws.Config, cfg config.Config, clk clock.Clock) (*Deps, error) {
	d := &Deps{Config: cfg, Clock: clk, AWS: awsCfg}
	if cfg.TableName != "" {
		d.Store = store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	}
	if cfg.JWTSecret == nil {
		return d, nil
	}
	if d.Store == nil {
		return nil, errors.New("platform: an API function needs TABLE_NAME")
	}
	s := d.Store
	tokens, err := authn.NewTokens(cfg.JWTSecret, clk)
	if err != nil {
		return nil, err
	}
	d.Tokens = tokens
	d.Cursors = httpx.NewCursors(cfg.JWTSecret)
	d.Authn = authn.NewAuthenticator(s, tokens, clk)
	d.Limiter = ratelimit.New(s, clk, cfg.RateLimitPerMinute)
	d.Idem = idempotency.New(s, clk)
	return d, nil
}

// Router returns a router with the platform's guards: authentication, then
// the rate limit, then idempotency, for every authenticated route.
func (d *Deps) Router() *httpx.Router {
	tenantGuards := []httpx.Middleware{d.Authn.Middleware, d.Limiter.Middleware, d.Idem.Middleware}
	userGuards := []httpx.Middleware{d.Authn.Middleware, authn.RequireUser, d.Limiter.Middleware, d.Idem.Middleware}
	return httpx.NewRouter(map[httpx.Access][]httpx.Middleware{
		httpx.Tenant:   tenantGuards,
		httpx.UserOnly: userGuards,
	}, d.Clock)
}

// API is what one resource group serves: its name and how it adds its
// routes (with the services behind them) to a router.
type API struct {
	Name   string
	Routes func(d *Deps, rt *httpx.Router) error
	// LinkSecret: the group verifies signed links (links.API), so the
	// function that serves it reads the link secret at cold start too.
	LinkSecret bool
	// WebhookKey: the group seals webhook secrets (webhooks.API), so the
	// function that serves it reads the webhook key at cold start too.
	WebhookKey bool
}

// Mount adds the routes of apis to rt.
func Mount(d *Deps, rt *httpx.Router, apis ...API) error {
	for _, a := range apis {
		if err := a.Routes(d, rt); err != nil {
			return fmt.Errorf("platform: %s: %w", a.Name, err)
		}
	}
	return nil
}

// SQSHandler is a queue worker's Lambda handler: it reports the messages
// to retry (ReportBatchItemFailures) instead of failing the batch.
type SQSHandler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// StreamHandler is a DynamoDB stream consumer's Lambda handler.
type StreamHandler func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// EventHandler is the Lambda handler of a function EventBridge invokes (a
// rule's events, or a schedule's ticks). An error makes Lambda retry the
// event (asynchronous invocation: twice, then the function's DLQ).
type EventHandler func(context.Context, events.EventBridgeEvent) error

// Worker is a function fed by an event source: its name, the settings it
// cannot start without, and how it builds its handler (H is SQSHandler,
// StreamHandler or EventHandler).
type Worker[H SQSHandler | StreamHandler | EventHandler] struct {
	Name  string
	Needs []string
	// LinkSecret: the worker reads the link secret at cold start (the send
	// worker signs the unsubscribe and tracking links with it). No worker
	// reads the JWT secret.
	LinkSecret bool
	// WebhookKey: the worker opens webhook secrets to sign deliveries.
	WebhookKey bool
	Build      func(d *Deps) (H, error)
}

// RunAPI is the whole main of an API function: JSON logs with the request
// and tenant ids, the JWT secret (and the link secret when one of apis
// asks for it) and the dependencies read once, the routes of apis, then the
// Lambda loop. A missing setting stops the cold start with
// a clear log line.
func RunAPI(apis ...API) {
	name := apis[0].Name
	if err := config.Require("TABLE_NAME"); err != nil {
		setupLogs()
		fail(name, err)
	}
	d := mustDeps(name, true, wantsLinkSecret(apis))
	if wantsWebhookKey(apis) {
		loadWebhookKey(name, d)
	}
	rt := d.Router()
	if err := Mount(d, rt, apis...); err != nil {
		fail(name, err)
	}
	lambda.Start(httpx.Lambda(rt))
}

// RunWorker is the whole main of a queue worker or stream consumer.
func RunWorker[H SQSHandler | StreamHandler | EventHandler](w Worker[H]) {
	if err := config.Require(w.Needs...); err != nil {
		setupLogs()
		fail(w.Name, err)
	}
	d := mustDeps(w.Name, false, w.LinkSecret)
	if w.WebhookKey {
		loadWebhookKey(w.Name, d)
	}
	h, err := w.Build(d)
	if err != nil {
		fail(w.Name, err)
	}
	lambda.Start(h)
}

// setupLogs makes slog write Lambda's JSON lines, with the request and
// tenant ids of the context on each.
func setupLogs() {
	slog.SetDefault(slog.New(logx.NewHandler(lambdacontext.NewLogHandler())))
}

// mustDeps reads the settings, and the secrets asked for (each from its own
// SSM parameter in AWS), and builds the dependencies.
func mustDeps(function string, jwtSecret, linkSecret bool) *Deps {
	setupLogs()
	ctx := context.Background()
	cfg, err := config.FromEnv()
	if err != nil {
		fail(function, err)
	}
	awsCfg, err := awsx.Load(ctx)
	if err != nil {
		fail(function, err)
	}
	readSecret := func(ctx context.Context, name string) (string, error) { return awsx.ReadParameter(ctx, awsCfg, name) }
	if err := loadSecrets(ctx, &cfg, readSecret, jwtSecret, linkSecret); err != nil {
		fail(function, err)
	}
	d, err := NewDeps(awsCfg, cfg, clock.System{})
	if err != nil {
		fail(function, err)
	}
	return d
}

// loadSecrets reads the secrets a function asked for, and only those: a
// worker never reads the JWT secret's parameter, and only the functions that
// sign or verify links read the link secret's.
func loadSecrets(ctx context.Context, cfg *config.Config, readSecret config.SecretReader, jwtSecret, linkSecret bool) error {
	if jwtSecret {
		if err := cfg.LoadJWTSecret(ctx, readSecret); err != nil {
			return err
		}
	}
	if linkSecret {
		return cfg.LoadLinkSecret(ctx, readSecret)
	}
	return nil
}

// loadWebhookKey reads the webhook key (WEBHOOK_KEY, or its SSM parameter)
// at cold start, or stops the function saying why.
func loadWebhookKey(function string, d *Deps) {
	read := func(ctx context.Context, name string) (string, error) { return awsx.ReadParameter(ctx, d.AWS, name) }
	if err := d.Config.LoadWebhookKey(context.Background(), read); err != nil {
		fail(function, err)
	}
}

// wantsWebhookKey: one of apis seals webhook secrets.
func wantsWebhookKey(apis []API) bool {
	for _, a := range apis {
		if a.WebhookKey {
			return true
		}
	}
	return false
}

// wantsLinkSecret: one of apis verifies signed links.
func wantsLinkSecret(apis []API) bool {
	for _, a := range apis {
		if a.LinkSecret {
			return true
		}
	}
	return false
}

func fail(function string, err error) {
	slog.Error("cannot start", "function", function, "error", err.Error())
	os.Exit(1)
}
