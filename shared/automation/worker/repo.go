package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
)

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// definition is version n of a sequence, parsed (cached: versions never
// change). nil when the version is gone or does not parse (logged).
func (w *Worker) definition(ctx context.Context, orgID, sequenceID string, n int) (*sequence.Definition, error) {
	key := orgID + "/" + sequenceID + "/" + strconv.Itoa(n)
	w.mu.Lock()
	def, ok := w.defs[key]
	w.mu.Unlock()
	if ok {
		return def, nil
	}
	var v journey.Version
	err := w.st.GetConsistent(ctx, store.SequenceVersionKey(orgID, sequenceID, n), &v)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	def, err = sequence.Parse(json.RawMessage(v.Definition))
	if err != nil {
		slog.ErrorContext(ctx, "sequence worker: a stored version does not parse", "orgId", orgID, "sequenceId", sequenceID,
			"version", n, "error", err.Error())
		def = nil
	}
	w.mu.Lock()
	w.defs[key] = def
	w.mu.Unlock()
	return def, nil
}

// PlanTTL is how long the worker trusts an organisation's plan it read.
const PlanTTL = time.Minute

type cachedPlan struct {
	name  string
	until time.Time
}

// withPlan carries the tenant's plan in ctx, as an API request does, so a
// step's send counts against its quota (one GetItem per PlanTTL).
func (w *Worker) withPlan(ctx context.Context, orgID string) (context.Context, error) {
	now := w.clock.Now()
	w.mu.Lock()
	p, ok := w.plans[orgID]
	w.mu.Unlock()
	if !ok || !now.Before(p.until) {
		var org struct {
			Plan string `dynamodbav:"plan"`
		}
		if err := w.st.Get(ctx, store.OrgKey(orgID), &org); err != nil && !errors.Is(err, errs.ErrNotFound) {
			return nil, err
		}
		p = cachedPlan{name: org.Plan, until: now.Add(PlanTTL)}
		w.mu.Lock()
		w.plans[orgID] = p
		w.mu.Unlock()
	}
	return tenant.With(ctx, &tenant.Principal{OrgID: orgID, Plan: p.name}), nil
}

// triggers reads the tenant's active sequences' triggers (one Query).
func (w *Worker) triggers(ctx context.Context, orgID string) ([]journey.Trigger, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &w.st.Table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(store.SequenceTriggersPK(orgID))},
	}
	var out []journey.Trigger
	pages := dynamodb.NewQueryPaginator(w.st.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, store.MapErr(err)
		}
		var items []journey.Trigger
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return nil, fmt.Errorf("sequence worker: decode triggers: %w", err)
		}
		out = append(out, items...)
	}
	return out, nil
}

// activeEnrollments reads the contact's active enrollments (GSI3).
func (w *Worker) activeEnrollments(ctx context.Context, orgID, contactID string) ([]journey.Enrollment, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &w.st.Table,
		IndexName:                 aws.String(store.IndexGSI3),
		KeyConditionExpression:    aws.String("GSI3PK = :pk"),
		FilterExpression:          aws.String("#st = :active"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(store.ContactEnrollmentsPK(orgID, contactID)), ":active": str(journey.EnrActive)},
	}
	var out []journey.Enrollment
	pages := dynamodb.NewQueryPaginator(w.st.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, store.MapErr(err)
		}
		var items []journey.Enrollment
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return nil, fmt.Errorf("sequence worker: decode enrollments: %w", err)
		}
		out = append(out, items...)
	}
	return out, nil
}

// enrollment reads an enrollment, strongly consistent; nil when gone.
func (w *Worker) enrollment(ctx context.Context, orgID, id string) (*journey.Enrollment, error) {
	var enr journey.Enrollment
	err := w.st.GetConsistent(ctx, store.EnrollmentKey(orgID, id), &enr)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &enr, nil
}

