// Command local is `make run`: the whole API at http://127.0.0.1:3000 from
// one process, serving the same handlers as the Lambdas over a local AWS
// emulation (moto_server), with a demo organisation and API key ready for curl.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/app"
	"github.com/sendwell/sendwell/shared/auth"
	sequenceworker "github.com/sendwell/sendwell/shared/automation/worker"
	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/config"
	"github.com/sendwell/sendwell/shared/domains"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/imports/importworker"
	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/localaws/mailbox"
	"github.com/sendwell/sendwell/shared/logx"
	"github.com/sendwell/sendwell/shared/messages/scheduler"
	"github.com/sendwell/sendwell/shared/messages/sendworker"
	"github.com/sendwell/sendwell/shared/messages/sesevents"
	"github.com/sendwell/sendwell/shared/platform"
	segmentworker "github.com/sendwell/sendwell/shared/segments/worker"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
	"github.com/sendwell/sendwell/shared/webhooks"
)

// Demo credentials of the organisation the local stack creates.
const (
	demoEmail    = "demo@sendwell.local"
	demoPassword = "sendwell-demo-password"
	devSecret    = "sendwell-local-development-secret-not-for-production"
	// devLinkSecret signs the local stack's unsubscribe and tracking links:
	// its own secret, as in AWS.
	devLinkSecret = "sendwell-local-link-secret-not-for-production"
	// devWebhookKey seals the local stack's webhook secrets.
	devWebhookKey = "sendwell-local-webhook-key-not-for-production"
)

func main() {
	slog.SetDefault(logx.Default())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sendwell:", err)
		os.Exit(1)
	}
}

// schedulerEvery is how often the local stack ticks the scheduler (AWS:
// every minute), so a scheduled send is late by seconds here too.
const schedulerEvery = 5 * time.Second

// segmentBatchTimeout is the segment worker's deadline per batch, its
// Lambda timeout in template.yaml; less than the local segment queue's
// visibility timeout (localaws.SegmentVisibility).
const segmentBatchTimeout = 60 * time.Second

// sequenceBatchTimeout is the sequence worker's deadline per batch, its
// Lambda timeout in template.yaml.
const sequenceBatchTimeout = 60 * time.Second

