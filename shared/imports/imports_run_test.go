package imports

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// A second upload to the same URL while an import runs fails the import
// with a reason, instead of importing the rest of the second file after the
// first one's rows: every read after the counting pass asks for the object
// it counted. It holds whether the upload is replaced during the counting
// pass or between batches.
func TestImportOfAReplacedFileFailsInsteadOfSplicing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stride    int // rows counted between deadline checks
		processed int // rows imported when the file is replaced
	}{
		{"between batches", countStride, 100},
		{"while counting", 50, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.svc.countStride = tc.stride
			ctx := t.Context()
			id := f.newImport(rows("email,firstName", "first", 150))

			// Stop at the first checkpoint, as a worker out of time does.
			require.ErrorIs(t, f.svc.Run(ctx, f.orgID, id, t0.Add(-time.Second)), ErrUnfinished)
			require.Equal(t, tc.processed, f.get(id).Processed)

			f.upload(id, rows("email,firstName", "second", 150))
			require.NoError(t, f.svc.Run(ctx, f.orgID, id, time.Time{}), "the notice of the second upload, or the continuation")

			got := f.get(id)
			assert.Equal(t, StatusFailed, got.Status)
			require.NotNil(t, got.FailureReason)
			assert.Equal(t, ReasonReplaced, *got.FailureReason)
			assert.Equal(t, tc.processed, got.Processed, "nothing after the checkpoint was imported")
			n, lookups := f.contactCount()
			assert.Equal(t, tc.processed, n)
			assert.Equal(t, tc.processed, lookups)
			assert.Nil(t, f.contact("second0@example.com"), "no row of the second file")
			assert.Nil(t, f.contact("second120@example.com"), "no row of the second file")

			reads := f.reads.inputs()
			require.GreaterOrEqual(t, len(reads), 2)
			assert.Nil(t, reads[0].IfMatch, "the first read takes whatever was uploaded")
			for _, in := range reads[1:] {
				assert.Equal(t, f.reads.etags[0], aws.ToString(in.IfMatch), "every later read asks for the object counted")
			}

			// Failed once: the next notice leaves it as it is.
			require.NoError(t, f.svc.Run(ctx, f.orgID, id, time.Time{}))
			assert.Equal(t, got.Version, f.get(id).Version)
		})
	}
}

// In a bucket that keeps versions, the import reads the version it counted
// to the end, whatever is uploaded over it meanwhile.
func TestImportReadsTheVersionItCounted(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	_, err := f.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &f.deps.Config.ImportsBucket,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	require.NoError(t, err)
	id := f.newImport(rows("email,firstName", "first", 150))
	require.ErrorIs(t, f.svc.Run(ctx, f.orgID, id, t0.Add(-time.Second)), ErrUnfinished)
	counted := f.get(id)
	require.NotEmpty(t, counted.VersionID)

	f.upload(id, rows("email,firstName", "second", 150))
	require.NoError(t, f.svc.Run(ctx, f.orgID, id, time.Time{}))

	got := f.get(id)
	assert.Equal(t, StatusCompleted, got.Status)
	assert.Equal(t, 150, got.Created)
	assert.NotNil(t, f.contact("first149@example.com"))
	assert.Nil(t, f.contact("second149@example.com"))
	for _, in := range f.reads.inputs()[1:] {
		assert.Equal(t, counted.VersionID, aws.ToString(in.VersionId))
	}
}

// The counting pass stops at its deadline and leaves a checkpoint (offset
// and count so far); the next invocation counts on from there, not from the
// start, and the import then runs with the exact total.
func TestImportCountingPassHonoursTheDeadline(t *testing.T) {
	f := newFixture(t)
	f.svc.countStride = 10
	ctx := t.Context()
	id := f.newImport(rows("email,firstName", "row", 35))
	past := t0.Add(-time.Second)

	var offsets []int64
	for want := 10; want <= 30; want += 10 {
		require.ErrorIs(t, f.svc.Run(ctx, f.orgID, id, past), ErrUnfinished, "counted %d rows, then stopped", want)
		it := f.get(id)
		assert.Equal(t, StatusPending, it.Status)
		assert.Equal(t, want, it.Counted)
		assert.Zero(t, it.Total, "no total until every row is counted")
		assert.Zero(t, it.Processed)
		offsets = append(offsets, it.CountOffset)
	}
	assert.Less(t, offsets[0], offsets[1])
	assert.Less(t, offsets[1], offsets[2])

	reads := f.reads.inputs()
	require.Len(t, reads, 3)
	assert.Nil(t, reads[0].Range)
	assert.Equal(t, fmt.Sprintf("bytes=%d-", offsets[0]), aws.ToString(reads[1].Range), "counting resumes at its checkpoint")
	assert.Equal(t, fmt.Sprintf("bytes=%d-", offsets[1]), aws.ToString(reads[2].Range))

	require.NoError(t, f.svc.Run(ctx, f.orgID, id, past), "counts the last 5 rows, then imports the one batch")
	got := f.get(id)
	assert.Equal(t, StatusCompleted, got.Status)
	assert.Equal(t, 35, got.Total)
	assert.Equal(t, 35, got.Created)
	n, _ := f.contactCount()
	assert.Equal(t, 35, n)
}

