package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// sdkAttempts is the SDK's maximum attempts in these tests (its default).
const sdkAttempts = 3

// faulty is a store over a test's table whose client goes through Faults,
// with the SDK's standard retries, minus their backoff.
type faulty struct {
	env    *testenv.Env
	store  *store.Store
	faults *awsx.Faults
}

func newFaulty(t *testing.T) *faulty {
	env := testenv.New(t)
	cfg := env.Config.Copy()
	f := awsx.NewFaults()
	f.Instrument(&cfg)
	awsx.QuickRetries(&cfg, sdkAttempts)
	return &faulty{env: env, store: store.New(dynamodb.NewFromConfig(cfg), env.Store.Table), faults: f}
}

type thing struct {
	PK      string `dynamodbav:"PK"`
	SK      string `dynamodbav:"SK"`
	Version int    `dynamodbav:"version"`
	Name    string `dynamodbav:"name"`
	Blob    string `dynamodbav:"blob,omitempty"`
}

func newThing(k store.Key, name string) thing {
	return thing{PK: k.PK, SK: k.SK, Version: 1, Name: name}
}

func putTx(it thing) types.TransactWriteItem {
	av, err := store.Marshal(it)
	if err != nil {
		panic(err)
	}
	return types.TransactWriteItem{Put: &types.Put{Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}}
}

// A transaction DynamoDB cancels for TransactionConflict is sent again (it
// wrote nothing); persistent conflicts answer a 409 that asks to retry, and
// no other cancellation is retried.
func TestTransactRetriesOnlyTransactionConflicts(t *testing.T) {
	const op = "DynamoDB.TransactWriteItems"
	cases := []struct {
		name     string
		setup    func(f *faulty, a, b thing)
		attempts int
		written  bool
		check    func(t *testing.T, err error)
	}{
		{
			name:     "one conflict, then success",
			setup:    func(f *faulty, _, _ thing) { f.faults.FailNth(op, 1, awsx.TransactionConflict) },
			attempts: 2, written: true,
			check: func(t *testing.T, err error) { require.NoError(t, err) },
		},
		{
			name:     "two conflicts, then success",
			setup:    func(f *faulty, _, _ thing) { f.faults.FailNext(op, 2, awsx.TransactionConflict) },
			attempts: 3, written: true,
			check: func(t *testing.T, err error) { require.NoError(t, err) },
		},
		{
			name:     "persistent conflicts",
			setup:    func(f *faulty, _, _ thing) { f.faults.FailFrom(op, 1, awsx.TransactionConflict) },
			attempts: store.TransactAttempts,
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, errs.ErrConflict)
				var tc *store.TxConflict
				require.ErrorAs(t, err, &tc)
				assert.Equal(t, []int{0}, tc.Items)
				assert.Equal(t, store.TransactAttempts, tc.Attempts)
				assert.False(t, errs.Retryable(err), "a 409 the client retries, not the worker")
				status, code, msg := httpx.Classify(err)
				assert.Equal(t, http.StatusConflict, status)
				assert.Equal(t, httpx.CodeConflict, code)
				assert.Equal(t, "The resource was changed by a concurrent request; retry.", msg)
			},
		},
		{
			name:     "a failed condition is not retried",
			setup:    func(f *faulty, _, b thing) { require.NoError(t, f.store.PutNew(context.Background(), b)) },
			attempts: 1,
			check: func(t *testing.T, err error) {
				var tx *store.TxCanceled
				require.ErrorAs(t, err, &tx)
				assert.True(t, tx.FailedAt(1))
				assert.False(t, tx.FailedAt(0))
				assert.ErrorIs(t, err, errs.ErrConflict)
			},
		},
		{
			name:     "a throttled transaction is unavailable, not retried here",
			setup:    func(f *faulty, _, _ thing) { f.faults.FailFrom(op, 1, awsx.TransactionThrottled) },
			attempts: 1,
			check: func(t *testing.T, err error) {
				var un *errs.Unavailable
				require.ErrorAs(t, err, &un)
				assert.True(t, errs.Retryable(err))
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFaulty(t)
			ctx := context.Background()
			a := newThing(store.ContactKey("org_1", "cnt_a"), "a")
			b := newThing(store.ContactKey("org_1", "cnt_b"), "b")
			c.setup(f, a, b)
			before := f.faults.Attempts(op)
			err := f.store.Transact(ctx, []types.TransactWriteItem{putTx(a), putTx(b)})
			c.check(t, err)
			assert.Equal(t, c.attempts, f.faults.Attempts(op)-before, "TransactWriteItems attempts")
			var got thing
			if c.written {
				require.NoError(t, f.store.Get(ctx, store.ContactKey("org_1", "cnt_a"), &got))
				assert.Equal(t, "a", got.Name)
			} else {
				assert.ErrorIs(t, f.store.Get(ctx, store.ContactKey("org_1", "cnt_a"), &got), errs.ErrNotFound, "nothing written")
			}
		})
	}
}

