package messages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/render"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/templates/stored"
	"github.com/sendwell/sendwell/shared/tenant"
)

// domainTTL is how long an instance trusts that a domain is verified.
const domainTTL = 60 * time.Second

var errNoSend = errs.NewNotFound("No send with this id exists in the organisation.")

// Service is the messages domain.
type Service struct {
	repo      *repo
	clock     clock.Clock
	engine    *render.Engine
	templates stored.Reader

	mu       sync.Mutex
	verified map[string]time.Time // org/domain → until when it is known verified
}

// NewService returns the messages service over st.
func NewService(st *store.Store, clk clock.Clock) *Service {
	return &Service{repo: &repo{st: st}, clock: clk, engine: render.NewEngine(), templates: stored.Reader{Store: st},
		verified: map[string]time.Time{}}
}

// Send accepts one send (see SendRequest.Validate for the rules that need
// no read): it resolves the recipient (the contact of the address, or the
// address of the contact), refuses a suppressed address and, for marketing,
// an unsubscribed contact, pins the template's version, checks the sender's
// domain, and writes the send, the month's usage and its tags in one
// transaction. A send at a future sendAt is scheduled; otherwise queued.
func (s *Service) Send(ctx context.Context, orgID string, in SendRequest) (Send, error) {
	return s.send(ctx, orgID, ids.New(idPrefix, s.clock.Now()), "", in)
}

// SendAs is Send under an id the caller derives (SendID) and with the
// source that made it (sends.Item.Source): a worker that makes the same
// send again, for a redelivered message or a resumed fan-out, gets the
// send already made, with existed true, and makes no second one. in must
// have passed Validate.
func (s *Service) SendAs(ctx context.Context, orgID, id, source string, in SendRequest) (out Send, existed bool, err error) {
	if it, err := s.repo.get(ctx, orgID, id); err == nil {
		return apiSend(it), true, nil
	} else if !errors.Is(err, errs.ErrNotFound) {
		return Send{}, false, err
	}
	out, err = s.send(ctx, orgID, id, source, in)
	if errors.Is(err, errExists) {
		it, gerr := s.repo.get(ctx, orgID, id)
		if gerr != nil {
			return Send{}, false, gerr
		}
		return apiSend(it), true, nil
	}
	return out, false, err
}

// SendID is the id of the send that key always names (a sequence's step
// of an enrollment, a broadcast's contact), made at t.
func SendID(t time.Time, key string) string { return ids.Derive(idPrefix, t, key) }

func (s *Service) send(ctx context.Context, orgID, id, source string, in SendRequest) (Send, error) {
	now := s.clock.Now().UTC()
	it := &sends.Item{OrgID: orgID, ID: id, Source: source, Kind: in.kind, TrackOpens: in.trackOpens(),
		TrackClicks: in.trackClicks(), Test: in.test, Headers: in.Headers, Tags: in.Tags, CreatedAt: now, StatusAt: now}
	if len(it.Headers) == 0 {
		it.Headers = nil
	}
	if len(it.Tags) == 0 {
		it.Tags = nil
	}
	it.Status = sends.Queued
	if in.sendAt != nil && in.sendAt.After(now) {
		if in.sendAt.After(now.Add(MaxScheduleAhead)) {
			return Send{}, &errs.Unprocessable{Message: fmt.Sprintf("The 'sendAt' field must be at most %d days ahead.", MaxScheduleDays)}
		}
		at := *in.sendAt
		it.Status, it.SendAt = sends.Scheduled, &at
	}
	if err := s.recipient(ctx, orgID, &in, it); err != nil {
		return Send{}, err
	}
	from, err := s.body(ctx, orgID, &in, it)
	if err != nil {
		return Send{}, err
	}
	if from == nil {
		return Send{}, &errs.Unprocessable{Message: "The 'from' field is required: the template has no default sender."}
	}
	if err := s.checkFrom(ctx, orgID, *from); err != nil {
		return Send{}, err
	}
	it.From = *from
	if in.ReplyTo != nil {
		it.ReplyTo = *in.ReplyTo
	}
	if len(in.Data) > 0 {
		it.Data = string(in.Data)
	}
	it.SetKeys()
	plan := planOf(ctx)
	if err := s.repo.create(ctx, it, plan.Quotas.EmailsPerMonth); errors.Is(err, errQuota) {
		return Send{}, quotaError(plan, now)
	} else if err != nil {
		return Send{}, err
	}
	slog.InfoContext(ctx, "send accepted", "sendId", it.ID, "status", it.Status, "type", it.Kind, "test", it.Test)
	return apiSend(it), nil
}