// An import whose checkpoint is the end of the file (the worker stopped, or
// died, right after the last batch's checkpoint) completes on the next
// message instead of asking S3 for an empty range, which S3 refuses (416).
func TestImportResumedAtTheEndOfTheFileCompletes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		forgetSize  bool // an import checkpointed before sizes were recorded: S3 answers 416
		wantOneRead bool
	}{
		{"size known", false, true},
		{"size unknown", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := t.Context()
			id := f.newImport(rows("email,firstName", "row", 100)) // exactly one batch
			require.ErrorIs(t, f.svc.Run(ctx, f.orgID, id, t0.Add(-time.Second)), ErrUnfinished)
			at := f.get(id)
			require.Equal(t, StatusRunning, at.Status)
			require.Equal(t, at.Size, at.Offset, "checkpointed at the end of the file")
			if tc.forgetSize {
				at.Size, at.ETag = 0, ""
				require.NoError(t, f.env.Store.Put(ctx, at))
			}
			readsBefore := len(f.reads.inputs())

			require.NoError(t, f.svc.Run(ctx, f.orgID, id, time.Time{}))
			got := f.get(id)
			assert.Equal(t, StatusCompleted, got.Status)
			assert.Equal(t, 100, got.Processed)
			assert.Equal(t, 100, got.Created)
			assert.Zero(t, got.Failed)
			if tc.wantOneRead {
				assert.Equal(t, readsBefore, len(f.reads.inputs()), "nothing left to read: no request to S3")
			}
		})
	}
}

// Batch writes that DynamoDB throttles (past the SDK's retries) or leaves
// partly unprocessed neither lose nor double-count a row: a batch the store
// failed stops the run before its checkpoint and is redone from it, and
// the final counts and contacts are exact.
func TestImportThrottledBatchWritesLoseAndDoubleCountNothing(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	existing := f.newContact("row7@example.com")
	var sb strings.Builder
	sb.WriteString("email,firstName,tags\n") // tag entries are batch writes
	for i := range 250 {
		if i == 120 || i == 230 {
			sb.WriteString("broken,x,customer\n")
			continue
		}
		fmt.Fprintf(&sb, "row%d@example.com,R%d,customer\n", i, i)
	}
	id := f.newImport(sb.String())
	require.ErrorIs(t, f.svc.Run(ctx, f.orgID, id, t0.Add(-time.Second)), ErrUnfinished)
	require.Equal(t, 100, f.get(id).Processed)

	// The second batch: its first BatchWriteItem (of tag entries) goes
	// through, the second is throttled past the SDK's three attempts.
	const op = "DynamoDB.BatchWriteItem"
	for n := 2; n <= 4; n++ {
		f.faults.FailNth(op, n, awsx.ProvisionedThroughputExceeded)
	}
	err := f.svc.Run(ctx, f.orgID, id, time.Time{})
	require.Equal(t, 3, f.faults.Fired(op), "the batch's writes were throttled")
	require.Error(t, err)
	assert.True(t, errs.Retryable(err), "a store failure, not a bad row: %v", err)
	assert.True(t, busy(err))
	stopped := f.get(id)
	assert.Equal(t, 100, stopped.Processed, "the throttled batch is not counted")
	assert.Zero(t, stopped.Failed, "nor are its rows failed")
	assert.Empty(t, stopped.Errors)

	// The redo, with DynamoDB leaving half of several batch writes unprocessed.
	f.db.leaveUnprocessed(4)
	require.NoError(t, f.svc.Run(ctx, f.orgID, id, time.Time{}))
	assert.Positive(t, f.db.unprocessed(), "some items were left unprocessed and written again")

	got := f.get(id)
	assert.Equal(t, StatusCompleted, got.Status)
	assert.Equal(t, 250, got.Total)
	assert.Equal(t, 250, got.Processed)
	assert.Equal(t, 247, got.Created)
	assert.Equal(t, 1, got.Updated, "row7 existed")
	assert.Equal(t, 2, got.Failed)
	require.Len(t, got.Errors, 2)
	assert.Equal(t, 122, got.Errors[0].Line)
	assert.Equal(t, 232, got.Errors[1].Line, "lines count on across the batches of one run")
	n, lookups := f.contactCount()
	assert.Equal(t, 248, n, "every good row is one contact")
	assert.Equal(t, 248, lookups, "and one email lookup")
	tagged := 0
	require.NoError(t, f.env.Store.QueryKeys(ctx, store.ContactTagPK(f.orgID, "customer"), "", func(k []store.Key) error {
		tagged += len(k)
		return nil
	}))
	assert.Equal(t, 248, tagged, "every contact's tag entry, including those first left unprocessed")
	for _, i := range []int{0, 99, 100, 124, 125, 150, 199, 200, 229, 231, 249} {
		c := f.contact(fmt.Sprintf("row%d@example.com", i))
		if assert.NotNil(t, c, "row%d", i) {
			assert.Equal(t, fmt.Sprintf("R%d", i), aws.ToString(c.FirstName))
		}
	}
	assert.Equal(t, existing, f.contact("row7@example.com").ID, "updated, not duplicated")
}

// newContact creates a contact through the service and returns its id.
func (f *fixture) newContact(email string) string {
	f.t.Helper()
	in := contacts.Input{Email: email}
	require.NoError(f.t, in.Validate())
	res := f.contacts.Upsert(f.t.Context(), f.orgID, []contacts.UpsertItem{{Input: in}})
	require.NoError(f.t, res[0].Err)
	return res[0].Contact.ID
}
