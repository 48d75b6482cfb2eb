package sendworker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/config"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/logx"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/templates/stored"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	testOrg    = "org_01TESTSENDWORKER"
	testSecret = "0123456789abcdef0123456789abcdef"
	testBase   = "http://127.0.0.1:3000"
	// testDomain is verified in the table and an identity in SES (moto).
	testDomain = "sendworker.sendwell.test"
	// noSESDomain is verified in the table, but SES has no identity for it:
	// SES rejects its mail (MessageRejected).
	noSESDomain  = "no-identity.sendwell.test"
	testFrom     = "Acme <hello@" + testDomain + ">"
	testTo       = "ada@example.com"
	templateID   = "welcome"
	contactID    = "cnt_01TESTCONTACT"
	templateHTML = `<html><body><p>Hello {{ contact.firstName }}, order {{ data.orderId }}.</p>` +
		`<a href="https://shop.example.com/orders?id=1&amp;ref=mail">Your order</a> ` +
		`<a href='http://example.com/help'>Help</a> <a href="{{ unsubscribeUrl }}">Unsubscribe</a> ` +
		`<a href="mailto:help@example.com">Mail us</a></body></html>`
)

// fixture is one test's worker over its own table, on a fake clock.
type fixture struct {
	t      testing.TB
	env    *testenv.Env
	clk    *clock.Fake
	deps   *platform.Deps
	ses    *sesv2.Client
	ledger *sends.Ledger
	msgs   atomic.Int64
}

// newFixture builds the fixture; cfg, when given, changes the AWS
// configuration the worker's clients are built from (to add faults).
func newFixture(t testing.TB, cfg func(*aws.Config)) *fixture {
	env := testenv.New(t)
	c := env.Config.Copy()
	if cfg != nil {
		cfg(&c)
	}
	st := env.Store
	if cfg != nil {
		st = store.New(dynamodb.NewFromConfig(c), env.Store.Table)
	}
	f := &fixture{t: t, env: env, clk: clock.NewFake(time.Now()), ses: SESClient(c), ledger: &sends.Ledger{Store: env.Store}}
	f.deps = &platform.Deps{
		Config: config.Config{TableName: env.Store.Table, PublicBaseURL: testBase, LinkSecret: []byte(testSecret)},
		Clock:  f.clk, AWS: c, Store: st,
	}
	f.domain(testDomain, "verified", true)
	f.domain(noSESDomain, "verified", false)
	f.template()
	f.contact(true)
	env.Counter.Reset()
	return f
}

// domain claims a domain for the tenant with status, and makes it an SES
// identity when inSES.
func (f *fixture) domain(name, status string, inSES bool) {
	ctx := context.Background()
	if inSES {
		_, err := sesv2.NewFromConfig(f.env.Config).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(name)})
		if !errors.As(err, new(*sestypes.AlreadyExistsException)) {
			require.NoError(f.t, err)
		}
	}
	domID := "dom_" + strings.ReplaceAll(name, ".", "")
	require.NoError(f.t, f.env.Store.Put(ctx, struct {
		store.Key
		domainClaim
	}{store.DomainClaimKey(name), domainClaim{OrgID: testOrg, DomainID: domID}}))
	require.NoError(f.t, f.env.Store.Put(ctx, struct {
		store.Key
		domainItem
	}{store.DomainKey(testOrg, domID), domainItem{Status: status}}))
}

// template writes version 1 of the welcome template, as head and version.
func (f *fixture) template() {
	from := testFrom
	c := stored.Content{Name: "Welcome", Subject: "Welcome, {{ contact.firstName }}", Format: "html",
		Source: stored.Gzip(templateHTML), Text: stored.Gzip("Hello {{ contact.firstName }}: https://shop.example.com/orders?id=1"), From: &from}
	for _, k := range []store.Key{store.TemplateKey(testOrg, templateID), store.TemplateVersionKey(testOrg, templateID, 1)} {
		require.NoError(f.t, f.env.Store.Put(context.Background(), struct {
			store.Key
			Version int `dynamodbav:"version"`
			stored.Content
		}{k, 1, c}))
	}
}

// contact writes the test's contact, subscribed or not.
func (f *fixture) contact(subscribed bool) {
	first := "Ada"
	require.NoError(f.t, f.env.Store.Put(context.Background(), struct {
		store.Key
		contactItem
		Version int `dynamodbav:"version"`
	}{store.ContactKey(testOrg, contactID), contactItem{Contact: stored.Contact{ID: contactID, Email: testTo, FirstName: &first,
		Properties: map[string]any{"plan": "pro"}, Tags: []string{"vip"}}, Subscribed: subscribed}, 3}))
}