// planOf is the caller's plan.
func planOf(ctx context.Context) tenant.Plan {
	name := tenant.DefaultPlan
	if p, ok := tenant.From(ctx); ok && p.Plan != "" {
		name = p.Plan
	}
	return tenant.PlanByName(name)
}

// quotaError is the 429 of a send past the plan's monthly quota; it renews
// at the start of the next UTC month.
func quotaError(plan tenant.Plan, now time.Time) error {
	next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	return &errs.RateLimited{RetryAfter: int(next.Sub(now).Seconds()) + 1,
		Message: fmt.Sprintf("The monthly quota of %d emails of the %s plan is used up; it renews on %s.", plan.Quotas.EmailsPerMonth, plan.Name, next.Format("2006-01-02"))}
}

// recipient fills the send's address and contact, and refuses a suppressed
// address, or an unsubscribed contact for marketing.
func (s *Service) recipient(ctx context.Context, orgID string, in *SendRequest, it *sends.Item) error {
	var (
		sup     *sends.SuppressionItem
		contact *contactItem
	)
	if in.contactID != "" {
		c, err := s.repo.contact(ctx, orgID, in.contactID)
		if errors.Is(err, errs.ErrNotFound) {
			return errs.NewNotFound("No contact with this id exists in the organisation.")
		}
		if err != nil {
			return err
		}
		contact = c
		it.To, it.ContactID = c.Email, c.ID
		if sup, err = s.repo.suppression(ctx, orgID, c.Email); errors.Is(err, errs.ErrNotFound) {
			sup = nil
		} else if err != nil {
			return err
		}
	} else {
		var (
			contactID string
			err       error
		)
		it.To = in.email
		if sup, contactID, err = s.repo.byEmail(ctx, orgID, in.email); err != nil {
			return err
		}
		if contactID != "" && in.kind == sends.Marketing && sup == nil {
			// Marketing needs the contact's subscription.
			c, err := s.repo.contact(ctx, orgID, contactID)
			if err != nil && !errors.Is(err, errs.ErrNotFound) {
				return err
			}
			contact = c
		}
		if contactID != "" && (contact != nil || in.kind != sends.Marketing) {
			it.ContactID = contactID
		}
	}
	if sup != nil {
		return &errs.Unprocessable{Message: fmt.Sprintf("The address in 'to' is on the organisation's suppression list (%s); nothing is sent to it until it is removed from the list.", sup.Reason)}
	}
	if in.kind == sends.Marketing && contact != nil && !contact.Subscribed {
		return &errs.Unprocessable{Message: "The contact in 'to' has unsubscribed: marketing mail is never sent to it."}
	}
	return nil
}