// The conflict retries wait, and a context ending during the wait ends them.
func TestTransactHonoursTheContext(t *testing.T) {
	f := newFaulty(t)
	f.faults.FailFrom("DynamoDB.TransactWriteItems", 1, awsx.TransactionConflict)
	ctx, cancel := context.WithCancel(context.Background())
	f.faults.Before("DynamoDB.TransactWriteItems", func(n int) {
		if n == 1 {
			cancel()
		}
	})
	err := f.store.Transact(ctx, []types.TransactWriteItem{putTx(newThing(store.ContactKey("org_1", "cnt_a"), "a"))})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, f.faults.Attempts("DynamoDB.TransactWriteItems"))
}

// Throttling and DynamoDB's 5xx, once the SDK's own retries are spent, are
// errs.Unavailable from every Store method, and the API answers them 503
// with a Retry-After.
func TestOverloadIsUnavailable(t *testing.T) {
	ctx := context.Background()
	k := store.ContactEmailKey("org_1", "ada@example.com")
	ops := []struct {
		op   string
		call func(s *store.Store) error
	}{
		{"DynamoDB.GetItem", func(s *store.Store) error { return s.Get(ctx, k, &thing{}) }},
		{"DynamoDB.PutItem", func(s *store.Store) error { return s.Put(ctx, newThing(k, "x")) }},
		{"DynamoDB.PutItem", func(s *store.Store) error { return s.PutNew(ctx, newThing(k, "x")) }},
		{"DynamoDB.PutItem", func(s *store.Store) error { return s.PutIfVersion(ctx, newThing(k, "x"), 1) }},
		{"DynamoDB.DeleteItem", func(s *store.Store) error { return s.Delete(ctx, k) }},
		{"DynamoDB.UpdateItem", func(s *store.Store) error { _, err := s.Increment(ctx, k, time.Now()); return err }},
		{"DynamoDB.Query", func(s *store.Store) error {
			return s.QueryKeys(ctx, k.PK, "", func([]store.Key) error { return nil })
		}},
		{"DynamoDB.BatchWriteItem", func(s *store.Store) error { return s.PutAll(ctx, []any{newThing(k, "x")}) }},
		{"DynamoDB.BatchGetItem", func(s *store.Store) error { _, err := s.BatchGet(ctx, []store.Key{k}); return err }},
		{"DynamoDB.TransactWriteItems", func(s *store.Store) error {
			return s.Transact(ctx, []types.TransactWriteItem{putTx(newThing(k, "x"))})
		}},
	}
	faults := []awsx.Fault{awsx.Throttling, awsx.ProvisionedThroughputExceeded, awsx.InternalServerError}
	f := newFaulty(t)
	for _, o := range ops {
		for _, fault := range faults {
			t.Run(o.op+"/"+fault.String(), func(t *testing.T) {
				f.faults.Reset()
				f.faults.FailFrom(o.op, 1, fault)
				err := o.call(f.store)

				var un *errs.Unavailable
				require.ErrorAs(t, err, &un)
				assert.Equal(t, 1, un.RetryAfter)
				assert.True(t, errs.Retryable(err))
				assert.Equal(t, sdkAttempts, f.faults.Attempts(o.op), "the SDK retried before giving up")
				assert.Equal(t, sdkAttempts, f.faults.Fired(o.op))
				assert.NotContains(t, err.Error(), "ada@example.com")

				rec := httptest.NewRecorder()
				httpx.WriteError(rec, httptest.NewRequest("GET", "/api/contacts", nil), err)
				assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
				assert.Equal(t, "1", rec.Header().Get("Retry-After"))
				assert.JSONEq(t, `{"error":{"code":"SERVICE_UNAVAILABLE","message":"The service is busy; retry after 1 second."}}`, rec.Body.String())
			})
		}
	}
}

