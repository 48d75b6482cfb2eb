// Package app assembles each function's HTTP handler from the shared
// packages. The Lambdas, the local server and the tests all build their
// handlers here, so they serve the same thing.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/sendwell/sendwell/shared/auth"
	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/config"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/idempotency"
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
	Store   *store.Store
	Tokens  *auth.Tokens
	Cursors *httpx.Cursors
	Authn   *auth.Authenticator
	Limiter *ratelimit.Limiter
	Idem    *idempotency.Keeper
}

// NewDeps wires the dependencies over a table.
func NewDeps(db store.DB, cfg config.Config, clk clock.Clock) (*Deps, error) {
	s := store.New(db, cfg.TableName)
	tokens, err := auth.NewTokens(cfg.JWTSecret, clk)
	if err != nil {
		return nil, err
	}
	return &Deps{
		Config:  cfg,
		Clock:   clk,
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
	return NewDeps(dynamodb.NewFromConfig(awsCfg), cfg, clock.System{})
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

// RunLambda is the whole main of an API function: JSON logs with the request
// and tenant ids, dependencies built once from the environment, then the
// Lambda loop. A missing setting stops the cold start with a clear log line.
func RunLambda(function string) {
	slog.SetDefault(slog.New(logx.NewHandler(lambdacontext.NewLogHandler())))
	deps, err := FromEnv(context.Background())
	if err == nil {
		var rt *httpx.Router
		if rt, err = deps.Router(function); err == nil {
			lambda.Start(Lambda(rt))
			return
		}
	}
	slog.Error("cannot start", "function", function, "error", err.Error())
	os.Exit(1)
}
