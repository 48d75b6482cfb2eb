// Package app assembles each function's HTTP handler from the shared
// packages. The Lambdas, the local server and the tests all build their
// handlers here, so they serve the same thing.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/sendwell/sendwell/shared/auth"
	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/config"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/idempotency"
	"github.com/sendwell/sendwell/shared/imports"
	"github.com/sendwell/sendwell/shared/logx"
	"github.com/sendwell/sendwell/shared/openapi"
	"github.com/sendwell/sendwell/shared/ratelimit"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tracking"
)

// Deps are the long-lived pieces a function builds once, at cold start.
type Deps struct {
	Config  config.Config
	Clock   clock.Clock
	S3      *s3.Client
	SQS     *sqs.Client
	Store   *store.Store
	Tokens  *auth.Tokens
	Cursors *httpx.Cursors
	Authn   *auth.Authenticator
	Limiter *ratelimit.Limiter
	Idem    *idempotency.Keeper
}

// NewDeps wires the dependencies; clients are built from awsCfg (nothing is
// called until a request needs it).
func NewDeps(awsCfg aws.Config, cfg config.Config, clk clock.Clock) (*Deps, error) {
	s := store.New(dynamodb.NewFromConfig(awsCfg), cfg.TableName)
	tokens, err := auth.NewTokens(cfg.JWTSecret, clk)
	if err != nil {
		return nil, err
	}
	return &Deps{
		Config: cfg,
		Clock:  clk,
		S3: s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			o.UsePathStyle = cfg.S3PathStyle
			o.DisableLogOutputChecksumValidationSkipped = true // ranged reads carry no checksum
		}),
		SQS:     sqs.NewFromConfig(awsCfg),
		Store:   s,
		Tokens:  tokens,
		Cursors: httpx.NewCursors(cfg.JWTSecret),
		Authn:   auth.NewAuthenticator(s, tokens, clk),
		Limiter: ratelimit.New(s, clk, cfg.RateLimitPerMinute),
		Idem:    idempotency.New(s, clk),
	}, nil
}

// FromEnv builds Deps from the environment and the default AWS configuration.
func FromEnv(ctx context.Context) (*Deps, error) {
	awsCfg, err := awsx.Load(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := config.FromEnv(ctx, ssmReader(ssm.NewFromConfig(awsCfg)))
	if err != nil {
		return nil, err
	}
	return NewDeps(awsCfg, cfg, clock.System{})
}

func ssmReader(c *ssm.Client) config.SecretReader {
	return func(ctx context.Context, name string) (string, error) {
		out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: &name, WithDecryption: aws.Bool(true)})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Parameter.Value), nil
	}
}

// router returns a router with the platform's guards: authentication, then
// the rate limit, then idempotency, for every authenticated route.
func (d *Deps) router() *httpx.Router {
	tenantGuards := []httpx.Middleware{d.Authn.Middleware, d.Limiter.Middleware, d.Idem.Middleware}
	userGuards := []httpx.Middleware{d.Authn.Middleware, auth.RequireUser, d.Limiter.Middleware, d.Idem.Middleware}
	return httpx.NewRouter(map[httpx.Access][]httpx.Middleware{
		httpx.Tenant:   tenantGuards,
		httpx.UserOnly: userGuards,
	}, d.Clock)
}

// registrar adds one resource group's routes to a router.
type registrar func(d *Deps, rt *httpx.Router)

func authRoutes(d *Deps, rt *httpx.Router) {
	svc := auth.NewService(d.Store, d.Tokens, d.Clock, d.Authn)
	auth.NewHandlers(svc, d.Cursors).Register(rt)
}

func contactRoutes(d *Deps, rt *httpx.Router) {
	cs := contacts.NewService(d.Store, d.Clock)
	contacts.NewHandlers(cs, d.Cursors).Register(rt)
	tracking.NewHandlers(tracking.NewService(d.Store, cs, d.Config.EventRetention), d.Cursors).Register(rt)
	imports.NewHandlers(d.Imports()).Register(rt)
}

