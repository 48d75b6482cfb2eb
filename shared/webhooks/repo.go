package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/oklog/ulid/v2"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// errLimit: the organisation has as many endpoints as its plan allows.
var errLimit = errors.New("webhooks: endpoint limit")

// repo is where the webhooks group speaks DynamoDB. Its errors are the
// store's mapped ones (errs.ErrNotFound, errs.ErrConflict, *errs.Unavailable).
type repo struct{ s *store.Store }

// bump is the version item's update: count moves by delta (the plan's
// limit checked when it grows), and the version by one, so a cache of the
// endpoints knows it is stale.
func bump(orgID string, delta, max int) types.TransactWriteItem {
	u := &types.Update{
		Key:                       store.WebhooksVersionKey(orgID).KeyAV(),
		UpdateExpression:          aws.String("ADD #n :d, #v :one"),
		ExpressionAttributeNames:  map[string]string{"#n": "count", "#v": "version"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": num(delta), ":one": num(1)},
	}
	if delta > 0 {
		u.ConditionExpression = aws.String("attribute_not_exists(#n) OR #n < :max")
		u.ExpressionAttributeValues[":max"] = num(max)
	}
	return types.TransactWriteItem{Update: u}
}

// create writes an endpoint, if the organisation has fewer than max.
func (r repo) create(ctx context.Context, it endpointItem, max int) error {
	av, err := store.Marshal(it)
	if err != nil {
		return err
	}
	err = r.s.Transact(ctx, []types.TransactWriteItem{
		bump(it.OrgID, 1, max),
		{Put: &types.Put{Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	})
	var tc *store.TxCanceled
	if errors.As(err, &tc) && tc.FailedAt(0) {
		return errLimit
	}
	return err
}

// replace writes an endpoint's new state over the one read (updatedAt is
// the optimistic lock).
func (r repo) replace(ctx context.Context, old, it endpointItem) error {
	av, err := store.Marshal(it)
	if err != nil {
		return err
	}
	return r.s.Transact(ctx, []types.TransactWriteItem{
		bump(it.OrgID, 0, 0),
		{Put: &types.Put{Item: av, ConditionExpression: aws.String("updatedAt = :read"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":read": &types.AttributeValueMemberS{Value: stamp(old)}}}},
	})
}

// remove deletes an endpoint; its deliveries expire with their TTL.
func (r repo) remove(ctx context.Context, orgID, id string) error {
	err := r.s.Transact(ctx, []types.TransactWriteItem{
		bump(orgID, -1, 0),
		{Delete: &types.Delete{Key: store.WebhookKey(orgID, id).KeyAV(), ConditionExpression: aws.String("attribute_exists(PK)")}},
	})
	var tc *store.TxCanceled
	if errors.As(err, &tc) && tc.FailedAt(1) {
		return errs.ErrNotFound
	}
	return err
}

func (r repo) get(ctx context.Context, orgID, id string) (endpointItem, error) {
	var it endpointItem
	err := r.s.Get(ctx, store.WebhookKey(orgID, id), &it)
	return it, err
}

// list reads one page of the organisation's endpoints, oldest first.
func (r repo) list(ctx context.Context, orgID string, limit int, start map[string]string) ([]endpointItem, map[string]string, error) {
	page, err := r.s.QueryPage(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.OrgPK(orgID)},
			":sk": &types.AttributeValueMemberS{Value: store.WebhookPrefix()},
		},
	}, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	items := make([]endpointItem, 0, len(page.Items))
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("webhooks: decode endpoints: %w", err)
	}
	return items, page.Next, nil
}

// putDelivery writes a new delivery; the same id twice is errs.ErrConflict.
func (r repo) putDelivery(ctx context.Context, it deliveryItem) error {
	return r.s.PutNew(ctx, it)
}

// putFreshDelivery writes a delivery whose id was just made (ids.New): no
// other writer can have it, so the write is unconditional, and the SDK's
// retry of a write whose answer was lost is not taken for a conflict.
func (r repo) putFreshDelivery(ctx context.Context, it deliveryItem) error {
	return r.s.Put(ctx, it)
}