// body pins the template's version (the one asked for, or the latest) or
// checks and stores the inline body, and returns the sender: the request's,
// or the template's default.
func (s *Service) body(ctx context.Context, orgID string, in *SendRequest, it *sends.Item) (*string, error) {
	if in.TemplateID == nil {
		if _, err := s.engine.Compile(render.Source{Subject: *in.Subject, HTML: *in.HTML, Text: deref(in.Text)}); err != nil {
			return nil, err
		}
		text := deref(in.Text)
		if text == "" {
			text = render.HTMLToText(*in.HTML)
		}
		it.Subject, it.HTML, it.Text = *in.Subject, stored.Gzip(*in.HTML), stored.Gzip(text)
		return in.From, nil
	}
	var (
		v   stored.Version
		err error
	)
	if in.Version != nil {
		v, err = s.templates.Version(ctx, orgID, *in.TemplateID, *in.Version)
	} else {
		v, err = s.templates.Latest(ctx, orgID, *in.TemplateID)
	}
	if err != nil {
		return nil, err
	}
	it.TemplateID, it.TemplateVersion = *in.TemplateID, v.Number
	if in.ReplyTo == nil {
		in.ReplyTo = v.ReplyTo
	}
	if in.From != nil {
		return in.From, nil
	}
	return v.From, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// checkFrom refuses a sender whose domain is not a verified domain of the
// tenant. A verified domain is trusted for domainTTL on this instance (the
// send worker checks again before sending).
func (s *Service) checkFrom(ctx context.Context, orgID, from string) error {
	domain, err := addrDomain(from)
	if err != nil {
		return errs.Invalid("from", "The 'from' field must be an email address, such as news@example.com or \"Acme <news@example.com>\".")
	}
	key, now := orgID+"/"+domain, s.clock.Now()
	s.mu.Lock()
	until, ok := s.verified[key]
	s.mu.Unlock()
	if ok && now.Before(until) {
		return nil
	}
	verified, err := s.repo.domainVerified(ctx, orgID, domain)
	if err != nil {
		return err
	}
	if !verified {
		return &errs.Unprocessable{Message: fmt.Sprintf("The 'from' field's domain %s is not a verified sending domain of the organisation: add it with POST /api/domains and verify it.", domain)}
	}
	s.mu.Lock()
	s.verified[key] = now.Add(domainTTL)
	s.mu.Unlock()
	return nil
}

// TestSend sends one test of a template's latest version to an address,
// through the same path as any send (it counts toward the quota).
func (s *Service) TestSend(ctx context.Context, orgID, templateID string, in TestRequest) (Send, error) {
	to, err := json.Marshal(in.To)
	if err != nil {
		return Send{}, err
	}
	req := SendRequest{To: to, TemplateID: &templateID, Data: in.Data}
	if err := req.Validate(); err != nil {
		return Send{}, err
	}
	req.test = true
	return s.Send(ctx, orgID, req)
}

// Get returns a send with its timeline, in event-time order, after the
// entry of its acceptance (made from the send item, not stored).
func (s *Service) Get(ctx context.Context, orgID, id string) (Send, error) {
	if !ids.Valid(idPrefix, id) {
		return Send{}, errNoSend
	}
	it, timeline, err := s.repo.withTimeline(ctx, orgID, id)
	if errors.Is(err, errs.ErrNotFound) {
		return Send{}, errNoSend
	}
	if err != nil {
		return Send{}, err
	}
	out := apiSend(it)
	first := sends.Queued
	if it.SendAt != nil || it.Status == sends.Scheduled || it.Status == sends.Cancelled {
		first = sends.Scheduled
	}
	events := make([]sends.TimelineEvent, 0, len(timeline)+1)
	for i := range timeline {
		if timeline[i].EventType == sends.EventRescheduled {
			first = sends.Scheduled
		}
		events = append(events, timeline[i].API())
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].At.Before(events[j].At) })
	out.Timeline = append([]sends.TimelineEvent{{Type: first, At: it.CreatedAt}}, events...)
	return out, nil
}

// List returns a page of sends matching f, newest first (scheduled sends
// by status: latest due first).
func (s *Service) List(ctx context.Context, orgID string, f Filter, limit int, start map[string]string) ([]Send, map[string]string, error) {
	items, next, err := s.repo.list(ctx, orgID, f, limit, start)
	if err != nil {
		return nil, nil, err
	}
	return apiSends(items), next, nil
}

// Scheduled returns a page of the scheduled sends, soonest first.
func (s *Service) Scheduled(ctx context.Context, orgID string, limit int, start map[string]string) ([]Send, map[string]string, error) {
	items, next, err := s.repo.scheduled(ctx, orgID, limit, start)
	if err != nil {
		return nil, nil, err
	}
	return apiSends(items), next, nil
}

func apiSends(items []sends.Item) []Send {
	out := make([]Send, len(items))
	for i := range items {
		out[i] = apiSend(&items[i])
	}
	return out
}

// changeAttempts is how often a reschedule or cancel reads the send again
// when another writer changed it in between.
const changeAttempts = 3

// Reschedule moves a scheduled send to at: still scheduled when at is in
// the future (at most MaxScheduleAhead), queued at once otherwise (the
// table's stream then puts it on the send queue).
func (s *Service) Reschedule(ctx context.Context, orgID, id string, at time.Time) (Send, error) {
	now := s.clock.Now().UTC()
	if at.After(now.Add(MaxScheduleAhead)) {
		return Send{}, &errs.Unprocessable{Message: fmt.Sprintf("The 'sendAt' field must be at most %d days ahead.", MaxScheduleDays)}
	}
	detail, _ := json.Marshal(map[string]any{"sendAt": at.UTC().Format(time.RFC3339Nano)})
	c := change{status: sends.Scheduled, sendAt: &at, event: sends.EventRescheduled, detail: string(detail), at: now}
	if !at.After(now) {
		c.status, c.sendAt = sends.Queued, nil
	}
	return s.change(ctx, orgID, id, func(*sends.Item) change { return c })
}

