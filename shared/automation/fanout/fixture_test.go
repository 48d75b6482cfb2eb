package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation/campaigns"
	"github.com/sendwell/sendwell/shared/automation/internal/broadcasttest"
	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = broadcasttest.T0

const (
	org      = broadcasttest.Org
	template = broadcasttest.Template
)

// fixture is the fan-out, and the campaigns API that makes and starts its
// broadcasts, over a fresh table holding an organisation on the pro plan
// with a verified domain and a template.
type fixture struct {
	*broadcasttest.Fixture
	st     *store.Store // the fan-out's store (faults, when asked, are on it)
	svc    *campaigns.Service
	sender *countingSender
	queue  *fakeQueue
	fanout *Fanout
}

func newFixture(t *testing.T, faults ...*awsx.Faults) *fixture {
	base := broadcasttest.New(t)
	env, clk := base.Env, base.Clock
	st := env.Store
	if len(faults) > 0 {
		cfg := env.Config.Copy()
		for _, f := range faults {
			f.Instrument(&cfg)
		}
		awsx.QuickRetries(&cfg, 2)
		st = store.New(dynamodb.NewFromConfig(cfg), env.Store.Table)
	}
	svc := campaigns.NewService(env.Store, clk)
	campaigns.NewHandlers(svc, base.Cursors()).Register(base.Router)
	sender := &countingSender{next: messages.NewService(st, clk), made: map[string]int{}}
	q := &fakeQueue{}
	f := &fixture{Fixture: base, st: st, svc: svc, sender: sender, queue: q,
		fanout: New(st, clk, sender, q, "https://sqs.local/sequence")}
	// A spaced page waits on the fake clock.
	f.fanout.sleep = func(_ context.Context, d time.Duration) error { clk.Advance(d); return nil }
	return f
}

// broadcast creates a draft broadcast to the segment (or "all").
func (f *fixture) broadcast(segmentID string, extra string) campaigns.Broadcast {
	f.T.Helper()
	var b campaigns.Broadcast
	f.CreateBroadcast(segmentID, extra, &b)
	return b
}

// drain runs the queued page jobs until none is left (at most max), moving
// the clock by each job's delay; it returns how many ran.
func (f *fixture) drain(max int) int {
	n := 0
	for ; n < max; n++ {
		msg, ok := f.queue.pop()
		if !ok {
			return n
		}
		f.Clock.Advance(time.Duration(msg.delay) * time.Second)
		require.NoError(f.T, f.fanout.Run(f.T.Context(), msg.job))
	}
	return n
}

// countingSender counts the sends each contact's SendAs made (not found).
type countingSender struct {
	next Sender

	mu    sync.Mutex
	made  map[string]int // contact id → sends made
	calls int
	// before, when set, runs before each call; an error it returns is the
	// call's (the worker dying half-way).
	before func(n int) error
}

func (c *countingSender) SendAs(ctx context.Context, orgID, id, source string, in messages.SendRequest) (messages.Send, bool, error) {
	c.mu.Lock()
	c.calls++
	n, before := c.calls, c.before
	c.mu.Unlock()
	if before != nil {
		if err := before(n); err != nil {
			return messages.Send{}, false, err
		}
	}
	s, existed, err := c.next.SendAs(ctx, orgID, id, source, in)
	if err == nil && !existed {
		var to struct {
			ContactID string `json:"contactId"`
		}
		_ = json.Unmarshal(in.To, &to)
		c.mu.Lock()
		c.made[to.ContactID]++
		c.mu.Unlock()
	}
	return s, existed, err
}

func (c *countingSender) madeFor(contactID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.made[contactID]
}

func (c *countingSender) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.made {
		n += v
	}
	return n
}

// fakeQueue records the page jobs the fan-out queues.
type fakeQueue struct {
	mu   sync.Mutex
	msgs []queued
	sent int
	fail error
}

type queued struct {
	job   journey.BroadcastJob
	delay int32
}

func (q *fakeQueue) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return nil, q.fail
	}
	var j journey.Job
	if err := json.Unmarshal([]byte(*in.MessageBody), &j); err != nil || j.Broadcast == nil {
		return nil, fmt.Errorf("fake queue: bad body %s", *in.MessageBody)
	}
	q.sent++
	q.msgs = append(q.msgs, queued{*j.Broadcast, in.DelaySeconds})
	return &sqs.SendMessageOutput{}, nil
}

func (q *fakeQueue) pop() (queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		return queued{}, false
	}
	m := q.msgs[0]
	q.msgs = q.msgs[1:]
	return m, true
}

func (q *fakeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

// errDied stands for a worker killed in the middle of a page.
var errDied = errs.NewUnavailable(1, fmt.Errorf("worker died"))