func (r repo) delivery(ctx context.Context, orgID, webhookID, id string) (deliveryItem, error) {
	var it deliveryItem
	err := r.s.Get(ctx, store.WebhookDeliveryKey(orgID, webhookID, id), &it)
	return it, err
}

// deliveries reads one page of an endpoint's deliveries, newest first,
// optionally of one status and one event type (a filter: each page reads
// up to limit deliveries, and may show fewer).
func (r repo) deliveries(ctx context.Context, orgID, webhookID, status, eventType string, limit int, start map[string]string) ([]deliveryItem, map[string]string, error) {
	in := &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.WebhookDeliveriesPK(orgID, webhookID)},
			":sk": &types.AttributeValueMemberS{Value: store.WebhookDeliveryPrefix()},
		},
		ScanIndexForward: aws.Bool(false),
	}
	var filters []string
	if status != "" {
		filters = append(filters, "#st = :st")
		in.ExpressionAttributeValues[":st"] = &types.AttributeValueMemberS{Value: status}
	}
	if eventType != "" {
		filters = append(filters, "eventType = :et")
		in.ExpressionAttributeValues[":et"] = &types.AttributeValueMemberS{Value: eventType}
	}
	if len(filters) > 0 {
		expr := filters[0]
		if len(filters) == 2 {
			expr += " AND " + filters[1]
		}
		in.FilterExpression = aws.String(expr)
		if status != "" {
			in.ExpressionAttributeNames = map[string]string{"#st": "status"}
		}
	}
	page, err := r.s.QueryPage(ctx, in, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	items := make([]deliveryItem, 0, len(page.Items))
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("webhooks: decode deliveries: %w", err)
	}
	return items, page.Next, nil
}

func num(n int) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
}

// stamp is an endpoint's updatedAt as stored (attributevalue writes times
// as RFC 3339 with nanoseconds).
func stamp(it endpointItem) string { return it.UpdatedAt.UTC().Format(time.RFC3339Nano) }

// recordAttempt appends attempt a to delivery d, once: conditioned on d
// having a.N-1 attempts and being pending, so a copy of the job recording
// the same attempt gets errs.ErrConflict. next is when the next attempt
// runs (nil: none); one later than SQS can delay puts the delivery in the
// Due index for the scheduler, and one within it puts it there 15 minutes
// after, so a job lost between this write and the queue is queued anyway
// (the next attempt's write replaces those keys; a copy finds it made).
func (r repo) recordAttempt(ctx context.Context, d deliveryItem, a Attempt, status string, next *time.Time) error {
	av, err := attributevalue.Marshal([]Attempt{a})
	if err != nil {
		return fmt.Errorf("webhooks: encode attempt: %w", err)
	}
	names := map[string]string{"#a": "attempts", "#st": "status", "#u": "updatedAt", "#n": "nextAttemptAt", "#dp": store.AttrDuePK, "#ds": store.AttrDueSK}
	vals := map[string]types.AttributeValue{
		":a":       av,
		":st":      &types.AttributeValueMemberS{Value: status},
		":u":       &types.AttributeValueMemberS{Value: a.At.UTC().Format(time.RFC3339Nano)},
		":prev":    num(a.N - 1),
		":pending": &types.AttributeValueMemberS{Value: DeliveryPending},
	}
	set := "SET #a = list_append(#a, :a), #st = :st, #u = :u"
	remove := []string{}
	switch {
	case next == nil:
		remove = append(remove, "#n", "#dp", "#ds")
	case next.Sub(a.At) > MaxSQSDelay:
		set += ", #n = :n, #dp = :dp, #ds = :ds"
		vals[":n"] = &types.AttributeValueMemberS{Value: next.UTC().Format(time.RFC3339Nano)}
		vals[":dp"] = &types.AttributeValueMemberS{Value: store.DuePK(*next, store.DueShard(d.ID))}
		vals[":ds"] = &types.AttributeValueMemberS{Value: store.DueSK(*next, d.ID)}
	default: // an SQS delay; the Due keys, a re-check after it, catch a job lost before it was queued
		recheck := next.Add(MaxSQSDelay)
		set += ", #n = :n, #dp = :dp, #ds = :ds"
		vals[":n"] = &types.AttributeValueMemberS{Value: next.UTC().Format(time.RFC3339Nano)}
		vals[":dp"] = &types.AttributeValueMemberS{Value: store.DuePK(recheck, store.DueShard(d.ID))}
		vals[":ds"] = &types.AttributeValueMemberS{Value: store.DueSK(recheck, d.ID)}
	}
	expr := set
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	_, err = r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &r.s.Table,
		Key:                       d.Key.KeyAV(),
		UpdateExpression:          &expr,
		ConditionExpression:       aws.String("size(#a) = :prev AND #st = :pending"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	})
	return store.MapErr(err)
}