// queue writes a queued template send to the contact, changed by mod.
func (f *fixture) queue(mod func(*sends.Item)) sends.Item {
	now := f.clk.Now()
	it := sends.Item{OrgID: testOrg, ID: ids.New("msg", now), Status: sends.Queued, StatusAt: now, To: testTo, ContactID: contactID,
		TemplateID: templateID, Data: `{"orderId":"A-1001"}`, Kind: sends.Transactional, TrackOpens: true, TrackClicks: true, CreatedAt: now}
	if mod != nil {
		mod(&it)
	}
	it.SetKeys()
	require.NoError(f.t, f.env.Store.Put(context.Background(), it))
	return it
}

// message is the send queue's message of a send.
func (f *fixture) message(it sends.Item) events.SQSMessage {
	body, err := json.Marshal(sends.Job{OrgID: it.OrgID, SendID: it.ID})
	require.NoError(f.t, err)
	return events.SQSMessage{MessageId: fmt.Sprintf("m-%d", f.msgs.Add(1)), Body: string(body)}
}

// handle runs the worker over the messages and returns the ids of those
// SQS must deliver again.
func (f *fixture) handle(w *Worker, msgs ...events.SQSMessage) []string {
	res, err := w.Handle(context.Background(), events.SQSEvent{Records: msgs})
	require.NoError(f.t, err)
	var out []string
	for _, fail := range res.BatchItemFailures {
		out = append(out, fail.ItemIdentifier)
	}
	return out
}

func (f *fixture) get(it sends.Item) sends.Item {
	got := sends.Item{}
	require.NoError(f.t, f.env.Store.GetConsistent(context.Background(), it.Key, &got))
	return got
}

// counter is the sum over the counter shards of a tenant counter of the
// day (or hour) of t.
func (f *fixture) counter(name string, t time.Time, hour bool) int {
	total := 0
	for shard := range store.StatsShards {
		k := store.StatsDayKey(testOrg, shard, t)
		if hour {
			k = store.StatsHourKey(testOrg, shard, t)
		}
		var m map[string]any
		err := f.env.Store.GetConsistent(context.Background(), k, &m)
		if err != nil {
			continue
		}
		if n, ok := m[name].(float64); ok {
			total += int(n)
		}
	}
	return total
}

// capture records every SendEmail input and its answer, per send.
type capture struct {
	next Mailer
	mu   sync.Mutex
	ins  []*sesv2.SendEmailInput
	ok   map[string]int // send id → emails SES took
}

func newCapture(next Mailer) *capture { return &capture{next: next, ok: map[string]int{}} }

func (c *capture) SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	out, err := c.next.SendEmail(ctx, in, opts...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ins = append(c.ins, in)
	if err == nil {
		for _, tag := range in.EmailTags {
			if aws.ToString(tag.Name) == TagSend {
				c.ok[aws.ToString(tag.Value)]++
			}
		}
	}
	return out, err
}

func (c *capture) last() *sesv2.SendEmailInput {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ins[len(c.ins)-1]
}

// A queued send is sent once, recorded sent with SES's id and counted; in
// steady state (caches warm) an email costs one read, two writes and one
// SES call.
func TestSendsAQueuedSendWithinItsBudget(t *testing.T) {
	f := newFixture(t, nil)
	w := New(f.deps, f.ses)
	first := f.queue(nil)
	require.Empty(t, f.handle(w, f.message(first)))

	got := f.get(first)
	assert.Equal(t, sends.Sent, got.Status)
	assert.NotEmpty(t, got.SESMessageID)
	require.NotNil(t, got.SentAt)
	assert.Nil(t, got.LeaseUntil)
	assert.Empty(t, got.DuePK, "no Due keys once sent")
	assert.Equal(t, store.SendsByStatusPK(testOrg, sends.Sent), got.GSI5PK)
	assert.Equal(t, 1, f.counter(sends.CountSent, f.clk.Now(), false))
	assert.Equal(t, 1, f.counter(sends.CountSent, f.clk.Now(), true))
	var timeline []string
	page, err := f.env.Store.QueryPage(context.Background(), &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :ev)"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": &ddbtypes.AttributeValueMemberS{Value: first.PK}, ":ev": &ddbtypes.AttributeValueMemberS{Value: store.TimelinePrefix()}},
	}, 10, nil, nil)
	require.NoError(t, err)
	for _, item := range page.Items {
		timeline = append(timeline, item["eventType"].(*ddbtypes.AttributeValueMemberS).Value)
	}
	assert.Equal(t, []string{sends.Sent}, timeline)

	second := f.queue(nil)
	f.env.Counter.Reset()
	require.Empty(t, f.handle(w, f.message(second)))
	calls := f.env.Counter.Snapshot()
	assert.Equal(t, sends.Sent, f.get(second).Status)
	assert.LessOrEqual(t, calls["DynamoDB.GetItem"]+calls["DynamoDB.BatchGetItem"], 1, "reads: %v", calls)
	assert.Equal(t, 1, calls["DynamoDB.UpdateItem"], "the claim: %v", calls)
	assert.Equal(t, 1, calls["DynamoDB.TransactWriteItems"], "the record: %v", calls)
	assert.Equal(t, 1, calls["SESv2.SendEmail"])
	assert.Len(t, calls, 4, "no other call: %v", calls)
	assert.Equal(t, 2, f.counter(sends.CountSent, f.clk.Now(), false))
}