// Throttling the SDK's retries absorb never reaches the caller.
func TestOverloadTheSDKRetriesAwayIsInvisible(t *testing.T) {
	f := newFaulty(t)
	ctx := context.Background()
	k := store.ContactKey("org_1", "cnt_a")
	require.NoError(t, f.store.Put(ctx, newThing(k, "a")))
	f.faults.FailNext("DynamoDB.GetItem", sdkAttempts-1, awsx.Throttling)
	var got thing
	require.NoError(t, f.store.Get(ctx, k, &got))
	assert.Equal(t, "a", got.Name)
	assert.Equal(t, sdkAttempts, f.faults.Attempts("DynamoDB.GetItem"))
}

// Store errors name the kind of key, never its values (emails, ids).
func TestErrorsNameNoKeyValues(t *testing.T) {
	f := newFaulty(t)
	ctx := context.Background()
	email, org := "ada@example.com", "org_secret42"
	k := store.ContactEmailKey(org, email)

	f.faults.FailFrom("DynamoDB.GetItem", 1, awsx.InternalServerError)
	err := f.store.Get(ctx, k, &thing{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CEMAIL#")
	assert.NotContains(t, err.Error(), email)
	assert.NotContains(t, err.Error(), org)
	var ise *types.InternalServerError
	assert.ErrorAs(t, err, &ise, "the cause stays inspectable")

	// Conflicts and undecodable items too.
	require.NoError(t, f.store.PutNew(ctx, newThing(k, "x")))
	for _, err := range []error{
		f.store.PutNew(ctx, newThing(k, "x")),
		f.store.PutIfVersion(ctx, newThing(k, "x"), 7),
		f.store.Get(ctx, store.ContactEmailKey(org, email), &struct {
			Name int `dynamodbav:"name"`
		}{}),
	} {
		require.Error(t, err)
		assert.Contains(t, err.Error(), "CEMAIL#")
		assert.NotContains(t, err.Error(), email)
		assert.NotContains(t, err.Error(), org)
	}
}

// PutIfVersion replaces an item only at the version it was read at.
func TestPutIfVersion(t *testing.T) {
	f := newFaulty(t)
	ctx := context.Background()
	k := store.ImportKey("org_1", "imp_1")

	assert.ErrorIs(t, f.store.PutIfVersion(ctx, thing{PK: k.PK, SK: k.SK, Version: 2}, 1), errs.ErrConflict, "no item yet")
	require.NoError(t, f.store.PutNew(ctx, thing{PK: k.PK, SK: k.SK, Version: 1, Name: "v1"}))
	require.NoError(t, f.store.PutIfVersion(ctx, thing{PK: k.PK, SK: k.SK, Version: 2, Name: "v2"}, 1))
	assert.ErrorIs(t, f.store.PutIfVersion(ctx, thing{PK: k.PK, SK: k.SK, Version: 2, Name: "stale"}, 1), errs.ErrConflict)

	// Another writer between our read and our write: ours loses.
	var read thing
	require.NoError(t, f.store.Get(ctx, k, &read))
	f.faults.Before("DynamoDB.PutItem", func(n int) {
		if n == 1 {
			require.NoError(t, f.store.PutIfVersion(ctx, thing{PK: k.PK, SK: k.SK, Version: 3, Name: "theirs"}, 2))
		}
	})
	mine := read
	mine.Version, mine.Name = read.Version+1, "mine"
	assert.ErrorIs(t, f.store.PutIfVersion(ctx, mine, read.Version), errs.ErrConflict)

	var got thing
	require.NoError(t, f.store.Get(ctx, k, &got))
	assert.Equal(t, thing{PK: k.PK, SK: k.SK, Version: 3, Name: "theirs"}, got)
}

// PutAll and BatchGet take any number of items, in DynamoDB's batch sizes.
func TestPutAllAndBatchGetChunk(t *testing.T) {
	f := newFaulty(t)
	ctx := context.Background()
	var items []any
	var keys []store.Key
	for i := range 60 {
		k := store.ContactKey("org_1", fmt.Sprintf("cnt_%03d", i))
		items = append(items, newThing(k, fmt.Sprint(i)))
		keys = append(keys, k)
	}
	require.NoError(t, f.store.PutAll(ctx, items))
	assert.Equal(t, 3, f.faults.Attempts("DynamoDB.BatchWriteItem"), "25 + 25 + 10")

	// 60 that exist, 90 that do not, and 10 repeated.
	for i := range 90 {
		keys = append(keys, store.ContactKey("org_1", fmt.Sprintf("missing_%03d", i)))
	}
	keys = append(keys, keys[:10]...)
	require.Len(t, keys, 160)
	raw, err := f.store.BatchGet(ctx, keys)
	require.NoError(t, err)
	var got []thing
	require.NoError(t, attributevalue.UnmarshalListOfMaps(raw, &got))
	assert.Len(t, got, 60)
	names := map[string]bool{}
	for _, g := range got {
		names[g.Name] = true
	}
	assert.Len(t, names, 60)
	assert.Equal(t, 2, f.faults.Attempts("DynamoDB.BatchGetItem"), "150 distinct keys: 100 + 50")

	require.NoError(t, f.store.DeleteAll(ctx, keys[:60]))
	raw, err = f.store.BatchGet(ctx, keys)
	require.NoError(t, err)
	assert.Empty(t, raw)
}

// QueryKeys follows DynamoDB's pages (1 MB each) and keeps to the prefix;
// deleting each page as it comes empties the partition.
func TestQueryKeysPages(t *testing.T) {
	f := newFaulty(t)
	ctx := context.Background()
	pk := store.EventsPK("org_1", "cnt_1")
	blob := strings.Repeat("x", 100_000)
	var items []any
	var want []store.Key
	for i := range 30 {
		k := store.Key{PK: pk, SK: store.EventSK(fmt.Sprintf("evt_%02d", i))}
		items = append(items, thing{PK: k.PK, SK: k.SK, Blob: blob})
		want = append(want, k)
	}
	items = append(items, thing{PK: pk, SK: "OTHER#1"}, thing{PK: pk + "x", SK: store.EventSK("evt_99")})
	require.NoError(t, f.store.PutAll(ctx, items))

	var got []store.Key
	pages := 0
	require.NoError(t, f.store.QueryKeys(ctx, pk, store.EventPrefix(), func(keys []store.Key) error {
		pages++
		got = append(got, keys...)
		return nil
	}))
	assert.Equal(t, want, got)
	assert.GreaterOrEqual(t, pages, 3, "30 items of 100 kB take several 1 MB pages")
	assert.Equal(t, pages, f.faults.Attempts("DynamoDB.Query"))

	stop := errors.New("stop")
	calls := 0
	err := f.store.QueryKeys(ctx, pk, store.EventPrefix(), func([]store.Key) error { calls++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)

	require.NoError(t, f.store.QueryKeys(ctx, pk, "", func(keys []store.Key) error { return f.store.DeleteAll(ctx, keys) }))
	require.NoError(t, f.store.QueryKeys(ctx, pk, "", func(keys []store.Key) error {
		t.Errorf("left after purge: %v", keys)
		return nil
	}))
}

// Increment counts atomically per key and returns the new count.
func TestIncrement(t *testing.T) {
	f := newFaulty(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 10, 30, 15, 0, time.UTC)
	var got []int
	for _, m := range []int{0, 0, 1, 0} {
		n, err := f.store.Increment(ctx, store.RateLimitKey("org_1", now.Add(time.Duration(m)*time.Minute)), now.Add(time.Hour))
		require.NoError(t, err)
		got = append(got, n)
	}
	assert.Equal(t, []int{1, 2, 1, 3}, got)
}

// MapErr maps the SDK's errors as DynamoDB returns them; it is idempotent.
func TestMapErr(t *testing.T) {
	reasons := func(codes ...string) []types.CancellationReason {
		var out []types.CancellationReason
		for _, c := range codes {
			out = append(out, types.CancellationReason{Code: aws.String(c)})
		}
		return out
	}
	unavailable := func(t *testing.T, err error) {
		var un *errs.Unavailable
		assert.ErrorAs(t, err, &un)
	}
	internal := func(t *testing.T, err error) {
		var un *errs.Unavailable
		assert.False(t, errors.As(err, &un), "not unavailable")
		status, _, _ := httpx.Classify(err)
		assert.Equal(t, http.StatusInternalServerError, status)
	}
	cases := []struct {
		name  string
		err   error
		check func(t *testing.T, err error)
	}{
		{"nil", nil, func(t *testing.T, err error) { assert.NoError(t, err) }},
		{"condition", &types.ConditionalCheckFailedException{}, func(t *testing.T, err error) { assert.ErrorIs(t, err, errs.ErrConflict) }},
		{"tx condition", &types.TransactionCanceledException{CancellationReasons: reasons("None", "ConditionalCheckFailed", "TransactionConflict")},
			func(t *testing.T, err error) {
				var tx *store.TxCanceled
				require.ErrorAs(t, err, &tx)
				assert.Equal(t, []int{1}, tx.Failed)
			}},
		{"tx conflict", &types.TransactionCanceledException{CancellationReasons: reasons("None", "TransactionConflict")},
			func(t *testing.T, err error) {
				var tc *store.TxConflict
				require.ErrorAs(t, err, &tc)
				assert.Equal(t, []int{1}, tc.Items)
				assert.ErrorIs(t, err, errs.ErrConflict)
			}},
		{"tx throttled", &types.TransactionCanceledException{CancellationReasons: reasons("ThrottlingError", "TransactionConflict")}, unavailable},
		{"tx throughput", &types.TransactionCanceledException{CancellationReasons: reasons("ProvisionedThroughputExceeded")}, unavailable},
		{"tx validation", &types.TransactionCanceledException{CancellationReasons: reasons("ValidationError")}, internal},
		{"throughput", &types.ProvisionedThroughputExceededException{}, unavailable},
		{"throttling", &types.ThrottlingException{}, unavailable},
		{"request limit", &types.RequestLimitExceeded{}, unavailable},
		{"internal", &types.InternalServerError{}, unavailable},
		{"unmodelled 503", fmt.Errorf("op: %w", httpErr(503, errors.New("ServiceUnavailable"))), unavailable},
		{"400", httpErr(400, errors.New("ValidationException: bad key")), internal},
		{"resource not found", &types.ResourceNotFoundException{}, internal},
		{"deadline", context.DeadlineExceeded, func(t *testing.T, err error) {
			internal(t, err)
			assert.True(t, errs.Retryable(err))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := store.MapErr(c.err)
			c.check(t, err)
			assert.Equal(t, fmt.Sprint(err), fmt.Sprint(store.MapErr(err)), "mapping twice changes nothing")
		})
	}
}

type statusErr struct {
	status int
	err    error
}

func (e *statusErr) Error() string       { return fmt.Sprintf("http %d: %v", e.status, e.err) }
func (e *statusErr) Unwrap() error       { return e.err }
func (e *statusErr) HTTPStatusCode() int { return e.status }

func httpErr(status int, err error) error { return &statusErr{status, err} }

func TestChunks(t *testing.T) {
	cases := []struct {
		in   []int
		n    int
		want [][]int
	}{
		{nil, 25, nil},
		{[]int{1}, 25, [][]int{{1}}},
		{[]int{1, 2, 3, 4}, 2, [][]int{{1, 2}, {3, 4}}},
		{[]int{1, 2, 3, 4, 5}, 2, [][]int{{1, 2}, {3, 4}, {5}}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, store.Chunks(c.in, c.n), "%v by %d", c.in, c.n)
	}
}

// The 503 envelope as a client sees it, through a router.
func TestUnavailableThroughTheRouter(t *testing.T) {
	f := newFaulty(t)
	rt := httpx.NewRouter(nil, clock.System{})
	rt.Handle("GET /api/things/{id}", httpx.Public, func(w http.ResponseWriter, r *http.Request) error {
		return f.store.Get(r.Context(), store.ContactKey("org_1", r.PathValue("id")), &thing{})
	})
	f.faults.FailFrom("DynamoDB.GetItem", 1, awsx.ProvisionedThroughputExceeded)
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest("GET", "/api/things/cnt_1", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	var eb httpx.ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb))
	assert.Equal(t, httpx.CodeUnavailable, eb.Error.Code)
	assert.Equal(t, "The service is busy; retry after 1 second.", eb.Error.Message)
}
