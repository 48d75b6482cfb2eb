// Package fanout is a broadcast's fan-out, run by the sequence worker: it
// walks the audience of a sending broadcast (journey.Broadcast) page by
// page, makes each member's send through the messages pipeline, and queues
// the next page on the sequence queue. The broadcasts API is package
// campaigns, which starts and cancels broadcasts.
package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/oklog/ulid/v2"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
)

// The broadcast fan-out, in short.
//
// One job is one page of the audience. The job names the page number it
// runs (BroadcastJob.Page); the broadcast's checkpoint (Pages, Cursor and
// the counts) says which page is next. A job runs only when the broadcast
// is sending and at its page: it reads the page from the cursor, makes each
// member's send under an id derived from (broadcast, contact), then writes
// the checkpoint once, conditional on the page number and the status, and
// queues the next page. So:
//   - a send is made at most once per contact: a page run again (the worker
//     killed half-way, the checkpoint write lost, a copy of the job) finds
//     the sends it made before and makes no second one;
//   - counts are right: a page's counts are committed with its checkpoint
//     and only then, and a send found already made counts as queued, so a
//     page run again counts what the page holds, once;
//   - a copy of a job whose page is done changes nothing. The run that did
//     the page records (queuedPage) that it queued the next one; when it
//     did not (killed, or SQS failing, after its checkpoint), its retry
//     queues it.
//
// The audience, precisely. A segment's audience is its members whose
// membership began at or before the broadcast's startedAt and who are
// still members when the fan-out reads their page; "all" is every contact
// created at or before startedAt (contact ids are ULIDs of their creation:
// the walk's key range ends there) that still exists when its page is read.
// Pages are read in contact id order from startedAt on. So nobody who
// joins after the start is sent to, wherever they sort; a member who leaves
// (or a contact deleted, or one who unsubscribes) before the fan-out
// reaches them is not sent to; one who leaves after is; one who leaves and
// comes back after the start counts as joining after it. It is the snapshot
// at startedAt, less those who left before their turn: no copy of the
// membership is made (that would double the writes of a broadcast).
//
// Pace and throughput. Sends are in their own partitions, the checkpoint is
// one write of the tenant's partition per page, the audience one Query per
// page. The hot item is the tenant's monthly usage counter, which every
// send adds one to: a broadcast never makes more than MaxSendsPerSecond
// sends in any second (half the ~1,000 writes/s of a partition, the rest
// left to the tenant's other sends), paced or not. A page walks ten
// seconds' worth of its rate (see pace): up to burstPage members make their
// sends at once and the next page waits at least a second per
// MaxSendsPerSecond of them; a larger page spaces its sends at the rate
// inside the job (up to ten seconds of waiting). The next page's SQS delay
// keeps an absolute schedule from startedAt, so the pace holds within ±10%
// whatever the rounding to whole seconds and the queue's latency (up to a
// second). A broadcast without a rate goes at the cap.

// MaxSendsPerSecond caps a broadcast's fan-out, paced or not.
const MaxSendsPerSecond = 500

// Page sizes. A page walks ten seconds' worth of sends at its rate, so the
// whole-second SQS delays and the queue's latency stay small beside its
// period: at most maxPage (ten seconds at the cap). A page of at most
// burstPage members makes its sends as fast as the workers go; a larger
// one spaces them at the rate, inside the job.
const (
	maxPage   = 10 * MaxSendsPerSecond
	burstPage = MaxSendsPerSecond
)

// maxDelay is the longest SQS delay (15 minutes).
const maxDelay = 900

// defaultWorkers is how many sends of a page are made at once.
const defaultWorkers = 16

// Sender makes a send under a derived id (messages.Service).
type Sender interface {
	SendAs(ctx context.Context, orgID, id, source string, in messages.SendRequest) (messages.Send, bool, error)
}

// SQSSender is the part of the SQS client the fan-out uses.
type SQSSender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var (
	_ Sender    = (*messages.Service)(nil)
	_ SQSSender = (*sqs.Client)(nil)
)