// A send of a pinned version reads nothing of its template once cached,
// and inline sends render their own bodies.
func TestPinnedVersionAndInlineSends(t *testing.T) {
	f := newFixture(t, nil)
	c := newCapture(f.ses)
	w := New(f.deps, c)
	pinned := f.queue(func(it *sends.Item) { it.TemplateVersion = 1 })
	require.Empty(t, f.handle(w, f.message(pinned)))
	assert.Equal(t, sends.Sent, f.get(pinned).Status)
	assert.Equal(t, "Welcome, Ada", aws.ToString(c.last().Content.Simple.Subject.Data))

	again := f.queue(func(it *sends.Item) { it.TemplateVersion = 1 })
	f.env.Counter.Reset()
	require.Empty(t, f.handle(w, f.message(again)))
	assert.Equal(t, 1, f.env.Counter.Count("DynamoDB.BatchGetItem"))
	assert.Zero(t, f.env.Counter.Count("DynamoDB.GetItem"), "version and domain are cached")

	inline := f.queue(func(it *sends.Item) {
		it.TemplateID, it.ContactID, it.To, it.From = "", "", "bob@example.com", testFrom
		it.Subject = "Hi {{ contact.email }}"
		it.HTML = stored.Gzip("<p>Total: {{ data.total }}</p>")
		it.Text = stored.Gzip("Total: {{ data.total }}")
		it.Data = `{"total":42}`
		it.TrackOpens, it.TrackClicks = false, false
	})
	require.Empty(t, f.handle(w, f.message(inline)))
	assert.Equal(t, sends.Sent, f.get(inline).Status)
	in := c.last()
	assert.Equal(t, "Hi bob@example.com", aws.ToString(in.Content.Simple.Subject.Data))
	assert.Equal(t, "<p>Total: 42</p>", aws.ToString(in.Content.Simple.Body.Html.Data))
	assert.Equal(t, "Total: 42", aws.ToString(in.Content.Simple.Body.Text.Data))
}

// The same message three times, and one send in two messages of one
// batch: one email each.
func TestRedeliveryNeverSendsTwice(t *testing.T) {
	f := newFixture(t, nil)
	c := newCapture(f.ses)
	w := New(f.deps, c)
	it := f.queue(nil)
	m := f.message(it)
	for range 3 {
		assert.Empty(t, f.handle(w, m))
	}
	other := f.queue(nil)
	assert.Empty(t, f.handle(w, f.message(other), f.message(other)))

	assert.Equal(t, 2, f.env.Counter.Count("SESv2.SendEmail"))
	assert.Equal(t, map[string]int{it.ID: 1, other.ID: 1}, c.ok)
	assert.Equal(t, sends.Sent, f.get(it).Status)
	assert.Equal(t, sends.Sent, f.get(other).Status)
	assert.Equal(t, 2, f.counter(sends.CountSent, f.clk.Now(), false))
}

// throttleEveryOtherSend makes every other SendEmail attempt (the 1st, 3rd,
// …) answer SES's throttling, as SES does: a TooManyRequestsException
// "Maximum sending rate exceeded." in an HTTP 429, without reaching moto.
func throttleEveryOtherSend(cfg *aws.Config) {
	var n atomic.Int64
	cfg.APIOptions = append(slices.Clip(cfg.APIOptions), func(s *middleware.Stack) error {
		return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("sendworkerSESThrottle",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if awsmiddleware.GetOperationName(ctx) == "SendEmail" && n.Add(1)%2 == 1 {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, &awshttp.ResponseError{
						ResponseError: &smithyhttp.ResponseError{
							Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{}, Body: http.NoBody}},
							Err:      &sestypes.TooManyRequestsException{Message: aws.String("Maximum sending rate exceeded.")},
						},
						RequestID: "injected",
					}
				}
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	})
}

