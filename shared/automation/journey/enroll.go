package journey

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// Recheck is how long after a step is due the scheduler queues it again
// should its job be lost (a Due entry the next step's write moves on).
const Recheck = 15 * time.Minute

// EnrollRequest is one contact to enrol in an active sequence.
type EnrollRequest struct {
	Sequence  *Sequence
	Reentry   sequence.Reentry
	Entry     string // the definition's first step
	ContactID string
	Trigger   string // Enrollment.Trigger
	Data      string // a JSON object or ""
	// Key and At name what enrols (a domain event's id and time; a manual
	// call's own): the enrollment's id derives from them, so the same
	// trigger delivered twice makes one enrollment.
	Key string
	At  time.Time
}

// NotEnrolled is why a contact was not enrolled: it is in the sequence
// now, or its re-entry rule refuses (Existing is the enrollment in the way).
type NotEnrolled struct {
	Reason   string
	Existing string
}

func (e *NotEnrolled) Error() string { return "journey: not enrolled: " + e.Reason }

// Enroller enrols contacts, conditionally: of two triggers at once for one
// contact, one enrols (the entry guard's conditional write decides).
type Enroller struct {
	Store *store.Store
	Clock clock.Clock
}

// Enroll enrols the contact, or returns the enrollment an earlier delivery
// of the same trigger made (existed true), or a *NotEnrolled. Writes: the
// guard, the enrollment and one counter shard, in one transaction.
func (e *Enroller) Enroll(ctx context.Context, r EnrollRequest) (enr *Enrollment, existed bool, err error) {
	seq := r.Sequence
	id := ids.Derive(ids.Enrollment, r.At, seq.OrgID+"/"+seq.ID+"/"+seq.Generation+"/"+r.ContactID+"/"+r.Key)
	guardKey := store.SequenceEntryKey(seq.OrgID, r.ContactID, seq.ID, seq.Generation)
	for range 3 {
		now := e.Clock.Now().UTC()
		var guard Entry
		err := e.Store.GetConsistent(ctx, guardKey, &guard)
		switch {
		case errors.Is(err, errs.ErrNotFound):
			guard = Entry{}
		case err != nil:
			return nil, false, err
		}
		if guard.EnrollmentID == id {
			got, err := e.get(ctx, seq.OrgID, id)
			return got, err == nil, err
		}
		if guard.EnrollmentID != "" {
			if err := e.mayReenter(ctx, r, guard, now); err != nil {
				return nil, false, err
			}
		}
		enr := &Enrollment{OrgID: seq.OrgID, ID: id, SequenceID: seq.ID, Generation: seq.Generation, Version: seq.Version,
			ContactID: r.ContactID, Status: EnrActive, Trigger: r.Trigger, Data: r.Data, Step: r.Entry,
			History: []StepRecord{}, EnrolledAt: now, UpdatedAt: now}
		enr.SetKeys()
		recheck := now.Add(Recheck)
		enr.DuePK, enr.DueSK = store.DuePK(recheck, store.DueShard(id)), store.DueSK(recheck, id)
		err = e.Store.Transact(ctx, enrollOps(enr, guardKey, guard.EnrollmentID, now))
		var tc *store.TxCanceled
		switch {
		case err == nil:
			return enr, false, nil
		case errors.As(err, &tc) && tc.FailedAt(1):
			got, err := e.get(ctx, seq.OrgID, id)
			return got, err == nil, err
		case errors.As(err, &tc) && tc.FailedAt(0):
			continue // another trigger moved the guard: read it again
		default:
			return nil, false, err
		}
	}
	return nil, false, &NotEnrolled{Reason: "another trigger is enrolling the contact at the same moment"}
}

// mayReenter says whether the contact, whose guard names an earlier
// enrollment, may enter again now.
func (e *Enroller) mayReenter(ctx context.Context, r EnrollRequest, guard Entry, now time.Time) error {
	prev, err := e.get(ctx, r.Sequence.OrgID, guard.EnrollmentID)
	if err != nil && !errors.Is(err, errs.ErrNotFound) {
		return err
	}
	if prev != nil && prev.Status == EnrActive {
		return &NotEnrolled{Reason: "the contact is in the sequence now", Existing: guard.EnrollmentID}
	}
	switch r.Reentry.Mode {
	case sequence.ReentryAlways:
		return nil
	case sequence.ReentryAfter:
		if at := guard.EnteredAt.Add(r.Reentry.After); now.Before(at) {
			return &NotEnrolled{Reason: fmt.Sprintf("the sequence's reentry rule lets the contact enter again from %s", at.Format(time.RFC3339)),
				Existing: guard.EnrollmentID}
		}
		return nil
	}
	return &NotEnrolled{Reason: "the sequence's reentry rule is never, and the contact entered it before", Existing: guard.EnrollmentID}
}

func (e *Enroller) get(ctx context.Context, orgID, id string) (*Enrollment, error) {
	var enr Enrollment
	if err := e.Store.GetConsistent(ctx, store.EnrollmentKey(orgID, id), &enr); err != nil {
		return nil, err
	}
	return &enr, nil
}

// enrollOps are the guard (conditional on the enrollment it named: none, or
// prev), the new enrollment, and the counters of one shard.
func enrollOps(enr *Enrollment, guardKey store.Key, prev string, now time.Time) []types.TransactWriteItem {
	guard := Entry{Key: guardKey, Type: EntryType, EnrollmentID: enr.ID, EnteredAt: now}
	gav, _ := store.Marshal(guard)
	eav, _ := store.Marshal(enr)
	put := &types.Put{Item: gav, ConditionExpression: aws.String("attribute_not_exists(PK)")}
	if prev != "" {
		put.ConditionExpression = aws.String("enrollmentId = :prev")
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":prev": &types.AttributeValueMemberS{Value: prev}}
	}
	return []types.TransactWriteItem{
		{Put: put},
		{Put: &types.Put{Item: eav, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		CountOp(enr.OrgID, enr.SequenceID, enr.ID, map[string]int{StatEnrolled: 1, StatActive: 1}),
	}
}

// CountOp adds the deltas to the counters of the sequence's shard of the
// enrollment.
func CountOp(orgID, sequenceID, enrollmentID string, deltas map[string]int) types.TransactWriteItem {
	k := store.SequenceStatsKey(orgID, sequenceID, StatsShard(enrollmentID))
	names := map[string]string{"#t": "type"}
	vals := map[string]types.AttributeValue{":t": &types.AttributeValueMemberS{Value: SequenceStatType}}
	expr := ""
	i := 0
	for name, d := range deltas {
		n, v := "#c"+strconv.Itoa(i), ":c"+strconv.Itoa(i)
		names[n], vals[v] = name, &types.AttributeValueMemberN{Value: strconv.Itoa(d)}
		if expr != "" {
			expr += ", "
		}
		expr += n + " " + v
		i++
	}
	return types.TransactWriteItem{Update: &types.Update{Key: k.KeyAV(), UpdateExpression: aws.String("SET #t = :t ADD " + expr),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals}}
}

func itoa(n int) string { return strconv.Itoa(n) }
