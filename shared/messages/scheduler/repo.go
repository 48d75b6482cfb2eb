package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// repo is where the scheduler speaks DynamoDB: the Due index, the Due keys
// of sends and of contacts' segment states, and the watermark. Its errors are the store's mapped ones.
type repo struct{ s *store.Store }

// entry is one item of the Due index (KEYS_ONLY): the base item's key and
// its Due keys.
type entry struct {
	store.Key
	DuePK string `dynamodbav:"DuePK"`
	DueSK string `dynamodbav:"DueSK"`
}

// watermarkItem is the scheduler's global item: every Due bucket before
// Minute (a Unix minute) has been read.
type watermarkItem struct {
	store.Key
	Minute int64 `dynamodbav:"minute"`
}

// watermark reads the watermark minute; ok is false when there is none yet
// (the scheduler's first tick).
func (r repo) watermark(ctx context.Context) (minute int64, ok bool, err error) {
	var w watermarkItem
	err = r.s.GetConsistent(ctx, store.SchedulerWatermarkKey(), &w)
	if errors.Is(err, errs.ErrNotFound) {
		return 0, false, nil
	}
	return w.Minute, err == nil, err
}

// advance moves the watermark to minute, only forward: an overlapping tick
// that already moved it as far or further wins, and that is not an error.
func (r repo) advance(ctx context.Context, minute int64) error {
	_, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &r.s.Table,
		Key:                       store.SchedulerWatermarkKey().KeyAV(),
		UpdateExpression:          aws.String("SET #m = :m"),
		ConditionExpression:       aws.String("attribute_not_exists(#m) OR #m < :m"),
		ExpressionAttributeNames:  map[string]string{"#m": "minute"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":m": &types.AttributeValueMemberN{Value: strconv.FormatInt(minute, 10)}},
	})
	if err = store.MapErr(err); errors.Is(err, errs.ErrConflict) {
		return nil
	}
	return err
}

// bucket calls fn with the entries of one Due partition (one shard of one
// minute), a DynamoDB page at a time, in time order.
func (r repo) bucket(ctx context.Context, duePK string, fn func([]entry) error) error {
	pages := dynamodb.NewQueryPaginator(r.s.DB, &dynamodb.QueryInput{
		TableName:                 &r.s.Table,
		IndexName:                 aws.String(store.IndexDue),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": store.AttrDuePK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: duePK}},
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return store.MapErr(err)
		}
		if len(page.Items) == 0 {
			continue
		}
		var es []entry
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &es); err != nil {
			return fmt.Errorf("scheduler: decode due entries: %w", err)
		}
		if err := fn(es); err != nil {
			return err
		}
	}
	return nil
}

// dueItem is the base item of a due entry, read once: its type says
// whether it is a send or a contact's segment state, and decode reads it
// as that.
type dueItem struct {
	Type  string `dynamodbav:"type"`
	DueSK string `dynamodbav:"DueSK"`
	raw   map[string]types.AttributeValue
}

func (d dueItem) decode(out any) error {
	if err := attributevalue.UnmarshalMap(d.raw, out); err != nil {
		return fmt.Errorf("scheduler: decode a due %s: %w", d.Type, err)
	}
	return nil
}

// item reads the base item at k, consistently: the index may lag behind it.
func (r repo) item(ctx context.Context, k store.Key) (dueItem, error) {
	out, err := r.s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &r.s.Table, Key: k.KeyAV(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return dueItem{}, store.MapErr(err)
	}
	if out.Item == nil {
		return dueItem{}, errs.ErrNotFound
	}
	d := dueItem{raw: out.Item}
	return d, d.decode(&d)
}

// segmentStateType is the type attribute of a contact's segment evaluation
// state (store.ContactSegStateKey), which is due when a time window flips
// one of the contact's memberships. Read by its attribute names, so the
// scheduler links nothing of the segments group.
const segmentStateType = "segmentState"

// segmentState is the part of a contact's segment state the scheduler reads.
type segmentState struct {
	store.Key
	OrgID     string `dynamodbav:"orgId"`
	ContactID string `dynamodbav:"contactId"`
}