// SES throttling on every other call: each throttled send goes back to
// queued as a batch item failure, and the redeliveries send every one
// exactly once.
func TestSESThrottlingLosesNothingAndSendsNothingTwice(t *testing.T) {
	f := newFixture(t, throttleEveryOtherSend)
	c := newCapture(f.ses)
	w := New(f.deps, c)
	var batch []events.SQSMessage
	var all []sends.Item
	for range 4 {
		it := f.queue(nil)
		all = append(all, it)
		batch = append(batch, f.message(it))
	}
	failed := f.handle(w, batch...)
	require.Len(t, failed, 2, "the 1st and 3rd emails were throttled")
	assert.Equal(t, []string{batch[0].MessageId, batch[2].MessageId}, failed)
	throttled := f.get(all[0])
	assert.Equal(t, sends.Queued, throttled.Status, "released for SQS to retry")
	assert.Nil(t, throttled.LeaseUntil)
	assert.Empty(t, throttled.DuePK)
	assert.Equal(t, store.SendsByStatusPK(testOrg, sends.Queued), throttled.GSI5PK)

	// SQS delivers the failed messages again until none is left.
	byID := map[string]events.SQSMessage{}
	for _, m := range batch {
		byID[m.MessageId] = m
	}
	for round := 0; len(failed) > 0; round++ {
		require.Less(t, round, 10, "redeliveries never end")
		var again []events.SQSMessage
		for _, id := range failed {
			again = append(again, byID[id])
		}
		failed = f.handle(w, again...)
	}
	for _, it := range all {
		assert.Equal(t, sends.Sent, f.get(it).Status)
		assert.Equal(t, 1, c.ok[it.ID], "one email for %s", it.ID)
	}
	assert.Equal(t, 4, f.counter(sends.CountSent, f.clk.Now(), false))
	assert.Zero(t, f.counter(sends.CountFailed, f.clk.Now(), false))
}

// DynamoDB throttling on the claim: a batch item failure, no email; the
// redelivery sends it.
func TestDynamoDBThrottlingOnTheClaim(t *testing.T) {
	faults := awsx.NewFaults()
	f := newFixture(t, func(c *aws.Config) {
		faults.Instrument(c)
		awsx.QuickRetries(c, 2)
	})
	w := New(f.deps, f.ses)
	it := f.queue(nil)
	m := f.message(it)
	faults.FailNext("DynamoDB.UpdateItem", 2, awsx.Throttling)
	assert.Equal(t, []string{m.MessageId}, f.handle(w, m))
	assert.Equal(t, 2, faults.Fired("DynamoDB.UpdateItem"), "the SDK retried, then gave up")
	assert.Zero(t, f.env.Counter.Count("SESv2.SendEmail"))
	assert.Equal(t, sends.Queued, f.get(it).Status)

	assert.Empty(t, f.handle(w, m))
	assert.Equal(t, sends.Sent, f.get(it).Status)
	assert.Equal(t, 1, f.env.Counter.Count("SESv2.SendEmail"))
}

// A claim that DynamoDB applied but whose answer was lost: the SDK's retry
// meets the claim's own condition, and the worker knows the claim for its
// own by its token and sends, once. Another worker's claim is still a
// conflict: its job is dropped.
func TestAClaimWhoseAnswerWasLostIsStillOurs(t *testing.T) {
	faults := awsx.NewFaults()
	f := newFixture(t, func(c *aws.Config) {
		faults.Instrument(c)
		awsx.QuickRetries(c, 3)
	})
	w := New(f.deps, f.ses)
	it := f.queue(nil)
	m := f.message(it)
	faults.LoseAnswerOfNth("DynamoDB.UpdateItem", 1, awsx.InternalServerError)
	assert.Empty(t, f.handle(w, m))
	assert.Equal(t, 1, faults.Fired("DynamoDB.UpdateItem"), "the claim's answer was lost")
	got := f.get(it)
	assert.Equal(t, sends.Sent, got.Status)
	assert.Equal(t, 2, got.Rev-it.Rev, "claimed once, then recorded")
	assert.Equal(t, 1, f.env.Counter.Count("SESv2.SendEmail"))

	// The same job again (a redelivery): the send is no longer claimable.
	assert.Empty(t, f.handle(w, m))
	assert.Equal(t, 1, f.env.Counter.Count("SESv2.SendEmail"), "not sent twice")

	// A send another worker holds: dropped, not taken for ours.
	held := f.queue(nil)
	lease := f.clk.Now().Add(Lease)
	_, err := f.env.DB.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{TableName: &f.env.Store.Table, Key: held.KeyAV(),
		UpdateExpression:          aws.String("SET #s = :s, #c = :c, #l = :l"),
		ExpressionAttributeNames:  map[string]string{"#s": "status", "#c": "claim", "#l": "leaseUntil"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":s": &ddbtypes.AttributeValueMemberS{Value: string(sends.Sending)}, ":c": &ddbtypes.AttributeValueMemberS{Value: "another-worker"}, ":l": &ddbtypes.AttributeValueMemberS{Value: lease.UTC().Format(time.RFC3339Nano)}},
	})
	require.NoError(t, err)
	assert.Empty(t, f.handle(w, f.message(held)))
	assert.Equal(t, sends.Sending, f.get(held).Status)
	assert.Equal(t, 1, f.env.Counter.Count("SESv2.SendEmail"), "nothing sent for the held send")
}