// run serves until ctx is done, then stops everything it started.
func run(ctx context.Context, out io.Writer) error {
	port := envOr("PORT", "3000")
	endpoint := os.Getenv("AWS_ENDPOINT_URL")
	if endpoint == "" {
		motoPort, _ := strconv.Atoi(os.Getenv("MOTO_PORT"))
		moto, err := localaws.StartMoto(motoPort)
		if err != nil {
			return err
		}
		defer moto.Stop()
		endpoint = moto.Endpoint
		fmt.Fprintf(out, "moto_server (local AWS) at %s\n", endpoint)
	} else {
		fmt.Fprintf(out, "using the AWS emulator at AWS_ENDPOINT_URL=%s\n", endpoint)
	}

	// The same settings as the Lambdas, read by the same reader; only the
	// table name, the JWT and link secrets and PUBLIC_BASE_URL (this
	// server) have local defaults, and the emulator's bucket, queues and SES
	// configuration set are filled in below.
	setDefault("TABLE_NAME", "sendwell-local")
	setDefault("JWT_SECRET", devSecret)
	setDefault("LINK_SECRET", devLinkSecret)
	setDefault("WEBHOOK_KEY", devWebhookKey)
	// A developer receives webhooks on their own machine.
	setDefault("WEBHOOK_ALLOWED_HOSTS", "localhost,127.0.0.1")
	// moto verifies no domain and lacks calls SES has: the SES adapter's local-only setting.
	setDefault(domains.LocalAutoVerifyEnv, "true")
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	if err := cfg.LoadJWTSecret(ctx, nil); err != nil {
		return err
	}
	if err := cfg.LoadLinkSecret(ctx, nil); err != nil {
		return err
	}
	if err := cfg.LoadWebhookKey(ctx, nil); err != nil {
		return err
	}
	// Listen before the workers start: the links in emails name the
	// server's address, which PORT=0 only gives once it is bound.
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		return fmt.Errorf("listen on port %s (set PORT to use another): %w", port, err)
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String() // PORT=0 picks a free port
	if cfg.PublicBaseURL == "" {
		// PUBLIC_BASE_URL's local default: unsubscribe and tracking links
		// point at this server.
		cfg.PublicBaseURL = base
	}
	awsCfg, err := localaws.Config(ctx, endpoint)
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(awsCfg)
	if err := store.EnsureTable(ctx, db, cfg.TableName); err != nil {
		return err
	}
	res, err := localaws.EnsureResources(ctx, awsCfg, cfg.TableName)
	if err != nil {
		return err
	}
	cfg.ImportsBucket, cfg.ImportQueueURL, cfg.DomainEventsQueueURL, cfg.S3PathStyle = res.ImportsBucket, res.ImportQueueURL, res.DomainEventsQueueURL, true
	cfg.SendQueueURL, cfg.ConfigurationSet = res.SendQueueURL, res.ConfigurationSet
	cfg.SegmentQueueURL, cfg.WebhookQueueURL, cfg.SequenceQueueURL = res.SegmentQueueURL, res.WebhookQueueURL, res.SequenceQueueURL
	deps, err := platform.NewDeps(awsCfg, cfg, clock.System{})
	if err != nil {
		return err
	}
	handler, err := app.All(deps)
	if err != nil {
		return err
	}
	// The stream's checkpoint, per emulator and table: make run stopped (or
	// killed mid-batch) and started again on the same emulator goes on where
	// it stopped, as Lambda's event source mapping does, so no send job,
	// enrollment step or domain event is lost on the way.
	checkpoint := filepath.Join(os.TempDir(), fmt.Sprintf("sendwell-stream-%s-%x.json", cfg.TableName, sha256.Sum256([]byte(endpoint))))
	stream, err := localaws.NewStreamReaderAt(ctx, db, dynamodbstreams.NewFromConfig(awsCfg), cfg.TableName, checkpoint)
	if err != nil {
		return err
	}
	workCtx, stopWork := context.WithCancel(ctx)
	var workers sync.WaitGroup
	defer workers.Wait()
	defer stopWork()
	worker := func(name string, run func() error) {
		workers.Go(func() {
			if err := run(); err != nil {
				slog.Error("worker stopped", "worker", name, "error", err.Error())
			}
		})
	}
	// The same handlers as the Lambdas, fed as their event sources would.
	worker("import-worker", func() error {
		h, err := importworker.Function.Build(deps)
		if err != nil {
			return err
		}
		return localaws.PollQueue(workCtx, sqs.NewFromConfig(awsCfg), res.ImportQueueURL, localaws.SQSHandler(h))
	})
	publisher := changes.NewPublisher(deps)
	worker("changes", func() error {
		return stream.Follow(workCtx, 200*time.Millisecond, func(ctx context.Context, recs []changes.Record) error {
			_, err := changes.Process(ctx, publisher, recs)
			return err
		})
	})
	// moto accepts mail but publishes no SES events: the mailbox simulator
	// feeds ses-events what SES's simulator addresses would, and writes every
	// email to the outbox.
	outbox := envOr("OUTBOX_DIR", filepath.Join(os.TempDir(), "sendwell-outbox"))
	mail := mailbox.New(sesv2.NewFromConfig(awsCfg), sesevents.New(deps).Handle, outbox, deps.Clock)
	sender := sendworker.New(deps, mail)
	worker("send-worker", func() error {
		return localaws.PollQueue(workCtx, sqs.NewFromConfig(awsCfg), res.SendQueueURL, sender.Handle)
	})
	// The segment worker consumes the domain events (contact changes, events,
	// memberships, engagement) and its own job queue, each batch with
	// Lambda's deadline, so a long build checkpoints and re-queues itself
	// as it does in AWS.
	segments := segmentworker.New(deps, sqs.NewFromConfig(awsCfg), res.SegmentQueueURL)
	segmentHandle := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		ctx, cancel := context.WithTimeout(ctx, segmentBatchTimeout)
		defer cancel()
		return segments.Handle(ctx, ev)
	}
	worker("segment-worker (domain events)", func() error {
		return localaws.PollQueue(workCtx, sqs.NewFromConfig(awsCfg), res.DomainEventsQueueURL, segmentHandle)
	})
	worker("segment-worker (segment jobs)", func() error {
		return localaws.PollQueue(workCtx, sqs.NewFromConfig(awsCfg), res.SegmentQueueURL, segmentHandle)
	})
	worker("webhook-worker", func() error {
		h, err := webhooks.WorkerFunction.Build(deps)
		if err != nil {
			return err
		}
		return localaws.PollQueue(workCtx, sqs.NewFromConfig(awsCfg), res.WebhookQueueURL, localaws.SQSHandler(h))
	})
	// The sequence worker: trigger events, enrollment steps (waits up to 15
	// minutes as SQS delays, longer ones through the scheduler), resumes and
	// broadcast pages, each batch with its Lambda's deadline.
	worker("sequence-worker", func() error {
		h, err := sequenceworker.Function.Build(deps)
		if err != nil {
			return err
		}
		handle := func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			ctx, cancel := context.WithTimeout(ctx, sequenceBatchTimeout)
			defer cancel()
			return h(ctx, ev)
		}
		return localaws.PollQueue(workCtx, sqs.NewFromConfig(awsCfg), res.SequenceQueueURL, handle)
	})
	sched := scheduler.New(deps, sqs.NewFromConfig(awsCfg))
	worker("scheduler", func() error {
		tick := time.NewTicker(schedulerEvery)
		defer tick.Stop()
		for {
			select {
			case <-workCtx.Done():
				return nil
			case <-tick.C:
				// A failed tick logs itself; the next one catches up.
				_, _ = sched.Tick(workCtx)
			}
		}
	})
	key, orgID, err := demoKey(ctx, deps)
	if err != nil {
		return fmt.Errorf("create the demo organisation: %w", err)
	}
	domain, err := demoDomain(ctx, deps, orgID)
	if err != nil {
		return fmt.Errorf("create the demo domain: %w", err)
	}

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, `
Sendwell is running at %s  (table %s)

  Demo organisation: %s / %s
  API key:           %s
  Demo domain:       %s (%s)
  Outbox:            %s  (every email sent, as .eml and .html)

  Try it:
    curl -s %s/api/users/me -H "Authorization: Bearer %s"
    curl -s %s/api/send -H "Authorization: Bearer %s" \
      -d '{"from":"Demo <hello@%s>","to":"success@simulator.amazonses.com","subject":"Hi","html":"<p>Hello</p>"}'

Ctrl-C stops everything.
`, base, cfg.TableName, demoEmail, demoPassword, key, domain.Name, domain.Status, mail.Dir(), base, key, base, key, domain.Name)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(out, "stopped")
	return nil
}