// webhookDeliveryType is the type attribute of a webhook delivery, due
// when its next attempt is later than SQS can delay. Read by its
// attribute names, so the scheduler links nothing of the webhooks group.
const webhookDeliveryType = "webhookDelivery"

// webhookDelivery is the part of a delivery the scheduler reads.
type webhookDelivery struct {
	store.Key
	OrgID     string     `dynamodbav:"orgId"`
	WebhookID string     `dynamodbav:"webhookId"`
	ID        string     `dynamodbav:"id"`
	Status    string     `dynamodbav:"status"`
	Attempts  []struct{} `dynamodbav:"attempts"`
}

// moveDue replaces the Due keys of the item at k with pk/sk (none when
// both are ""), only while its Due sort key is still seen: errs.ErrConflict
// when another tick, the API (a reschedule, a cancel) or the worker changed
// them since. It leaves Rev alone on purpose: the API's reschedule and
// cancel, which check Rev, must win over the scheduler's bookkeeping, and
// a job enqueued for a send rescheduled since is dropped by the worker's
// claim (sendAt not yet reached). enqueuedAt is set when at is not zero.
func (r repo) moveDue(ctx context.Context, k store.Key, seen, pk, sk string, at time.Time) error {
	names := map[string]string{"#pk": store.AttrDuePK, "#sk": store.AttrDueSK}
	vals := map[string]types.AttributeValue{":seen": &types.AttributeValueMemberS{Value: seen}}
	expr := "REMOVE #pk, #sk"
	if pk != "" {
		expr = "SET #pk = :pk, #sk = :sk"
		vals[":pk"] = &types.AttributeValueMemberS{Value: pk}
		vals[":sk"] = &types.AttributeValueMemberS{Value: sk}
		if !at.IsZero() {
			expr += ", #at = :at"
			names["#at"] = "enqueuedAt"
			vals[":at"] = &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)}
		}
	}
	_, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &r.s.Table,
		Key:                       k.KeyAV(),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("#sk = :seen"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	})
	return store.MapErr(err)
}

// Automation items, read by their attribute names so the scheduler links
// nothing of the automation group: an enrollment is due when its next step
// is (a wait's end, or the re-check of a step whose job was queued); a
// broadcast when its sendAt comes.
const (
	enrollmentType = "enrollment"
	broadcastType  = "broadcast"
)

// enrollment is the part of an enrollment the scheduler reads.
type enrollment struct {
	store.Key
	OrgID  string `dynamodbav:"orgId"`
	ID     string `dynamodbav:"id"`
	Status string `dynamodbav:"status"`
	Seq    int    `dynamodbav:"seq"`
	Held   bool   `dynamodbav:"held"`
}

// broadcast is the part of a broadcast the scheduler reads.
type broadcast struct {
	store.Key
	OrgID  string `dynamodbav:"orgId"`
	ID     string `dynamodbav:"id"`
	Status string `dynamodbav:"status"`
}

// startBroadcast moves a scheduled broadcast whose Due sort key is still
// seen to sending, from now: the stream turns that into its fan-out's first
// page job. errs.ErrConflict when it moved since (cancelled, or another tick).
func (r repo) startBroadcast(ctx context.Context, k store.Key, seen string, now time.Time) error {
	_, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &r.s.Table,
		Key:                      k.KeyAV(),
		UpdateExpression:         aws.String("SET #st = :sending, #at = :now, #up = :now, #rev = #rev + :one REMOVE #pk, #sk"),
		ConditionExpression:      aws.String("#sk = :seen AND #st = :scheduled"),
		ExpressionAttributeNames: map[string]string{"#st": "status", "#at": "startedAt", "#up": "updatedAt", "#rev": "rev", "#pk": store.AttrDuePK, "#sk": store.AttrDueSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sending":   &types.AttributeValueMemberS{Value: "sending"},
			":scheduled": &types.AttributeValueMemberS{Value: "scheduled"},
			":now":       &types.AttributeValueMemberS{Value: now.UTC().Format(time.RFC3339Nano)},
			":one":       &types.AttributeValueMemberN{Value: "1"},
			":seen":      &types.AttributeValueMemberS{Value: seen},
		},
	})
	return store.MapErr(err)
}
