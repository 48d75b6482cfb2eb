package sendworker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/render"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/templates/stored"
)

// domainTTL is how long the worker trusts a domain's verification.
const domainTTL = 60 * time.Second

// Bounds of the worker's caches: when one is full it starts over.
const (
	maxCachedVersions     = 500
	maxCachedVersionBytes = 64 << 20
	maxCachedDomains      = 1000
)

// Outcomes of one message, as logged.
const (
	outcomeSent    = "sent"
	outcomeFailed  = "failed"
	outcomeRetry   = "retry"
	outcomeDropped = "dropped"
	outcomeUnknown = "unknown"
)

// Worker sends the send queue's sends.
type Worker struct {
	repo      repo
	ledger    *sends.Ledger
	templates stored.Reader
	mailer    Mailer
	signer    *sends.Signer
	engine    *render.Engine
	clock     clock.Clock
	base      string // the public function's URL
	configSet string

	versions versionCache
	domains  domainCache
}

// New builds the worker over d's table, signing links with d's link secret
// and sending through mailer.
func New(d *platform.Deps, mailer Mailer) *Worker {
	return &Worker{
		repo:      repo{d.Store},
		ledger:    &sends.Ledger{Store: d.Store},
		templates: stored.Reader{Store: d.Store},
		mailer:    mailer,
		signer:    sends.NewSigner(d.Config.LinkSecret),
		engine:    render.NewEngine(),
		clock:     d.Clock,
		base:      d.Config.PublicBaseURL,
		configSet: d.Config.ConfigurationSet,
		versions:  versionCache{m: map[string]stored.Version{}},
		domains:   domainCache{m: map[string]time.Time{}},
	}
}