// DynamoDB throttling after the claim (on the read) releases the claim.
func TestDynamoDBThrottlingAfterTheClaimReleasesIt(t *testing.T) {
	faults := awsx.NewFaults()
	f := newFixture(t, func(c *aws.Config) {
		faults.Instrument(c)
		awsx.QuickRetries(c, 1)
	})
	w := New(f.deps, f.ses)
	it := f.queue(nil)
	m := f.message(it)
	faults.FailNext("DynamoDB.BatchGetItem", 1, awsx.ProvisionedThroughputExceeded)
	assert.Equal(t, []string{m.MessageId}, f.handle(w, m))
	got := f.get(it)
	assert.Equal(t, sends.Queued, got.Status)
	assert.Equal(t, 2, got.Rev, "claimed, then released")
	assert.Zero(t, f.env.Counter.Count("SESv2.SendEmail"))

	assert.Empty(t, f.handle(w, m))
	assert.Equal(t, sends.Sent, f.get(it).Status)
}

// lostAnswer is a Mailer whose call never gets SES's answer: the worker's
// Lambda timing out or dying in the middle of the call.
type lostAnswer struct{ calls atomic.Int64 }

func (l *lostAnswer) SendEmail(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	l.calls.Add(1)
	return nil, context.DeadlineExceeded
}

// A worker that dies between its claim and SES's answer leaves the send
// sending with its lease (and Due keys at the lease's end, for the
// scheduler): a redelivery never sends it again.
func TestAWorkerThatDiesAfterItsClaimNeverSendsTwice(t *testing.T) {
	f := newFixture(t, nil)
	lost := &lostAnswer{}
	it := f.queue(nil)
	m := f.message(it)
	assert.Empty(t, f.handle(New(f.deps, lost), m), "retrying could send twice")
	assert.EqualValues(t, 1, lost.calls.Load())

	got := f.get(it)
	assert.Equal(t, sends.Sending, got.Status)
	lease := f.clk.Now().Add(Lease)
	require.NotNil(t, got.LeaseUntil)
	assert.True(t, got.LeaseUntil.Equal(lease))
	duePK, dueSK := sends.DueKeys(it.ID, lease)
	assert.Equal(t, duePK, got.DuePK)
	assert.Equal(t, dueSK, got.DueSK)

	f.clk.Advance(time.Minute)
	w := New(f.deps, f.ses)
	assert.Empty(t, f.handle(w, m, m))
	assert.Zero(t, f.env.Counter.Count("SESv2.SendEmail"))
	assert.Equal(t, sends.Sending, f.get(it).Status)
}

// A scheduled send is claimed only when due.
func TestAScheduledSendIsNeverSentEarly(t *testing.T) {
	f := newFixture(t, nil)
	w := New(f.deps, f.ses)
	at := f.clk.Now().Truncate(time.Second).Add(10 * time.Minute) // an API time: whole seconds
	it := f.queue(func(it *sends.Item) { it.Status, it.SendAt = sends.Scheduled, &at })
	m := f.message(it)
	assert.Empty(t, f.handle(w, m))
	f.clk.Advance(at.Add(-time.Millisecond).Sub(f.clk.Now()))
	assert.Empty(t, f.handle(w, m))
	assert.Equal(t, sends.Scheduled, f.get(it).Status)
	assert.Zero(t, f.env.Counter.Count("SESv2.SendEmail"))

	f.clk.Advance(300 * time.Millisecond) // due 299 ms ago, in the same second
	assert.Empty(t, f.handle(w, m))
	assert.Equal(t, sends.Sent, f.get(it).Status)
}

