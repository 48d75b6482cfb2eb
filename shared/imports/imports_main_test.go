package imports

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/config"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2026, 11, 22, 10, 0, 30, 0, time.UTC)

// fixture is the imports service over moto (its own table, bucket and
// queue), with a fake clock, DynamoDB faults, a DynamoDB client that can
// leave batch items unprocessed, and a record of every S3 read.
type fixture struct {
	t        *testing.T
	env      *testenv.Env
	deps     *platform.Deps
	clock    *clock.Fake
	faults   *awsx.Faults
	db       *unprocessing
	svc      *Service
	contacts *contacts.Service
	reads    *readLog
	s3       *s3.Client
	orgID    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := testenv.New(t)
	res := env.Resources(t)
	faults := awsx.NewFaults()
	cfg := env.Config.Copy()
	faults.Instrument(&cfg)
	awsx.QuickRetries(&cfg, 3)
	clk := clock.NewFake(t0)
	d, err := platform.NewDeps(cfg, config.Config{TableName: env.Store.Table, ImportsBucket: res.ImportsBucket,
		ImportQueueURL: res.ImportQueueURL, S3PathStyle: true}, clk)
	require.NoError(t, err)
	db := &unprocessing{DB: d.Store.DB}
	d.Store = store.New(db, env.Store.Table)
	svc := FromDeps(d)
	reads := &readLog{inner: svc.objects}
	svc.objects = reads
	return &fixture{t: t, env: env, deps: d, clock: clk, faults: faults, db: db, svc: svc, contacts: svc.contacts, reads: reads,
		s3: localaws.S3(env.Config), orgID: ids.New(ids.Org, t0)}
}

// newImport creates an import and uploads body as its file.
func (f *fixture) newImport(body string) string {
	f.t.Helper()
	imp, err := f.svc.Create(f.t.Context(), f.orgID)
	require.NoError(f.t, err)
	f.upload(imp.ID, body)
	return imp.ID
}

// upload puts body at the import's key, as a PUT to its presigned URL does.
func (f *fixture) upload(importID, body string) {
	f.t.Helper()
	_, err := f.s3.PutObject(f.t.Context(), &s3.PutObjectInput{Bucket: &f.deps.Config.ImportsBucket,
		Key: aws.String(ObjectKey(f.orgID, importID)), Body: strings.NewReader(body)})
	require.NoError(f.t, err)
}

// get reads the stored import.
func (f *fixture) get(id string) *Item {
	f.t.Helper()
	it, err := f.svc.Get(f.t.Context(), f.orgID, id)
	require.NoError(f.t, err)
	return it
}

// contactCount counts the tenant's contacts and email lookups as stored.
func (f *fixture) contactCount() (contactItems, lookups int) {
	f.t.Helper()
	ctx := f.t.Context()
	require.NoError(f.t, f.env.Store.QueryKeys(ctx, store.OrgPK(f.orgID), store.ContactPrefix(), func(k []store.Key) error {
		contactItems += len(k)
		return nil
	}))
	require.NoError(f.t, f.env.Store.QueryKeys(ctx, store.OrgPK(f.orgID), store.ContactEmailPrefix(), func(k []store.Key) error {
		lookups += len(k)
		return nil
	}))
	return contactItems, lookups
}

// contact reads the contact of an email, or nil when there is none.
func (f *fixture) contact(email string) *contacts.Item {
	f.t.Helper()
	c, err := f.contacts.ByEmail(f.t.Context(), f.orgID, email)
	if errors.Is(err, errs.ErrNotFound) {
		return nil
	}
	require.NoError(f.t, err)
	return c
}

// rows is a CSV of n rows "<prefix><i>@example.com,<Name><i>" under header.
func rows(header, prefix string, n int) string {
	var sb strings.Builder
	sb.WriteString(header + "\n")
	for i := range n {
		fmt.Fprintf(&sb, "%s%d@example.com,Name%d\n", prefix, i, i)
	}
	return sb.String()
}

// readLog records the S3 reads of the upload: what was asked, and the
// ETag of what came back.
type readLog struct {
	inner ObjectReader
	mu    sync.Mutex
	ins   []s3.GetObjectInput
	etags []string
}

func (l *readLog) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := l.inner.GetObject(ctx, in, opts...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ins = append(l.ins, *in)
	if err == nil {
		l.etags = append(l.etags, aws.ToString(out.ETag))
	}
	return out, err
}

func (l *readLog) inputs() []s3.GetObjectInput {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]s3.GetObjectInput(nil), l.ins...)
}

// unprocessing is DynamoDB as it behaves under load: while calls > 0, each
// BatchWriteItem writes only the first half of its items and returns the
// rest as UnprocessedItems, as DynamoDB does when it throttles part of a batch.
type unprocessing struct {
	store.DB
	mu   sync.Mutex
	left int // calls still to split
	sent int // items returned unprocessed so far
}

func (u *unprocessing) leaveUnprocessed(calls int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.left = calls
}

func (u *unprocessing) unprocessed() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sent
}

func (u *unprocessing) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	u.mu.Lock()
	var table string
	for table = range in.RequestItems { // the store writes one table
	}
	reqs := in.RequestItems[table]
	split := u.left > 0 && len(in.RequestItems) == 1 && len(reqs) > 1
	if split {
		u.left--
		u.sent += len(reqs) - len(reqs)/2
	}
	u.mu.Unlock()
	if !split {
		return u.DB.BatchWriteItem(ctx, in, opts...)
	}
	half := len(reqs) / 2
	first := &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{table: reqs[:half]}}
	out, err := u.DB.BatchWriteItem(ctx, first, opts...)
	if err != nil {
		return nil, err
	}
	if out.UnprocessedItems == nil {
		out.UnprocessedItems = map[string][]ddbtypes.WriteRequest{}
	}
	out.UnprocessedItems[table] = append(out.UnprocessedItems[table], reqs[half:]...)
	return out, nil
}