// Fanout runs broadcast pages: the sequence worker calls Run for each
// journey.BroadcastJob.
type Fanout struct {
	st       *store.Store
	clock    clock.Clock
	sender   Sender
	q        SQSSender
	queueURL string

	pageCap int // maxPage unless a test lowers it
	workers int
	sleep   func(context.Context, time.Duration) error // waits inside a spaced page
}

// New returns a Fanout whose sends go through sender and whose next pages
// go on the sequence queue, queueURL.
func New(st *store.Store, clk clock.Clock, sender Sender, q SQSSender, queueURL string) *Fanout {
	return &Fanout{st: st, clock: clk, sender: sender, q: q, queueURL: queueURL, pageCap: maxPage, workers: defaultWorkers,
		sleep: store.Sleep}
}

// pageResult is what one page did.
type pageResult struct {
	walked, queued, skipped int
	cursor                  string
	done                    bool
}

// Run runs one page of a broadcast's fan-out. An error (a quota's 429,
// DynamoDB or SQS failing) leaves the checkpoint where it was: the job is
// retried, and the page made again makes no second send.
func (f *Fanout) Run(ctx context.Context, job journey.BroadcastJob) error {
	var b journey.Broadcast
	err := f.st.GetConsistent(ctx, store.BroadcastKey(job.OrgID, job.BroadcastID), &b)
	if errors.Is(err, errs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if b.Status != journey.BcSending || b.Done {
		return nil
	}
	if b.Pages != job.Page {
		if b.Pages == job.Page+1 && b.QueuedPage < b.Pages {
			// This page is done, but its run did not record queueing the
			// next (killed, or SQS failing, in between): queue it now.
			return f.queueNext(ctx, &b, f.delay(&b, 0, f.clock.Now()))
		}
		return nil
	}
	pageStart := f.clock.Now()
	ctx, err = f.withPlan(ctx, b.OrgID)
	if err != nil {
		return err
	}
	if why, err := f.blocked(ctx, &b); err != nil {
		return err
	} else if why != "" {
		slog.WarnContext(ctx, "campaigns: broadcast stopped: "+why, "orgId", b.OrgID, "broadcastId", b.ID)
		return f.stop(ctx, &b)
	}
	res, err := f.page(ctx, &b, fitDeadline(ctx, paceOf(b.RatePerMinute, f.pageCap)), pageStart)
	if err != nil {
		return err
	}
	if err := f.checkpoint(ctx, &b, res); err != nil {
		if errors.Is(err, errMoved) {
			return nil
		}
		return err
	}
	slog.InfoContext(ctx, "campaigns: broadcast page", "orgId", b.OrgID, "broadcastId", b.ID, "page", job.Page,
		"walked", res.walked, "queued", res.queued, "skipped", res.skipped, "done", res.done)
	if res.done {
		return nil
	}
	return f.queueNext(ctx, &b, f.delay(&b, res.queued, pageStart))
}

// queueNext queues the job of page b.Pages, then marks it queued in
// journey.Broadcast.QueuedPage (an UpdateItem conditional on the
// checkpoint still being at that page). A failure of the mark is only
// logged: a copy of the job would queue the page again, harmlessly.
func (f *Fanout) queueNext(ctx context.Context, b *journey.Broadcast, delay int32) error {
	if err := f.enqueue(ctx, b, delay); err != nil {
		return err
	}
	_, err := f.st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &f.st.Table, Key: b.Key.KeyAV(),
		UpdateExpression:          aws.String("SET #q = :p"),
		ConditionExpression:       aws.String("#pages = :p"),
		ExpressionAttributeNames:  map[string]string{"#q": "queuedPage", "#pages": "pages"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": num(b.Pages)},
	})
	if err = store.MapErr(err); err != nil && !errors.Is(err, errs.ErrConflict) {
		slog.WarnContext(ctx, "campaigns: the next page's queueing was not recorded", "orgId", b.OrgID, "broadcastId", b.ID, "page", b.Pages, "error", err.Error())
	}
	return nil
}

