package journey

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/store"
)

// ErrMoved is a transition whose enrollment is no longer at the step number
// it was read at: another delivery, the event or the timeout of a wait, or
// an exit took that step first. Nothing was written.
var ErrMoved = errors.New("journey: the enrollment moved on")

// Transition is what one step does to an enrollment.
type Transition struct {
	Record StepRecord // appended to the history (Seq, Version filled in by Advance)
	// Status is the enrollment's new status (EnrActive to go on); Reason
	// why it exited or failed.
	Status, Reason string
	// Step is the step to run next ("" once finished).
	Step string
	// Version, when not 0, moves the enrollment to that version (a migration).
	Version int
	// Due is when the next step is due (zero once finished): the Due keys
	// are set to it, or to it plus Recheck when Queued says the runner
	// queues the step's job itself.
	Due    time.Time
	Queued bool
	// A wait's end and its event, while it runs.
	WakeAt    *time.Time
	WaitEvent string
	Held      bool
	// Counters to add in the sequence's counter shard of the enrollment
	// (the finishing ones are added by Advance).
	Counters map[string]int
}

// Advance writes one step's transition, conditional on the enrollment still
// being at enr.Seq, with its counters: two writes in one transaction. On
// success enr holds the new state. ErrMoved when another took the step.
func Advance(ctx context.Context, st *store.Store, enr *Enrollment, tr Transition, now time.Time) error {
	next := *enr
	rec := tr.Record
	rec.Seq, rec.At = enr.Seq, now
	if rec.Version == 0 {
		rec.Version = enr.Version
	}
	next.History = append(append([]StepRecord(nil), enr.History...), rec)
	if over := len(next.History) - MaxHistory; over > 0 {
		next.History = next.History[over:]
	}
	next.Steps++
	next.Seq++
	next.Step = tr.Step
	next.Status = tr.Status
	next.Reason = tr.Reason
	if tr.Version != 0 {
		next.Version = tr.Version
	}
	next.WakeAt, next.WaitEvent, next.Held = tr.WakeAt, tr.WaitEvent, tr.Held
	next.UpdatedAt = now
	counters := map[string]int{}
	for k, v := range tr.Counters {
		counters[k] += v
	}
	if next.Status != EnrActive {
		next.Step, next.WakeAt, next.WaitEvent, next.Held = "", nil, "", false
		at := now
		next.FinishedAt = &at
		counters[StatActive]--
		switch next.Status {
		case EnrCompleted:
			counters[StatCompleted]++
		case EnrExited:
			counters[StatExited]++
		case EnrFailed:
			counters[StatFailed]++
		}
	}
	next.SetKeys()
	next.DuePK, next.DueSK = "", ""
	if next.Status == EnrActive && !next.Held && !tr.Due.IsZero() {
		due := tr.Due
		if tr.Queued {
			due = due.Add(Recheck)
		}
		next.DuePK, next.DueSK = store.DuePK(due, store.DueShard(next.ID)), store.DueSK(due, next.ID)
	}
	av, err := store.Marshal(&next)
	if err != nil {
		return err
	}
	ops := []types.TransactWriteItem{{Put: &types.Put{Item: av, ConditionExpression: aws.String("#seq = :seq AND #st = :active"),
		ExpressionAttributeNames: map[string]string{"#seq": "seq", "#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":seq":    &types.AttributeValueMemberN{Value: itoa(enr.Seq)},
			":active": &types.AttributeValueMemberS{Value: EnrActive},
		}}}}
	if len(counters) > 0 {
		ops = append(ops, CountOp(enr.OrgID, enr.SequenceID, enr.ID, counters))
	}
	err = st.Transact(ctx, ops)
	var tc *store.TxCanceled
	if errors.As(err, &tc) && tc.FailedAt(0) {
		return ErrMoved
	}
	if err != nil {
		// A TransactionConflict that outlasted Transact's retries wrote
		// nothing and moved nothing: the caller's message is retried.
		return err
	}
	*enr = next
	return nil
}
