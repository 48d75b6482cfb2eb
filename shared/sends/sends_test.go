package sends_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newSend(t *testing.T, st *store.Store) sends.Item {
	t.Helper()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	it := sends.Item{OrgID: "org_1", ID: "msg_01", Status: sends.Sending, StatusAt: now, To: "a@example.com", TemplateID: "welcome", Kind: sends.Transactional, CreatedAt: now}
	it.SetKeys()
	require.NoError(t, st.Put(context.Background(), it))
	return it
}

// An event is recorded once: the same event again changes nothing, and
// its counters count it once.
func TestRecordIsOncePerEvent(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	l := &sends.Ledger{Store: env.Store}
	it := newSend(t, env.Store)
	at := time.Date(2026, 12, 1, 10, 0, 1, 0, time.UTC)
	ev := sends.Event{Type: sends.Delivered, At: at, Key: "x", Status: sends.Delivered, Count: []string{sends.CountDelivered}}
	require.NoError(t, l.Record(ctx, &it, ev))
	stale := it
	stale.Rev = 0
	assert.ErrorIs(t, l.Record(ctx, &stale, ev), sends.ErrDuplicate)

	got, err := l.Get(ctx, "org_1", "msg_01")
	require.NoError(t, err)
	assert.Equal(t, sends.Delivered, got.Status)
	assert.Equal(t, 1, got.Rev)
	assert.Equal(t, 1, got.Events)
	var day map[string]any
	require.NoError(t, env.Store.Get(ctx, store.StatsDayKey("org_1", store.StatsShard("msg_01"), at), &day))
	assert.EqualValues(t, 1, day[sends.CountDelivered])
}

// An event that ranks lower never moves the status back; a stale read is
// read again.
func TestRecordNeverMovesBack(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	l := &sends.Ledger{Store: env.Store}
	it := newSend(t, env.Store)
	stale := it
	require.NoError(t, l.Record(ctx, &it, sends.Event{Type: sends.Opened, At: time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC), Status: sends.Opened, Open: true}))
	require.NoError(t, l.Record(ctx, &stale, sends.Event{Type: sends.Delivered, At: time.Date(2026, 12, 1, 10, 0, 2, 0, time.UTC), Status: sends.Delivered}))
	got, err := l.Get(ctx, "org_1", "msg_01")
	require.NoError(t, err)
	assert.Equal(t, sends.Opened, got.Status)
	assert.Equal(t, 2, got.Rev)
	assert.Equal(t, 1, got.Opens)
	assert.Equal(t, 2, got.Events)
}

// A link verifies only as signed.
func TestLinksAreSigned(t *testing.T) {
	s := sends.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	l := sends.Link{Kind: sends.LinkClick, OrgID: "org_1", SendID: "msg_1", URL: "https://example.com/a?b=c"}
	tok := s.Sign(l)
	got, err := s.Verify(tok)
	require.NoError(t, err)
	assert.Equal(t, l, got)
	other := sends.NewSigner([]byte("another-secret-another-secret-xx"))
	_, err = other.Verify(tok)
	assert.ErrorIs(t, err, sends.ErrBadToken)
	_, err = s.Verify(tok[:len(tok)-2] + "AA")
	assert.ErrorIs(t, err, sends.ErrBadToken)
	// The MAC's last character carries 4 unused bits: another character
	// with the same used bits decodes to the same MAC, and is refused too.
	last := tok[len(tok)-1]
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		if c != last {
			_, err = s.Verify(tok[:len(tok)-1] + string(c))
			assert.ErrorIs(t, err, sends.ErrBadToken, "last character %q", c)
		}
	}
	_, err = s.Verify("x.y")
	assert.ErrorIs(t, err, sends.ErrBadToken)
}

// Two first opens recorded from the same stale read count one unique open:
// the retry judges "first" on the send as read again.
func TestUniqueOpensCountOnceUnderRaces(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	l := &sends.Ledger{Store: env.Store}
	it := newSend(t, env.Store)
	at := time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC)
	for i, key := range []string{"a", "b"} {
		stale := it
		require.NoError(t, l.Record(ctx, &stale, sends.Event{Type: sends.Opened, At: at, Key: key, Status: sends.Opened, Open: true,
			Count: []string{sends.CountOpened}, Unique: sends.CountOpenedUnique}), "open %d", i)
	}
	var day map[string]any
	require.NoError(t, env.Store.Get(ctx, store.StatsDayKey("org_1", store.StatsShard("msg_01"), at), &day))
	assert.EqualValues(t, 2, day[sends.CountOpened])
	assert.EqualValues(t, 1, day[sends.CountOpenedUnique])
}

// An event whose When no longer holds once the send is read again records
// nothing: a claim that lapsed while its worker recorded "sent" is not unknown.
func TestStaleEventsRecordNothing(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	l := &sends.Ledger{Store: env.Store}
	it := newSend(t, env.Store)
	stale := it
	at := time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC)
	require.NoError(t, l.Record(ctx, &it, sends.Event{Type: sends.Sent, At: at, Status: sends.Sent, SESMessageID: "ses-1"}))
	err := l.Record(ctx, &stale, sends.Event{Type: sends.Unknown, At: at, Key: "lease", Status: sends.Unknown, Count: []string{sends.CountUnknown},
		When: func(it *sends.Item) bool { return it.Status == sends.Sending }})
	require.ErrorIs(t, err, sends.ErrStale)
	got, err := l.Get(ctx, "org_1", "msg_01")
	require.NoError(t, err)
	assert.Equal(t, sends.Sent, got.Status)
	assert.Equal(t, 1, got.Events)
}