// withPlan carries the tenant's plan in ctx, as an API request does, so
// the sends count against its quota (1 GetItem).
func (f *Fanout) withPlan(ctx context.Context, orgID string) (context.Context, error) {
	var org struct {
		Plan string `dynamodbav:"plan"`
	}
	if err := f.st.Get(ctx, store.OrgKey(orgID), &org); err != nil && !errors.Is(err, errs.ErrNotFound) {
		return nil, err
	}
	return tenant.With(ctx, &tenant.Principal{OrgID: orgID, Plan: org.Plan}), nil
}

// member is one audience member of a page.
type member struct {
	id      string
	skipped bool // known to be skipped without a send (an unsubscribed contact of "all")
}

// page reads the page at the cursor and makes its sends, workers at a
// time. It stops at the first error a send gives that is not the
// contact's (unsubscribed, suppressed, deleted: skipped).
func (f *Fanout) page(ctx context.Context, b *journey.Broadcast, p pace, pageStart time.Time) (pageResult, error) {
	members, cursor, more, err := f.audience(ctx, b, p.size)
	if err != nil {
		return pageResult{}, err
	}
	res := pageResult{walked: len(members), cursor: cursor, done: !more}
	if cursor == "" {
		res.cursor = b.Cursor
	}
	idAt := sendIDTime(b)
	source := journey.BroadcastSource(b.ID)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		work     = make(chan member)
	)
	for range min(f.workers, max(len(members), 1)) {
		wg.Go(func() {
			for m := range work {
				queued, err := f.send(ctx, b, m, idAt, source)
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
						cancel()
					}
				case queued:
					res.queued++
				default:
					res.skipped++
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i, m := range members {
		if wait := p.sendAt(idAt, b.Queued, i, pageStart).Sub(f.clock.Now()); wait > 0 {
			if f.sleep(ctx, wait) != nil {
				break feed
			}
		}
		select {
		case work <- m:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return pageResult{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return pageResult{}, err
	}
	return res, nil
}

// send makes one member's send: queued when the send exists (made now or
// before), not queued when the contact is skipped.
func (f *Fanout) send(ctx context.Context, b *journey.Broadcast, m member, idAt time.Time, source string) (bool, error) {
	if m.skipped {
		return false, nil
	}
	to, _ := json.Marshal(map[string]string{"contactId": m.id})
	tmpl, from, kind := b.TemplateID, b.From, sends.Marketing
	req := messages.SendRequest{To: to, TemplateID: &tmpl, From: &from, Data: rawData(b), Type: &kind}
	if err := req.Validate(); err != nil {
		return false, fmt.Errorf("campaigns: broadcast %s: send request: %w", b.ID, err)
	}
	_, _, err := f.sender.SendAs(ctx, b.OrgID, messages.SendID(idAt, b.ID+"/"+m.id), source, req)
	var un *errs.Unprocessable
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &un), errors.Is(err, errs.ErrNotFound):
		// Unsubscribed, suppressed, or the contact deleted since the
		// audience was read (the template's absence is checked per page).
		return false, nil
	}
	return false, err
}

// sendIDTime is the time the broadcast's send ids are derived at: when it
// started (the scheduler and the API both set it), else its creation, so
// that every run of a page derives the same ids.
func sendIDTime(b *journey.Broadcast) time.Time {
	if b.StartedAt != nil {
		return *b.StartedAt
	}
	return b.CreatedAt
}

// audienceItem is the part of a segment member or a contact a page reads.
type audienceItem struct {
	SK         string    `dynamodbav:"SK"`
	ID         string    `dynamodbav:"id"`
	ContactID  string    `dynamodbav:"contactId"`
	EnteredAt  time.Time `dynamodbav:"enteredAt"`
	Subscribed *bool     `dynamodbav:"subscribed"`
}

// audience reads the page of at most size members after the cursor (a
// contact id): one Query, strongly consistent, of the segment's members
// partition, or of the tenant's contacts up to the last id of startedAt's
// millisecond for "all". cursor is the last contact read ("" for none),
// more whether any follow.
func (f *Fanout) audience(ctx context.Context, b *journey.Broadcast, size int) (members []member, cursor string, more bool, err error) {
	start := sendIDTime(b)
	in := &dynamodb.QueryInput{ConsistentRead: aws.Bool(true)}
	pk := store.SegmentMembersPK(b.OrgID, b.SegmentID)
	if b.SegmentID == journey.AudienceAll {
		pk = store.OrgPK(b.OrgID)
		in.KeyConditionExpression = aws.String("PK = :pk AND SK BETWEEN :lo AND :hi")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": str(pk), ":lo": str(store.ContactPrefix()),
			":hi": str(store.ContactSK(lastIDOf(ids.Contact, start)))}
		in.ProjectionExpression = aws.String("PK, SK, id, subscribed")
	} else {
		in.KeyConditionExpression = aws.String("PK = :pk AND begins_with(SK, :sk)")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": str(pk), ":sk": str(store.ContactPrefix())}
		in.ProjectionExpression = aws.String("PK, SK, contactId, enteredAt")
	}
	var from map[string]string
	if b.Cursor != "" {
		from = map[string]string{store.AttrPK: pk, store.AttrSK: store.ContactSK(b.Cursor)}
	}
	page, err := f.st.QueryPage(ctx, in, size, from, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, "", false, err
	}
	var items []audienceItem
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, "", false, fmt.Errorf("campaigns: decode audience: %w", err)
	}
	for _, it := range items {
		cursor = it.SK[len(store.ContactPrefix()):]
		if b.SegmentID == journey.AudienceAll {
			members = append(members, member{id: it.ID, skipped: it.Subscribed != nil && !*it.Subscribed})
			continue
		}
		if it.EnteredAt.After(start) {
			continue // joined after the broadcast started
		}
		members = append(members, member{id: it.ContactID})
	}
	return members, cursor, page.Next != nil, nil
}