// Cancel cancels a scheduled send; its sendAt is kept, to show when it
// would have gone.
func (s *Service) Cancel(ctx context.Context, orgID, id string) (Send, error) {
	now := s.clock.Now().UTC()
	return s.change(ctx, orgID, id, func(it *sends.Item) change {
		return change{status: sends.Cancelled, sendAt: it.SendAt, event: sends.Cancelled, at: now}
	})
}

// change applies a change to a scheduled send: 404 when there is no such
// send, 409 when it is not (or no longer) scheduled.
func (s *Service) change(ctx context.Context, orgID, id string, mk func(*sends.Item) change) (Send, error) {
	if !ids.Valid(idPrefix, id) {
		return Send{}, errNoSend
	}
	for attempt := 0; ; attempt++ {
		it, err := s.repo.get(ctx, orgID, id)
		if errors.Is(err, errs.ErrNotFound) {
			return Send{}, errNoSend
		}
		if err != nil {
			return Send{}, err
		}
		if it.Status != sends.Scheduled {
			return Send{}, notScheduled(it.Status)
		}
		err = s.repo.apply(ctx, it, mk(it))
		if errors.Is(err, errChanged) && attempt+1 < changeAttempts {
			continue
		}
		if errors.Is(err, errChanged) {
			return Send{}, errs.NewConflict("The send was changed by a concurrent request; retry.")
		}
		if err != nil {
			return Send{}, err
		}
		return apiSend(it), nil
	}
}

// notScheduled is the 409 of a change to a send that is not scheduled.
func notScheduled(status string) error {
	switch status {
	case sends.Queued:
		return errs.NewConflict("The send is not scheduled: it is queued to be sent now.")
	case sends.Cancelled:
		return errs.NewConflict("The send is not scheduled: it was cancelled.")
	}
	return errs.NewConflict(fmt.Sprintf("The send is not scheduled: it is already %s.", status))
}

// Suppressions returns a page of the suppression list, in address order,
// optionally of one reason.
func (s *Service) Suppressions(ctx context.Context, orgID, reason string, limit int, start map[string]string) ([]sends.Suppression, map[string]string, error) {
	items, next, err := s.repo.suppressions(ctx, orgID, reason, limit, start)
	if err != nil {
		return nil, nil, err
	}
	out := make([]sends.Suppression, len(items))
	for i := range items {
		out[i] = items[i].API()
	}
	return out, next, nil
}

var errNotSuppressed = errs.NewNotFound("This address is not on the organisation's suppression list.")

// Suppression returns the entry of an address.
func (s *Service) Suppression(ctx context.Context, orgID, email string) (sends.Suppression, error) {
	it, err := s.repo.suppression(ctx, orgID, email)
	if errors.Is(err, errs.ErrNotFound) {
		return sends.Suppression{}, errNotSuppressed
	}
	if err != nil {
		return sends.Suppression{}, err
	}
	return it.API(), nil
}

// Suppress adds an address to the list (reason manual); created is false
// when it was there already, and the entry is left as it was.
func (s *Service) Suppress(ctx context.Context, orgID, email string) (sends.Suppression, bool, error) {
	it := sends.NewSuppression(orgID, email, sends.ReasonManual, "", s.clock.Now())
	err := s.repo.suppress(ctx, it)
	if errors.Is(err, errs.ErrConflict) {
		got, err := s.Suppression(ctx, orgID, email)
		return got, false, err
	}
	if err != nil {
		return sends.Suppression{}, false, err
	}
	return it.API(), true, nil
}

// Unsuppress removes an address from the list.
func (s *Service) Unsuppress(ctx context.Context, orgID, email string) error {
	err := s.repo.unsuppress(ctx, orgID, email)
	if errors.Is(err, errs.ErrNotFound) {
		return errNotSuppressed
	}
	return err
}