// Imports is the bulk-import service.
func (d *Deps) Imports() *imports.Service {
	return imports.NewService(d.Store, contacts.NewService(d.Store, d.Clock), d.Clock, d.S3, d.Config.ImportsBucket)
}

// ImportWorker is the import queue's handler. It keeps a minute before its
// deadline to checkpoint and queue the rest of a large file.
func (d *Deps) ImportWorker() *imports.Worker {
	enqueue := func(ctx context.Context, c imports.Continuation) error {
		body, _ := json.Marshal(c)
		_, err := d.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &d.Config.ImportQueueURL, MessageBody: aws.String(string(body))})
		return err
	}
	return imports.NewWorker(d.Imports(), enqueue, time.Minute)
}

// Changes is the stream consumer's publisher onto the domain-events queue.
func (d *Deps) Changes() *changes.QueuePublisher {
	return &changes.QueuePublisher{SQS: d.SQS, QueueURL: d.Config.DomainEventsQueueURL}
}

// publicRoutes are the routes that need no credentials and no AWS.
func publicRoutes(rt *httpx.Router) {
	rt.Handle("GET /api/health", httpx.Public, func(w http.ResponseWriter, _ *http.Request) error {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return nil
	})
	rt.Handle("GET /api/openapi.json", httpx.Public, openapi.Serve)
}

// Functions names each API function and what it serves.
var Functions = map[string]registrar{
	"auth":     authRoutes,
	"contacts": contactRoutes,
}

// Router returns the router of one API function ("auth", "contacts").
func (d *Deps) Router(function string) (*httpx.Router, error) {
	reg, ok := Functions[function]
	if !ok {
		return nil, fmt.Errorf("app: no function %q", function)
	}
	rt := d.router()
	reg(d, rt)
	return rt, nil
}

// Public returns the public function's router: health, the OpenAPI document
// and the JSON 404 for every unknown route. It needs no dependencies.
func Public(clk clock.Clock) *httpx.Router {
	rt := httpx.NewRouter(nil, clk)
	publicRoutes(rt)
	return rt
}

// All returns one router serving every route, for the local server.
func (d *Deps) All() *httpx.Router {
	rt := d.router()
	publicRoutes(rt)
	for _, name := range slices.Sorted(maps.Keys(Functions)) {
		Functions[name](d, rt)
	}
	return rt
}

// Lambda is the entry point of an API function behind API Gateway's HTTP API
// (payload format 2.0).
func Lambda(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(h).ProxyWithContext
}

// RunImportWorker is the whole main of the import worker.
func RunImportWorker() {
	deps := mustDeps("import-worker", "IMPORTS_BUCKET", "IMPORT_QUEUE_URL")
	lambda.Start(deps.ImportWorker().Handle)
}

// RunChanges is the whole main of the stream consumer.
func RunChanges() {
	deps := mustDeps("changes", "DOMAIN_EVENTS_QUEUE_URL")
	lambda.Start(changes.Handler(deps.Changes()))
}

func mustDeps(function string, required ...string) *Deps {
	slog.SetDefault(slog.New(logx.NewHandler(lambdacontext.NewLogHandler())))
	for _, name := range required {
		if os.Getenv(name) == "" {
			slog.Error("cannot start", "function", function, "error", name+" is not set")
			os.Exit(1)
		}
	}
	deps, err := FromEnv(context.Background())
	if err != nil {
		slog.Error("cannot start", "function", function, "error", err.Error())
		os.Exit(1)
	}
	return deps
}

// RunLambda is the whole main of an API function: JSON logs with the request
// and tenant ids, dependencies built once from the environment, then the
// Lambda loop. A missing setting stops the cold start with a clear log line.
func RunLambda(function string) {
	deps := mustDeps(function)
	rt, err := deps.Router(function)
	if err != nil {
		slog.Error("cannot start", "function", function, "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(Lambda(rt))
}