// lastIDOf is the greatest id of prefix made in t's millisecond.
func lastIDOf(prefix string, t time.Time) string {
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(t))
	_ = u.SetEntropy([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	return prefix + "_" + u.String()
}

// errMoved: the checkpoint was not at the page read (another run of the
// page wrote it), so this run's counts are dropped.
var errMoved = errors.New("campaigns: the broadcast's fan-out moved on")

// checkpoint writes a page's result: one UpdateItem conditional on the
// page number and on the broadcast still sending. When a cancel came in
// between, the page's sends were made all the same: its counts are written
// on the cancelled broadcast (conditional on its page number too).
func (f *Fanout) checkpoint(ctx context.Context, b *journey.Broadcast, res pageResult) error {
	now := f.clock.Now().UTC()
	err := f.writeCheckpoint(ctx, b, res, now, journey.BcSending)
	if !errors.Is(err, errs.ErrConflict) {
		return err
	}
	var cur journey.Broadcast
	if err := f.st.GetConsistent(ctx, b.Key, &cur); err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return errMoved
		}
		return err
	}
	if cur.Status != journey.BcCancelled || cur.Pages != b.Pages {
		return errMoved
	}
	res.done = false // a cancelled broadcast stays cancelled
	if err := f.writeCheckpoint(ctx, b, res, now, journey.BcCancelled); errors.Is(err, errs.ErrConflict) {
		return errMoved
	} else if err != nil {
		return err
	}
	return errMoved
}