// Permanent failures: failed with a reason, counted, never retried, and
// no email unless SES itself refused it.
func TestPermanentFailures(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(f *fixture)
		mod    func(it *sends.Item)
		reason string
		sesHit int
	}{
		{"suppressed address", func(f *fixture) {
			require.NoError(t, f.env.Store.Put(context.Background(), sends.NewSuppression(testOrg, testTo, sends.ReasonHardBounce, "msg_x", f.clk.Now())))
		}, nil, "suppressed: hard_bounce", 0},
		{"suppressed address, test send", func(f *fixture) {
			require.NoError(t, f.env.Store.Put(context.Background(), sends.NewSuppression(testOrg, testTo, sends.ReasonComplaint, "", f.clk.Now())))
		}, func(it *sends.Item) { it.Test = true }, "suppressed: complaint", 0},
		{"unsubscribed contact, marketing", func(f *fixture) { f.contact(false) },
			func(it *sends.Item) { it.Kind = sends.Marketing }, "unsubscribed", 0},
		{"deleted contact, marketing", func(f *fixture) {
			require.NoError(t, f.env.Store.Delete(context.Background(), store.ContactKey(testOrg, contactID)))
		}, func(it *sends.Item) { it.Kind = sends.Marketing }, "contact deleted", 0},
		{"unverified domain", func(f *fixture) { f.domain("pending.sendwell.test", "pending", true) },
			func(it *sends.Item) { it.From = "hello@pending.sendwell.test" }, "not a verified domain", 0},
		{"another tenant's domain", func(f *fixture) {
			require.NoError(t, f.env.Store.Put(context.Background(), struct {
				store.Key
				domainClaim
			}{store.DomainClaimKey("theirs.sendwell.test"), domainClaim{OrgID: "org_other", DomainID: "dom_theirs"}}))
		}, func(it *sends.Item) { it.From = "hello@theirs.sendwell.test" }, "not a verified domain", 0},
		{"no from address", nil, func(it *sends.Item) {
			it.TemplateID, it.Subject, it.HTML = "", "Hi", stored.Gzip("<p>hi</p>")
		}, "no from address", 0},
		{"Liquid that does not parse", nil, func(it *sends.Item) {
			it.TemplateID, it.From, it.Subject, it.HTML = "", testFrom, "Hi", stored.Gzip("{% if data.x %}never closed")
		}, "render:", 0},
		{"Liquid that fails to render", nil, func(it *sends.Item) {
			it.TemplateID, it.From, it.Subject, it.HTML = "", testFrom, "Hi", stored.Gzip(`{% for i in (1..data.n) %}x{% endfor %}`)
			it.Data = `{"n":200000}`
		}, "render:", 0},
		{"template version gone", nil, func(it *sends.Item) { it.TemplateVersion = 7 }, "template version gone", 0},
		{"SES rejects the email", nil, func(it *sends.Item) { it.From = "hello@" + noSESDomain }, "ses: MessageRejected", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if tc.setup != nil {
				tc.setup(f)
			}
			w := New(f.deps, f.ses)
			it := f.queue(tc.mod)
			assert.Empty(t, f.handle(w, f.message(it)), "never retried")
			got := f.get(it)
			assert.Equal(t, sends.Failed, got.Status)
			assert.Contains(t, got.Reason, tc.reason)
			assert.Nil(t, got.LeaseUntil)
			assert.Empty(t, got.DuePK)
			assert.Equal(t, tc.sesHit, f.env.Counter.Count("SESv2.SendEmail"))
			assert.Equal(t, 1, f.counter(sends.CountFailed, f.clk.Now(), false))
			assert.Zero(t, f.counter(sends.CountSent, f.clk.Now(), false))
		})
	}
}

// A transactional send goes to an unsubscribed contact (only marketing
// respects the subscription; suppression applies to both).
func TestTransactionalIgnoresTheSubscription(t *testing.T) {
	f := newFixture(t, nil)
	f.contact(false)
	it := f.queue(nil)
	assert.Empty(t, f.handle(New(f.deps, f.ses), f.message(it)))
	assert.Equal(t, sends.Sent, f.get(it).Status)
}

var hrefAttr = regexp.MustCompile(`href=["']([^"']*)["']`)