// demoKey signs up the demo organisation (or logs in, when the emulator
// already has it) and makes a fresh API key for this run; it returns the key
// and the organisation's id.
func demoKey(ctx context.Context, d *platform.Deps) (string, string, error) {
	svc := auth.NewService(d.Store, d.Tokens, d.Clock, d.Authn)
	var userID, orgID string
	s, err := svc.Signup(ctx, auth.SignupRequest{Email: demoEmail, Password: demoPassword, Name: "Demo User", Organisation: "Demo Organisation"})
	switch {
	case err == nil:
		userID, orgID = s.User.ID, s.Organisation.ID
	case errors.Is(err, errs.ErrConflict):
		s, err = svc.Login(ctx, auth.LoginRequest{Email: demoEmail, Password: demoPassword})
		if err != nil {
			return "", "", err
		}
		claims, err := d.Tokens.Verify(s.Token)
		if err != nil {
			return "", "", err
		}
		userID, orgID = claims.Subject, claims.Org
	default:
		return "", "", err
	}
	p := &tenant.Principal{OrgID: orgID, UserID: userID, Kind: tenant.KindUser, Plan: tenant.DefaultPlan}
	req := auth.CreateKeyRequest{Name: demoKeyName + d.Clock.Now().Format(time.RFC3339)}
	k, err := svc.CreateKey(ctx, p, req)
	if errors.As(err, new(*errs.Unprocessable)) {
		// Many runs against one emulator: revoke the keys earlier runs made.
		if err := revokeDemoKeys(ctx, svc, orgID); err != nil {
			return "", "", err
		}
		k, err = svc.CreateKey(ctx, p, req)
	}
	if err != nil {
		return "", "", err
	}
	return k.Key, orgID, nil
}

const demoKeyName = "make run "

// demoDomainName is the demo organisation's sending domain.
const demoDomainName = "sendwell.local"

// demoDomain adds the demo domain to the demo organisation (or finds it,
// when the emulator already has it) and verifies it.
func demoDomain(ctx context.Context, d *platform.Deps, orgID string) (domains.Domain, error) {
	ses := domains.Identities{SES: sesv2.NewFromConfig(d.AWS), Region: d.AWS.Region, LocalAutoVerify: true}
	svc := domains.NewService(d.Store, ses, d.Clock)
	req := domains.CreateRequest{Name: demoDomainName}
	if err := req.Validate(); err != nil {
		return domains.Domain{}, err
	}
	dom, err := svc.Create(ctx, orgID, req)
	if errors.Is(err, errs.ErrConflict) {
		// An earlier run's: the demo organisation's claim is fine.
		list, _, lerr := svc.List(ctx, orgID, httpx.MaxLimit, nil)
		if lerr != nil {
			return domains.Domain{}, lerr
		}
		for _, l := range list {
			if l.Name == demoDomainName {
				dom, err = l, nil
			}
		}
	}
	if err != nil {
		return domains.Domain{}, err
	}
	return svc.Verify(ctx, orgID, dom.ID)
}

func revokeDemoKeys(ctx context.Context, svc *auth.Service, orgID string) error {
	keys, _, err := svc.ListKeys(ctx, orgID, 100, nil)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if strings.HasPrefix(k.Name, demoKeyName) {
			if err := svc.DeleteKey(ctx, orgID, k.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// setDefault sets an environment variable the user left unset.
func setDefault(name, value string) {
	if os.Getenv(name) == "" {
		os.Setenv(name, value)
	}
}