// Handle sends each message's send and reports the messages SQS should
// deliver again (ReportBatchItemFailures). Messages are handled one after
// another: a worker's send rate is one email per SES round trip, so the
// function's reserved concurrency caps the account's send rate.
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		if w.handle(ctx, m.Body) == outcomeRetry {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

// handle sends one message's send and logs the outcome (ids only: no
// address ever reaches the logs).
func (w *Worker) handle(ctx context.Context, body string) string {
	var job sends.Job
	if err := json.Unmarshal([]byte(body), &job); err != nil || job.OrgID == "" || job.SendID == "" {
		// Retrying cannot mend it.
		slog.ErrorContext(ctx, "sendworker: malformed message dropped", "outcome", outcomeDropped)
		return outcomeDropped
	}
	outcome, reason, err := w.send(ctx, job)
	attrs := []any{"orgId", job.OrgID, "sendId", job.SendID, "outcome", outcome}
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	switch {
	case outcome == outcomeRetry || outcome == outcomeUnknown || err != nil:
		slog.WarnContext(ctx, "sendworker: send", attrs...)
	default:
		slog.InfoContext(ctx, "sendworker: send", attrs...)
	}
	return outcome
}

// send claims, checks, renders, mails and records one send: its outcome,
// the failure's reason, and the error to log.
func (w *Worker) send(ctx context.Context, job sends.Job) (string, string, error) {
	now := w.clock.Now()
	it, err := w.repo.claim(ctx, job.OrgID, job.SendID, now, now.Add(Lease))
	if errors.Is(err, errs.ErrConflict) {
		return outcomeDropped, "already claimed, sent, cancelled or not due", nil
	}
	if err != nil {
		return outcomeRetry, "", err // nothing was claimed
	}
	in, err := w.prepare(ctx, &it)
	var p *permanent
	if errors.As(err, &p) {
		return w.fail(ctx, &it, p)
	}
	if err != nil {
		return w.release(ctx, &it, err)
	}
	out, err := w.mailer.SendEmail(ctx, in)
	if err != nil {
		switch classifySES(err) {
		case sesRetry:
			return w.release(ctx, &it, sesCause(err))
		case sesPermanent:
			reason, detail := sesReason(err)
			return w.fail(ctx, &it, &permanent{reason: reason, detail: detail})
		default:
			// SES may have the email: leave the claim to lapse (unknown).
			return outcomeUnknown, "no answer from SES", sesCause(err)
		}
	}
	err = w.record(ctx, &it, sends.Event{Type: sends.Sent, At: w.clock.Now(), Status: sends.Sent,
		SESMessageID: aws.ToString(out.MessageId), Count: []string{sends.CountSent}})
	if err != nil {
		// SES has the email: never release it. Its lease lapses, and SES's
		// own events still tell what happened to it.
		return outcomeSent, "not recorded", err
	}
	return outcomeSent, "", nil
}

// recordAttempts is how often the worker tries to record an outcome that
// DynamoDB refused for throttling.
const recordAttempts = 3

// record records ev, trying again while DynamoDB is unavailable; an event
// recorded before (a lost answer) counts as recorded.
func (w *Worker) record(ctx context.Context, it *sends.Item, ev sends.Event) error {
	var err error
	for attempt := range recordAttempts {
		if attempt > 0 {
			if werr := store.Sleep(ctx, time.Duration(attempt)*100*time.Millisecond); werr != nil {
				return err
			}
		}
		err = w.ledger.Record(ctx, it, ev)
		var un *errs.Unavailable
		if err == nil || errors.Is(err, sends.ErrDuplicate) {
			return nil
		} else if !errors.As(err, &un) {
			return err
		}
	}
	return err
}

// fail records the send as failed, for good. If even that cannot be
// written, the claim is released so a later try fails it.
func (w *Worker) fail(ctx context.Context, it *sends.Item, p *permanent) (string, string, error) {
	err := w.record(ctx, it, sends.Event{Type: sends.Failed, At: w.clock.Now(), Status: sends.Failed,
		Reason: p.reason, Detail: p.detail, Count: []string{sends.CountFailed}})
	if err != nil {
		return w.release(ctx, it, err)
	}
	return outcomeFailed, p.reason, nil
}

// release gives the claim back (the send is queued again) and asks SQS to
// deliver the message again, after cause. When the release fails too, the
// redelivery finds the send claimed and drops it, and the lease lapses:
// the send becomes unknown, never sent twice.
func (w *Worker) release(ctx context.Context, it *sends.Item, cause error) (string, string, error) {
	if err := w.repo.release(ctx, it, w.clock.Now()); err != nil {
		return outcomeRetry, "claim not released", fmt.Errorf("%w (release: %v)", cause, err)
	}
	return outcomeRetry, "", cause
}

// prepare checks that the send may go and builds its email. A *permanent
// error says why it may not; any other error is worth another try.
func (w *Worker) prepare(ctx context.Context, it *sends.Item) (*sesv2.SendEmailInput, error) {
	var version *stored.Version
	latest := false
	if it.TemplateID != "" {
		if it.TemplateVersion > 0 {
			if v, ok := w.versions.get(it.OrgID, it.TemplateID, it.TemplateVersion); ok {
				version = &v
			}
		} else {
			latest = true
		}
	}
	rec, err := w.repo.recipient(ctx, it, latest)
	if err != nil {
		return nil, err
	}
	if rec.suppressed != "" {
		return nil, failure("suppressed: " + rec.suppressed)
	}
	if it.Kind == sends.Marketing && it.ContactID != "" {
		switch {
		case rec.contact == nil:
			return nil, failure(reasonContactDeleted)
		case !rec.contact.Subscribed:
			return nil, failure(reasonUnsubscribed)
		}
	}
	if it.TemplateID != "" && version == nil {
		n := it.TemplateVersion
		if latest {
			if n = rec.head; n == 0 {
				return nil, failure(reasonTemplateGone)
			}
		}
		v, err := w.version(ctx, it.OrgID, it.TemplateID, n)
		if err != nil {
			return nil, err
		}
		version = &v
	}

	from, replyTo := it.From, it.ReplyTo
	if version != nil {
		if from == "" {
			from = aws.ToString(version.From)
		}
		if replyTo == "" {
			replyTo = aws.ToString(version.ReplyTo)
		}
	}
	if err := w.checkFrom(ctx, it.OrgID, from); err != nil {
		return nil, err
	}

	tpl, err := w.compile(it, version)
	if err != nil {
		return nil, err
	}
	unsub := w.signer.URL(w.base, sends.Link{Kind: sends.LinkUnsubscribe, OrgID: it.OrgID, SendID: it.ID, Email: it.To, ContactID: it.ContactID})
	vars := render.Vars{Contact: map[string]any{"email": it.To}, UnsubscribeURL: unsub}
	if rec.contact != nil {
		vars.Contact = stored.ContactVars(&rec.contact.Contact)
	}
	if vars.Data, err = stored.MergedData("", json.RawMessage(it.Data)); err != nil {
		return nil, failure(reasonBadData)
	}
	out, err := tpl.Render(ctx, vars, render.Options{})
	if err != nil {
		return nil, renderFailure(err)
	}
	if it.TrackOpens || it.TrackClicks {
		t := tracking{signer: w.signer, base: w.base, orgID: it.OrgID, sendID: it.ID, unsub: unsub}
		out.HTML = t.rewrite(out.HTML, it.TrackOpens, it.TrackClicks)
	}
	return w.email(it, from, replyTo, unsub, out), nil
}

// version is a template's version n, read once per worker: versions never
// change.
func (w *Worker) version(ctx context.Context, orgID, templateID string, n int) (stored.Version, error) {
	if v, ok := w.versions.get(orgID, templateID, n); ok {
		return v, nil
	}
	v, err := w.templates.Version(ctx, orgID, templateID, n)
	if errors.Is(err, errs.ErrNotFound) {
		return stored.Version{}, failure(reasonTemplateGone)
	}
	if err != nil {
		return stored.Version{}, err
	}
	w.versions.put(orgID, templateID, v)
	return v, nil
}

// checkFrom says whether from is an address on a verified domain of the
// tenant (trusted for domainTTL once seen verified).
func (w *Worker) checkFrom(ctx context.Context, orgID, from string) error {
	if from == "" {
		return failure(reasonNoFrom)
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return failure(reasonBadFrom)
	}
	at := strings.LastIndexByte(addr.Address, '@')
	if at < 0 {
		return failure(reasonBadFrom)
	}
	domain := strings.ToLower(addr.Address[at+1:])
	now := w.clock.Now()
	if w.domains.verified(orgID, domain, now) {
		return nil
	}
	ok, err := w.repo.domainVerified(ctx, orgID, domain)
	if err != nil {
		return err
	}
	if !ok {
		return &permanent{reason: "the from domain is not a verified domain of the organisation", detail: map[string]any{"domain": domain}}
	}
	w.domains.put(orgID, domain, now.Add(domainTTL))
	return nil
}

// compile is the send's parsed Liquid: a template version's from the
// engine's cache, an inline send's parsed for this send only.
func (w *Worker) compile(it *sends.Item, v *stored.Version) (*render.Template, error) {
	var (
		tpl *render.Template
		err error
	)
	if v != nil {
		key := it.OrgID + "/" + v.TemplateID + "/" + fmt.Sprint(v.Number)
		tpl, err = w.engine.Cached(key, render.Source{Subject: v.Subject, HTML: v.HTML, Text: v.Text})
	} else {
		src := render.Source{Subject: it.Subject}
		if src.HTML, err = gunzip(it.HTML); err == nil {
			src.Text, err = gunzip(it.Text)
		}
		if err != nil {
			return nil, failure("the send's body cannot be read")
		}
		tpl, err = w.engine.Compile(src)
	}
	if err != nil {
		return nil, renderFailure(err)
	}
	return tpl, nil
}

// renderFailure is the permanent failure of a template that does not
// parse or render, with its problems on the timeline.
func renderFailure(err error) error {
	var u *errs.Unprocessable
	if !errors.As(err, &u) {
		return err // a cancelled context: try again
	}
	p := &permanent{reason: "render: " + u.Message}
	if len(u.Details) > 0 {
		p.detail = map[string]any{"problems": u.Details}
	}
	return p
}

// email is the SES request of a rendered send: the one-click unsubscribe
// headers (RFC 8058) after the send's own, and the tags that let SES's
// events find the send.
func (w *Worker) email(it *sends.Item, from, replyTo, unsub string, out render.Output) *sesv2.SendEmailInput {
	headers := make([]types.MessageHeader, 0, len(it.Headers)+2)
	for _, name := range slices.Sorted(maps.Keys(it.Headers)) {
		headers = append(headers, types.MessageHeader{Name: aws.String(name), Value: aws.String(it.Headers[name])})
	}
	headers = append(headers,
		types.MessageHeader{Name: aws.String(HeaderListUnsubscribe), Value: aws.String("<" + unsub + ">")},
		types.MessageHeader{Name: aws.String(HeaderListUnsubscribePost), Value: aws.String(listUnsubscribeOneClick)})
	body := &types.Body{}
	if out.HTML != "" {
		body.Html = &types.Content{Data: aws.String(out.HTML), Charset: aws.String("UTF-8")}
	}
	if out.Text != "" || out.HTML == "" {
		body.Text = &types.Content{Data: aws.String(out.Text), Charset: aws.String("UTF-8")}
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &types.Destination{ToAddresses: []string{it.To}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(out.Subject), Charset: aws.String("UTF-8")},
			Body:    body,
			Headers: headers,
		}},
		EmailTags: []types.MessageTag{
			{Name: aws.String(TagOrg), Value: aws.String(it.OrgID)},
			{Name: aws.String(TagSend), Value: aws.String(it.ID)},
		},
	}
	if replyTo != "" {
		in.ReplyToAddresses = []string{replyTo}
	}
	if w.configSet != "" {
		in.ConfigurationSetName = aws.String(w.configSet)
	}
	return in
}

