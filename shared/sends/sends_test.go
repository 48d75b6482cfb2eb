package sends

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newSend(t *testing.T, st *store.Store) Item {
	t.Helper()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	it := Item{OrgID: "org_1", ID: "msg_01", Status: Sending, StatusAt: now, To: "a@example.com", TemplateID: "welcome", Kind: Transactional, CreatedAt: now}
	it.SetKeys()
	require.NoError(t, st.PutNew(context.Background(), it))
	return it
}

// An event is recorded once: the same event again changes nothing, and
// its counters count it once.
func TestRecordIsOncePerEvent(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	l := &Ledger{Store: env.Store}
	it := newSend(t, env.Store)
	at := time.Date(2026, 12, 1, 10, 0, 1, 0, time.UTC)
	ev := Event{Type: Delivered, At: at, Key: "x", Status: Delivered, Count: []string{CountDelivered}}
	require.NoError(t, l.Record(ctx, &it, ev))
	stale := it
	stale.Rev = 0
	assert.ErrorIs(t, l.Record(ctx, &stale, ev), ErrDuplicate)

	got, err := l.Get(ctx, "org_1", "msg_01")
	require.NoError(t, err)
	assert.Equal(t, Delivered, got.Status)
	assert.Equal(t, 1, got.Rev)
	assert.Equal(t, 1, got.Events)
	var day map[string]any
	require.NoError(t, env.Store.Get(ctx, store.StatsDayKey("org_1", store.StatsShard("msg_01"), at), &day))
	assert.EqualValues(t, 1, day[CountDelivered])
}

// An event that ranks lower never moves the status back; a stale read is
// read again.
func TestRecordNeverMovesBack(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	l := &Ledger{Store: env.Store}
	it := newSend(t, env.Store)
	stale := it
	require.NoError(t, l.Record(ctx, &it, Event{Type: Opened, At: time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC), Status: Opened, Open: true}))
	require.NoError(t, l.Record(ctx, &stale, Event{Type: Delivered, At: time.Date(2026, 12, 1, 10, 0, 2, 0, time.UTC), Status: Delivered}))
	got, err := l.Get(ctx, "org_1", "msg_01")
	require.NoError(t, err)
	assert.Equal(t, Opened, got.Status)
	assert.Equal(t, 2, got.Rev)
	assert.Equal(t, 1, got.Opens)
	assert.Equal(t, 2, got.Events)
}

// A link verifies only as signed.
func TestLinksAreSigned(t *testing.T) {
	s := NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	l := Link{Kind: LinkClick, OrgID: "org_1", SendID: "msg_1", URL: "https://example.com/a?b=c"}
	tok := s.Sign(l)
	got, err := s.Verify(tok)
	require.NoError(t, err)
	assert.Equal(t, l, got)
	other := NewSigner([]byte("another-secret-another-secret-xx"))
	_, err = other.Verify(tok)
	assert.ErrorIs(t, err, ErrBadToken)
	_, err = s.Verify(tok[:len(tok)-2] + "AA")
	assert.ErrorIs(t, err, ErrBadToken)
	_, err = s.Verify("x.y")
	assert.ErrorIs(t, err, ErrBadToken)
}