// clearFailures resets an endpoint's failure count after a success.
func (r repo) clearFailures(ctx context.Context, orgID, id string) error {
	_, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &r.s.Table,
		Key:                 store.WebhookKey(orgID, id).KeyAV(),
		UpdateExpression:    aws.String("REMOVE failures, failingSince"),
		ConditionExpression: aws.String("attribute_exists(PK)"),
	})
	if err = store.MapErr(err); errors.Is(err, errs.ErrConflict) {
		return nil // deleted meanwhile
	}
	return err
}

// countFailure counts a failed attempt against an endpoint; a reason
// disables it, and moves the endpoints' version so fan-outs stop at once.
func (r repo) countFailure(ctx context.Context, orgID, id string, at time.Time, reason string) error {
	stamp := &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)}
	in := &dynamodb.UpdateItemInput{
		TableName:                 &r.s.Table,
		Key:                       store.WebhookKey(orgID, id).KeyAV(),
		UpdateExpression:          aws.String("ADD failures :one SET failingSince = if_not_exists(failingSince, :at)"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":at": stamp},
	}
	if reason == "" {
		_, err := r.s.DB.UpdateItem(ctx, in)
		if err = store.MapErr(err); errors.Is(err, errs.ErrConflict) {
			return nil
		}
		return err
	}
	in.UpdateExpression = aws.String("ADD failures :one SET failingSince = if_not_exists(failingSince, :at), #st = :off, disabledReason = :why, disabledAt = :at")
	in.ExpressionAttributeNames = map[string]string{"#st": "status"}
	in.ExpressionAttributeValues[":off"] = &types.AttributeValueMemberS{Value: StatusDisabled}
	in.ExpressionAttributeValues[":why"] = &types.AttributeValueMemberS{Value: reason}
	u := *in
	err := r.s.Transact(ctx, []types.TransactWriteItem{
		{Update: &types.Update{Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
			ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues}},
		bump(orgID, 0, 0),
	})
	var tc *store.TxCanceled
	if errors.As(err, &tc) && tc.FailedAt(0) {
		return nil // deleted meanwhile
	}
	return err
}

// deliveriesBetween reads one page of an endpoint's deliveries whose
// events happened in [since, until], oldest first (delivery ids are ULIDs
// of their event's time).
func (r repo) deliveriesBetween(ctx context.Context, orgID, webhookID string, since, until time.Time, limit int, start map[string]string) ([]deliveryItem, map[string]string, error) {
	lo, hi := ulidBound(since, 0), ulidBound(until, 0xff)
	page, err := r.s.QueryPage(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.WebhookDeliveriesPK(orgID, webhookID)},
			":lo": &types.AttributeValueMemberS{Value: store.WebhookDeliveryPrefix() + lo},
			":hi": &types.AttributeValueMemberS{Value: store.WebhookDeliveryPrefix() + hi},
		},
	}, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	items := make([]deliveryItem, 0, len(page.Items))
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("webhooks: decode deliveries: %w", err)
	}
	return items, page.Next, nil
}

// ulidBound is the delivery id bounding a time: the smallest (fill 0) or
// largest (fill 0xff) ULID of its millisecond.
func ulidBound(t time.Time, fill byte) string {
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(t))
	entropy := make([]byte, 10)
	for i := range entropy {
		entropy[i] = fill
	}
	_ = u.SetEntropy(entropy)
	return ids.Delivery + "_" + u.String()
}