// The email carries the RFC 8058 headers, the send's own headers, the tags
// and, with tracking, links through /t/c/ whose tokens lead to the
// original URLs, and the open pixel; without tracking the HTML is as
// rendered.
func TestTheEmailAsSESGetsIt(t *testing.T) {
	f := newFixture(t, nil)
	c := newCapture(f.ses)
	w := New(f.deps, c)
	signer := sends.NewSigner([]byte(testSecret))
	it := f.queue(func(it *sends.Item) {
		it.Headers = map[string]string{"X-Campaign": "spring", "X-Entity-Ref-ID": "42"}
		it.ReplyTo = "support@example.com"
	})
	require.Empty(t, f.handle(w, f.message(it)))
	in := c.last()

	headers := map[string]string{}
	for _, h := range in.Content.Simple.Headers {
		headers[aws.ToString(h.Name)] = aws.ToString(h.Value)
	}
	unsub := headers[HeaderListUnsubscribe]
	require.True(t, strings.HasPrefix(unsub, "<"+testBase+sends.PathUnsubscribe) && strings.HasSuffix(unsub, ">"), unsub)
	link, err := signer.Verify(strings.TrimPrefix(strings.TrimSuffix(unsub, ">"), "<"+testBase+sends.PathUnsubscribe))
	require.NoError(t, err)
	assert.Equal(t, sends.Link{Kind: sends.LinkUnsubscribe, OrgID: testOrg, SendID: it.ID, Email: testTo, ContactID: contactID}, link)
	assert.Equal(t, "List-Unsubscribe=One-Click", headers[HeaderListUnsubscribePost])
	assert.Equal(t, "spring", headers["X-Campaign"])
	assert.Equal(t, "42", headers["X-Entity-Ref-ID"])
	assert.Equal(t, testFrom, aws.ToString(in.FromEmailAddress))
	assert.Equal(t, []string{"support@example.com"}, in.ReplyToAddresses)
	assert.Equal(t, []string{testTo}, in.Destination.ToAddresses)
	assert.Equal(t, []sestypes.MessageTag{{Name: aws.String(TagOrg), Value: aws.String(testOrg)}, {Name: aws.String(TagSend), Value: aws.String(it.ID)}}, in.EmailTags)
	assert.Nil(t, in.ConfigurationSetName, "none configured")

	html := aws.ToString(in.Content.Simple.Body.Html.Data)
	assert.Contains(t, html, "Hello Ada, order A-1001.")
	var clicked []string
	for _, m := range hrefAttr.FindAllStringSubmatch(html, -1) {
		href := m[1]
		switch {
		case strings.HasPrefix(href, testBase+sends.PathClick):
			l, err := signer.Verify(strings.TrimPrefix(href, testBase+sends.PathClick))
			require.NoError(t, err)
			assert.Equal(t, sends.LinkClick, l.Kind)
			assert.Equal(t, it.ID, l.SendID)
			clicked = append(clicked, l.URL)
		case strings.HasPrefix(href, testBase+sends.PathUnsubscribe), strings.HasPrefix(href, "mailto:"):
		default:
			t.Errorf("a link left untracked: %s", href)
		}
	}
	assert.Equal(t, []string{"https://shop.example.com/orders?id=1&ref=mail", "http://example.com/help"}, clicked)
	assert.Contains(t, html, `<a href="`+strings.Trim(unsub, "<>")+`">Unsubscribe</a>`, "the unsubscribe link is not tracked")
	assert.Contains(t, html, `<a href="mailto:help@example.com">`)
	pixel := regexp.MustCompile(`<img src="` + regexp.QuoteMeta(testBase+sends.PathOpen) + `([^"]+)" width="1" height="1" alt="" style="display:none"></body>`).FindStringSubmatch(html)
	require.NotNil(t, pixel, "the pixel before </body>: %s", html)
	l, err := signer.Verify(pixel[1])
	require.NoError(t, err)
	assert.Equal(t, sends.Link{Kind: sends.LinkOpen, OrgID: testOrg, SendID: it.ID}, l)
	assert.Equal(t, "Hello Ada: https://shop.example.com/orders?id=1", aws.ToString(in.Content.Simple.Body.Text.Data), "the text part is not rewritten")

	plain := f.queue(func(it *sends.Item) { it.TrackOpens, it.TrackClicks = false, false })
	require.Empty(t, f.handle(w, f.message(plain)))
	html = aws.ToString(c.last().Content.Simple.Body.Html.Data)
	assert.Contains(t, html, `<a href="https://shop.example.com/orders?id=1&amp;ref=mail">`)
	assert.NotContains(t, html, sends.PathClick)
	assert.NotContains(t, html, sends.PathOpen)
}

// The function reads the link secret (and no JWT secret) and does not
// start without it.
func TestTheFunctionNeedsTheLinkSecret(t *testing.T) {
	assert.True(t, Function.LinkSecret)
	d := &platform.Deps{Config: config.Config{TableName: "t", PublicBaseURL: testBase, JWTSecret: []byte(testSecret)}}
	_, err := Function.Build(d)
	require.Error(t, err, "the JWT secret is no stand-in")
	assert.Contains(t, err.Error(), "link secret")
	d.Config = config.Config{TableName: "t", PublicBaseURL: testBase, LinkSecret: []byte(testSecret)}
	h, err := Function.Build(d)
	require.NoError(t, err)
	assert.NotNil(t, h)
}