// sequence reads a sequence's item, strongly consistent (a pause holds the
// next step); nil when gone.
func (w *Worker) sequence(ctx context.Context, orgID, id string) (*journey.Sequence, error) {
	var s journey.Sequence
	err := w.st.GetConsistent(ctx, store.SequenceKey(orgID, id), &s)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// hold marks an enrollment held by its paused sequence, without taking a
// step: it joins the sequence's held list (GSI4) and leaves the Due index
// (a resume queues it again). Conditional on the enrollment still being at
// its step; one UpdateItem.
func (w *Worker) hold(ctx context.Context, enr *journey.Enrollment) error {
	held := *enr
	held.Held = true
	held.SetKeys()
	_, err := w.st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &w.st.Table,
		Key:                      held.Key.KeyAV(),
		UpdateExpression:         aws.String("SET held = :t, GSI4PK = :pk, GSI4SK = :sk REMOVE DuePK, DueSK"),
		ConditionExpression:      aws.String("#seq = :seq AND #st = :active"),
		ExpressionAttributeNames: map[string]string{"#seq": "seq", "#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": &types.AttributeValueMemberBOOL{Value: true}, ":pk": str(held.GSI4PK), ":sk": str(held.GSI4SK),
			":seq": &types.AttributeValueMemberN{Value: strconv.Itoa(enr.Seq)}, ":active": str(journey.EnrActive),
		},
	})
	if errors.As(err, new(*types.ConditionalCheckFailedException)) {
		return nil // it moved on meanwhile
	}
	return store.MapErr(err)
}

// resume queues a step job for each enrollment a paused sequence held
// (GSI4); the step's Advance clears the hold.
func (w *Worker) resume(ctx context.Context, job journey.ResumeJob) error {
	in := &dynamodb.QueryInput{
		TableName:                 &w.st.Table,
		IndexName:                 aws.String(store.IndexGSI4),
		KeyConditionExpression:    aws.String("GSI4PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(store.SequenceHeldPK(job.OrgID, job.SequenceID))},
		ProjectionExpression:      aws.String("id, #seq"),
		ExpressionAttributeNames:  map[string]string{"#seq": "seq"},
	}
	pages := dynamodb.NewQueryPaginator(w.st.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return store.MapErr(err)
		}
		var held []struct {
			ID  string `dynamodbav:"id"`
			Seq int    `dynamodbav:"seq"`
		}
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &held); err != nil {
			return fmt.Errorf("sequence worker: decode held enrollments: %w", err)
		}
		jobs := make([]journey.StepJob, 0, len(held))
		for _, h := range held {
			jobs = append(jobs, journey.StepJob{OrgID: job.OrgID, EnrollmentID: h.ID, Seq: h.Seq})
		}
		if err := w.queueSteps(ctx, jobs); err != nil {
			return err
		}
	}
	return nil
}

// queueStep queues a step job, delivered after delay (at most MaxDelay;
// rounded up to a whole second: never early).
func (w *Worker) queueStep(ctx context.Context, job journey.StepJob, delay time.Duration) error {
	body, err := json.Marshal(journey.Job{Step: &job})
	if err != nil {
		return err
	}
	_, err = w.q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &w.queueURL, MessageBody: aws.String(string(body)),
		DelaySeconds: delaySeconds(delay)})
	return err
}

// delaySeconds is d in whole seconds, rounded up, within SQS's bounds.
func delaySeconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	s := (d + time.Second - 1) / time.Second
	return int32(min(s, MaxDelay/time.Second))
}

// queueSteps queues step jobs to run now, ten per call.
func (w *Worker) queueSteps(ctx context.Context, jobs []journey.StepJob) error {
	for _, chunk := range store.Chunks(jobs, 10) {
		entries := make([]sqstypes.SendMessageBatchRequestEntry, 0, len(chunk))
		for i, j := range chunk {
			body, err := json.Marshal(journey.Job{Step: &j})
			if err != nil {
				return err
			}
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body))})
		}
		out, err := w.q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &w.queueURL, Entries: entries})
		if err != nil {
			return err
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("sequence worker: %d of %d step jobs not queued: %s", len(out.Failed), len(entries), aws.ToString(out.Failed[0].Message))
		}
	}
	return nil
}