// gunzip is an inline body ("" when there is none).
func gunzip(b []byte) (string, error) {
	if len(b) == 0 {
		return "", nil
	}
	return stored.Gunzip(b)
}

// versionCache keeps template versions: they never change, so an entry is
// never stale. It starts over when full.
type versionCache struct {
	mu    sync.Mutex
	m     map[string]stored.Version
	bytes int
}

func versionKey(orgID, templateID string, n int) string {
	return orgID + "/" + templateID + "/" + fmt.Sprint(n)
}

func (c *versionCache) get(orgID, templateID string, n int) (stored.Version, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[versionKey(orgID, templateID, n)]
	return v, ok
}

func (c *versionCache) put(orgID, templateID string, v stored.Version) {
	size := len(v.Subject) + len(v.HTML) + len(v.Text) + len(v.SampleData)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedVersions || c.bytes+size > maxCachedVersionBytes {
		c.m, c.bytes = map[string]stored.Version{}, 0
	}
	c.m[versionKey(orgID, templateID, v.Number)] = v
	c.bytes += size
}

// domainCache remembers until when a tenant's domain counts as verified.
// Only verified domains are kept: a domain verified a moment ago must not
// wait for a stale "no".
type domainCache struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (c *domainCache) verified(orgID, domain string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.m[orgID+"/"+domain]
	return ok && now.Before(until)
}

func (c *domainCache) put(orgID, domain string, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedDomains {
		c.m = map[string]time.Time{}
	}
	c.m[orgID+"/"+domain] = until
}