// The configuration set, when set, goes with every email.
func TestTheConfigurationSet(t *testing.T) {
	f := newFixture(t, nil)
	f.deps.Config.ConfigurationSet = "sendwell-dev"
	rec := newCapture(okMailer{})
	it := f.queue(nil)
	require.Empty(t, f.handle(New(f.deps, rec), f.message(it)))
	assert.Equal(t, "sendwell-dev", aws.ToString(rec.last().ConfigurationSetName))
	assert.Equal(t, "ses-1", f.get(it).SESMessageID)
}

// okMailer takes every email.
type okMailer struct{}

func (okMailer) SendEmail(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	return &sesv2.SendEmailOutput{MessageId: aws.String("ses-1")}, nil
}

// A message the worker cannot read is dropped, not retried forever.
func TestMalformedMessagesAreDropped(t *testing.T) {
	f := newFixture(t, nil)
	w := New(f.deps, f.ses)
	assert.Empty(t, f.handle(w, events.SQSMessage{MessageId: "x", Body: "not json"}, events.SQSMessage{MessageId: "y", Body: `{"orgId":""}`}))
	assert.Zero(t, f.env.Counter.Count("DynamoDB.UpdateItem"))
}

// SES's errors: throttling and 5xx are retried, refusals fail the send,
// and no answer is never retried.
func TestClassifySES(t *testing.T) {
	resp := func(status int, err error) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
	}
	cases := []struct {
		name string
		err  error
		want sesVerdict
	}{
		{"throttled", resp(429, &sestypes.TooManyRequestsException{Message: aws.String("Maximum sending rate exceeded.")}), sesRetry},
		{"limit", resp(400, &sestypes.LimitExceededException{}), sesRetry},
		{"paused", resp(400, &sestypes.SendingPausedException{}), sesRetry},
		{"5xx", resp(503, errors.New("unavailable")), sesRetry},
		{"rejected", resp(400, &sestypes.MessageRejected{}), sesPermanent},
		{"mail from", resp(400, &sestypes.MailFromDomainNotVerifiedException{}), sesPermanent},
		{"suspended", resp(400, &sestypes.AccountSuspendedException{}), sesPermanent},
		{"bad request", resp(400, &sestypes.BadRequestException{}), sesPermanent},
		{"config set gone", resp(404, &sestypes.NotFoundException{}), sesPermanent},
		{"no answer", context.DeadlineExceeded, sesUnknown},
		{"connection reset", errors.New("read tcp: connection reset by peer"), sesUnknown},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, classifySES(tc.err), tc.name)
	}
}

// BenchmarkSendWorker is one email in steady state (caches warm) against
// moto: claim, read, render, tracking, SES call, record. Most of its time
// is moto's; its allocations are the worker's and the SDK's.
func BenchmarkSendWorker(b *testing.B) {
	f := newFixture(b, nil)
	w := New(f.deps, f.ses)
	warm := f.queue(nil)
	f.handle(w, f.message(warm))
	msgs := make([]events.SQSMessage, b.N)
	for i := range msgs {
		msgs[i] = f.message(f.queue(nil))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if failed := f.handle(w, msgs[i]); len(failed) > 0 {
			b.Fatal("a send failed")
		}
	}
}

// The worker logs one line per send with its ids and outcome, and never an
// address: not the recipient's, not the sender's, not in SES's messages.
func TestLogsNameNoAddress(t *testing.T) {
	var buf testenv.Buffer
	prev := slog.Default()
	slog.SetDefault(logx.NewJSON(&buf, slog.LevelInfo))
	t.Cleanup(func() { slog.SetDefault(prev) })

	f := newFixture(t, throttleEveryOtherSend)
	w := New(f.deps, f.ses)
	require.NoError(t, f.env.Store.Put(context.Background(), sends.NewSuppression(testOrg, "eve@example.com", sends.ReasonManual, "", f.clk.Now())))
	throttled := f.queue(nil)
	suppressed := f.queue(func(it *sends.Item) { it.To, it.ContactID = "eve@example.com", "" })
	rejected := f.queue(func(it *sends.Item) { it.From = "hello@" + noSESDomain })
	f.handle(w, f.message(throttled), f.message(suppressed), f.message(rejected))
	f.handle(New(f.deps, &lostAnswer{}), f.message(f.queue(nil)))

	out := buf.String()
	for _, want := range []string{`"outcome":"retry"`, `"outcome":"failed"`, `"reason":"suppressed: manual"`, `"reason":"ses: MessageRejected"`, `"outcome":"unknown"`, throttled.ID} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "@", "an address in the logs:\n%s", out)
}