func (f *Fanout) writeCheckpoint(ctx context.Context, b *journey.Broadcast, res pageResult, now time.Time, status string) error {
	names := map[string]string{"#pages": "pages", "#cur": "cursor", "#total": "total", "#queued": "queued",
		"#skipped": "skipped", "#rev": journey.AttrRev, "#up": journey.AttrUpdatedAt, "#st": journey.AttrStatus}
	vals := map[string]types.AttributeValue{":n": num(b.Pages), ":next": num(b.Pages + 1), ":walked": num(res.walked),
		":queued": num(res.queued), ":skipped": num(res.skipped), ":one": num(1), ":now": when(now), ":status": str(status)}
	set := "SET #pages = :next, #up = :now, #rev = #rev + :one"
	remove := ""
	if res.cursor != "" {
		set += ", #cur = :cursor"
		vals[":cursor"] = str(res.cursor)
	} else {
		remove = " REMOVE #cur"
	}
	if res.done {
		set += ", #done = :true, #st = :sent, #fin = :now"
		names["#done"], names["#fin"] = "done", "finishedAt"
		vals[":true"] = &types.AttributeValueMemberBOOL{Value: true}
		vals[":sent"] = str(journey.BcSent)
	}
	_, err := f.st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &f.st.Table, Key: b.Key.KeyAV(),
		UpdateExpression:          aws.String(set + remove + " ADD #total :walked, #queued :queued, #skipped :skipped"),
		ConditionExpression:       aws.String("#pages = :n AND #st = :status"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	})
	if err == nil {
		b.Pages++
		b.Cursor = res.cursor
		b.Total += res.walked
		b.Queued += res.queued
		b.Skipped += res.skipped
		b.Rev++
	}
	return store.MapErr(err)
}

// blocked says why no send of the broadcast could be made any more (its
// template deleted, its sender's domain no longer verified), or "": the
// send API would refuse every contact, which must not read as everyone
// skipped (3 GetItems a page).
func (f *Fanout) blocked(ctx context.Context, b *journey.Broadcast) (string, error) {
	ok, err := f.exists(ctx, store.TemplateKey(b.OrgID, b.TemplateID))
	if err != nil || !ok {
		return "its template " + b.TemplateID + " was deleted", err
	}
	domain, err := journey.SenderDomain(b.From)
	if err != nil {
		return "its sender is not an address", nil
	}
	if ok, err = journey.DomainVerified(ctx, f.st, b.OrgID, domain); err != nil || !ok {
		return "its sender's domain " + domain + " is not verified", err
	}
	return "", nil
}

// stop ends a broadcast that cannot go on: cancelled, as if by the API,
// before the page (nothing of it was sent).
func (f *Fanout) stop(ctx context.Context, b *journey.Broadcast) error {
	err := journey.CancelBroadcast(ctx, f.st, b.OrgID, b.ID, f.clock.Now().UTC())
	if errors.Is(err, errs.ErrConflict) {
		return nil
	}
	return err
}

// exists reads whether an item is at k (1 GetItem of its key only).
func (f *Fanout) exists(ctx context.Context, k store.Key) (bool, error) {
	var got store.Key
	err := f.st.Get(ctx, k, &got)
	if errors.Is(err, errs.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// enqueue queues the broadcast's next page (b.Pages) after delay.
func (f *Fanout) enqueue(ctx context.Context, b *journey.Broadcast, delay int32) error {
	body, err := json.Marshal(journey.Job{Broadcast: &journey.BroadcastJob{OrgID: b.OrgID, BroadcastID: b.ID, Page: b.Pages}})
	if err != nil {
		return fmt.Errorf("campaigns: encode page job: %w", err)
	}
	_, err = f.q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &f.queueURL, MessageBody: aws.String(string(body)), DelaySeconds: delay})
	if err != nil {
		return fmt.Errorf("campaigns: queue page %d of broadcast %s: %w", b.Pages, b.ID, err)
	}
	return nil
}

// delay is the SQS delay of the next page, the checkpoint (b) holding the
// sends made so far, pageSent of them by the page that began at pageStart.
func (f *Fanout) delay(b *journey.Broadcast, pageSent int, pageStart time.Time) int32 {
	return paceOf(b.RatePerMinute, f.pageCap).delay(sendIDTime(b), b.Queued, pageSent, pageStart, f.clock.Now())
}

// pace is how a broadcast's fan-out keeps its rate.
type pace struct {
	rate    int           // sends a minute: the broadcast's, at most the cap; the cap when it has none
	size    int           // audience members a page walks
	spacing time.Duration // between two sends of a page at the rate (0: as fast as the workers go)
}

// paceOf is the pace of a rate (0: none) with pages of at most pageCap.
func paceOf(ratePerMinute, pageCap int) pace {
	limit := MaxSendsPerSecond * 60
	p := pace{rate: ratePerMinute}
	if p.rate <= 0 || p.rate > limit {
		p.rate = limit
	}
	p.size = min(max((p.rate+5)/6, 1), pageCap)
	if p.size > burstPage {
		p.spacing = time.Minute / time.Duration(p.rate)
	}
	return p
}

// fitDeadline shortens a spaced page to what half the time left before the
// context's deadline (the function's timeout) can send at the rate, so a
// page always ends in time to write its checkpoint.
func fitDeadline(ctx context.Context, p pace) pace {
	dl, ok := ctx.Deadline()
	if !ok || p.spacing == 0 {
		return p
	}
	fit := int(time.Until(dl) / 2 / p.spacing)
	p.size = max(min(p.size, fit), 1)
	return p
}

// sendAt is when the i-th member of a page that began at pageStart may be
// sent, queued sends having been made before the page: at once in a page
// that is not spaced; otherwise on the page's schedule (pageDue), never
// faster than the cap.
func (p pace) sendAt(startedAt time.Time, queued, i int, pageStart time.Time) time.Time {
	if p.spacing == 0 {
		return pageStart
	}
	at := pageStart.Add(time.Duration(i) * time.Second / MaxSendsPerSecond)
	due := p.pageDue(startedAt, queued, pageStart).Add(p.time(i))
	if due.After(at) {
		return due
	}
	return at
}

// pageDue is when the first send of a page that began at pageStart, after
// queued sends, is due. The schedule is absolute (startedAt + queued/rate),
// so rounding and the queue's latency do not add up from page to page: a
// page a little late catches up. A page later than one page's time (its
// first page queued behind other work, a worker killed and its message
// back after the visibility timeout) keeps the rate from where it is
// instead: catching up minutes would burst at the cap.
func (p pace) pageDue(startedAt time.Time, queued int, pageStart time.Time) time.Time {
	due := startedAt.Add(p.time(queued))
	if pageStart.Sub(due) > p.time(p.size) {
		return pageStart
	}
	return due
}

// time is how long n sends take at the rate.
func (p pace) time(n int) time.Duration {
	return time.Duration(float64(n) * float64(time.Minute) / float64(p.rate))
}

// delay is the whole seconds to wait before the next page, on the page's
// schedule (pageDue). A page whose sends were not spaced (pageSent ≤
// burstPage) is followed by at least pageSent/MaxSendsPerSecond seconds
// from its start, rounded up, so no second sees more than the cap's sends.
func (p pace) delay(startedAt time.Time, queued, pageSent int, pageStart, now time.Time) int32 {
	due := p.pageDue(startedAt, queued-pageSent, pageStart).Add(p.time(pageSent))
	secs := int64(math.Round(due.Sub(now).Seconds()))
	if p.spacing == 0 {
		floor := pageStart.Add(time.Duration(pageSent) * time.Second / MaxSendsPerSecond).Sub(now)
		secs = max(secs, int64(math.Ceil(floor.Seconds())))
	}
	return int32(min(max(secs, 0), maxDelay))
}

// rawData is a broadcast's data as a send request takes it.
func rawData(b *journey.Broadcast) json.RawMessage {
	if b.Data == "" {
		return nil
	}
	return json.RawMessage(b.Data)
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(n)} }
func when(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: t.UTC().Format(time.RFC3339Nano)}
}
