// Package store is the single-table DynamoDB access layer: typed keys, item
// helpers and the mapping of DynamoDB failures to domain errors. Services
// build no DynamoDB inputs by hand for what these helpers cover.
//
// Every error a Store method returns has gone through the same mapping:
// failed conditions are errs.ErrConflict (*TxCanceled in a transaction),
// transactions lost to a concurrent one are *TxConflict (also
// errs.ErrConflict), throttling and DynamoDB's 5xx left after the SDK's
// retries are *errs.Unavailable. Error strings name a key's kind
// (Key.Kind), never its values: keys hold emails and ids.
package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/sendwell/sendwell/shared/errs"
)

// DB is the part of the DynamoDB client the project uses.
type DB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

var (
	_ DB                      = (*dynamodb.Client)(nil)
	_ dynamodb.QueryAPIClient = DB(nil) // the SDK's paginators take a DB
)

// Attribute names the helpers write or test.
const (
	AttrVersion = "version" // optimistic-lock version (PutIfVersion)
	AttrCount   = "n"       // counter (Increment)
)

// Limits of DynamoDB's batch calls, and how the store retries.
const (
	BatchWriteMax = 25  // items per BatchWriteItem
	BatchGetMax   = 100 // keys per BatchGetItem

	// TransactAttempts is how often Transact sends a transaction that
	// DynamoDB cancelled for a conflict with another transaction.
	TransactAttempts = 3

	// batchAttempts bounds the calls spent on items a batch leaves
	// unprocessed (DynamoDB throttling part of a batch) before Unavailable.
	batchAttempts = 8

	// unavailableRetryAfter is the Retry-After, in seconds, of Unavailable.
	unavailableRetryAfter = 1
)

// Store reads and writes items of one table.
type Store struct {
	DB    DB
	Table string
}

// New returns a Store over the table.
func New(db DB, table string) *Store { return &Store{DB: db, Table: table} }

// KeyAV is the attribute-value form of k.
func (k Key) KeyAV() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: k.PK},
		AttrSK: &types.AttributeValueMemberS{Value: k.SK},
	}
}

// Get reads one item into out (eventually consistent); a missing item is
// errs.ErrNotFound.
func (s *Store) Get(ctx context.Context, k Key, out any) error { return s.get(ctx, k, out, false) }

// GetConsistent is Get with a strongly consistent read, for reading back
// what a request has just written.
func (s *Store) GetConsistent(ctx context.Context, k Key, out any) error {
	return s.get(ctx, k, out, true)
}

func (s *Store) get(ctx context.Context, k Key, out any, consistent bool) error {
	res, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: k.KeyAV(), ConsistentRead: aws.Bool(consistent)})
	if err != nil {
		return fail("get "+k.Kind(), err)
	}
	if res.Item == nil {
		return errs.ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return fmt.Errorf("store: decode %s: %w", k.Kind(), err)
	}
	return nil
}

// Marshal turns an item struct into attribute values.
func Marshal(item any) (map[string]types.AttributeValue, error) {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return nil, fmt.Errorf("store: encode item: %w", err)
	}
	return av, nil
}

// Put writes item, replacing any item with its key.
func (s *Store) Put(ctx context.Context, item any) error {
	return s.put(ctx, "put", item, nil)
}

// PutNew writes item only if no item has its key yet; otherwise errs.ErrConflict.
func (s *Store) PutNew(ctx context.Context, item any) error {
	return s.put(ctx, "put new", item, &dynamodb.PutItemInput{ConditionExpression: aws.String("attribute_not_exists(PK)")})
}

// PutIfVersion replaces the stored item with item only if the stored one's
// version attribute still equals version (optimistic locking: the caller
// read it at that version and item carries the next one); otherwise,
// including when no item exists, errs.ErrConflict.
func (s *Store) PutIfVersion(ctx context.Context, item any, version int) error {
	return s.put(ctx, "put if version", item, &dynamodb.PutItemInput{
		ConditionExpression:       aws.String("#ver = :ver"),
		ExpressionAttributeNames:  map[string]string{"#ver": AttrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ver": &types.AttributeValueMemberN{Value: strconv.Itoa(version)}},
	})
}

// put writes item on the condition cond holds (nil for none).
func (s *Store) put(ctx context.Context, op string, item any, cond *dynamodb.PutItemInput) error {
	av, err := Marshal(item)
	if err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{}
	if cond != nil {
		in = cond
	}
	in.TableName, in.Item = &s.Table, av
	_, err = s.DB.PutItem(ctx, in)
	return fail(op+" "+itemKind(av), err)
}

// Delete deletes the item at k; deleting a missing item is not an error.
func (s *Store) Delete(ctx context.Context, k Key) error {
	_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.Table, Key: k.KeyAV()})
	return fail("delete "+k.Kind(), err)
}

// Increment adds one to the counter attribute (AttrCount) of the item at k,
// creating the item if needed, and returns the new count. A new item expires
// at ttl; later increments keep that expiry.
func (s *Store) Increment(ctx context.Context, k Key, ttl time.Time) (int, error) {
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.Table,
		Key:                      k.KeyAV(),
		UpdateExpression:         aws.String("ADD #n :one SET #ttl = if_not_exists(#ttl, :ttl)"),
		ExpressionAttributeNames: map[string]string{"#n": AttrCount, "#ttl": AttrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": &types.AttributeValueMemberN{Value: "1"},
			":ttl": &types.AttributeValueMemberN{Value: strconv.FormatInt(ttl.Unix(), 10)},
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fail("increment "+k.Kind(), err)
	}
	var n int
	if err := attributevalue.Unmarshal(out.Attributes[AttrCount], &n); err != nil {
		return 0, fmt.Errorf("store: decode count of %s: %w", k.Kind(), err)
	}
	return n, nil
}

// Transact writes all items atomically. A failed condition becomes
// errs.ErrConflict wrapped in *TxCanceled, which says which item failed.
//
// A transaction DynamoDB cancels for TransactionConflict (another transaction
// was writing the same items) is sent again, up to TransactAttempts times in
// all, after 20–100 ms: DynamoDB guarantees such a transaction wrote nothing,
// so sending it again is safe whatever its conditions. No other failure is
// retried here (the SDK has already retried throttling and 5xx). When the
// conflicts persist the answer is a *TxConflict, an errs.ErrConflict whose
// public message asks the client to retry.
func (s *Store) Transact(ctx context.Context, items []types.TransactWriteItem) error {
	for i := range items {
		setTable(&items[i], &s.Table)
	}
	in := &dynamodb.TransactWriteItemsInput{TransactItems: items}
	op := fmt.Sprintf("transact %d items", len(items))
	for attempt := 1; ; attempt++ {
		_, err := s.DB.TransactWriteItems(ctx, in)
		if err == nil {
			return nil
		}
		mapped := fail(op, err)
		var tc *TxConflict
		if !errors.As(mapped, &tc) {
			return mapped
		}
		tc.Attempts = attempt
		if attempt >= TransactAttempts {
			return mapped
		}
		if err := Sleep(ctx, jitter(20*time.Millisecond, 100*time.Millisecond)); err != nil {
			return fmt.Errorf("store: %s: %w", op, err)
		}
	}
}

func setTable(it *types.TransactWriteItem, table *string) {
	switch {
	case it.Put != nil:
		it.Put.TableName = table
	case it.Update != nil:
		it.Update.TableName = table
	case it.Delete != nil:
		it.Delete.TableName = table
	case it.ConditionCheck != nil:
		it.ConditionCheck.TableName = table
	}
}

// TxCanceled is a transaction cancelled by a failed condition. Failed holds
// the indexes of the items whose condition failed.
type TxCanceled struct{ Failed []int }

func (e *TxCanceled) Error() string {
	return fmt.Sprintf("store: transaction cancelled, conditions failed on items %v", e.Failed)
}

// Unwrap makes a TxCanceled an errs.ErrConflict.
func (e *TxCanceled) Unwrap() error { return errs.ErrConflict }

// FailedAt reports whether item i's condition failed.
func (e *TxCanceled) FailedAt(i int) bool { return slices.Contains(e.Failed, i) }

// TxConflict is a transaction DynamoDB cancelled because another transaction
// was writing the same items at the same time (TransactionConflict): nothing
// was written. Items holds the indexes of the conflicting items; Attempts
// how many times Transact sent it (0 when the error comes from MapErr).
type TxConflict struct {
	Items    []int
	Attempts int
}

// errConcurrent is the public face of a TxConflict.
var errConcurrent = errs.NewConflict("The resource was changed by a concurrent request; retry.")

func (e *TxConflict) Error() string {
	msg := fmt.Sprintf("store: transaction cancelled by concurrent writes on items %v", e.Items)
	if e.Attempts > 0 {
		msg += fmt.Sprintf(" (%d attempts)", e.Attempts)
	}
	return msg
}

// Unwrap makes a TxConflict an errs.ErrConflict that asks the client to retry.
func (e *TxConflict) Unwrap() error { return errConcurrent }

// MapErr turns DynamoDB failures into domain errors at the boundary, for
// code that calls the client itself: see the package comment. It leaves
// errors it has already mapped as they are.
func MapErr(err error) error { return fail("", err) }

// fail maps err for a Store method: op says what failed, log-safely.
func fail(op string, err error) error {
	if err == nil || mapped(err) {
		return err
	}
	switch d := classify(err).(type) {
	case nil:
		return &opError{op, err}
	case *TxCanceled, *TxConflict:
		return d
	default:
		return &opError{op, d}
	}
}

// opError is a failure the store has mapped: err is the domain error, or the
// SDK's error when it stands for none.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	if e.op == "" {
		return "store: " + e.err.Error()
	}
	return "store: " + e.op + ": " + e.err.Error()
}

func (e *opError) Unwrap() error { return e.err }

// mapped reports whether err is already one of the store's mapped errors.
func mapped(err error) bool {
	var (
		op *opError
		tx *TxCanceled
		tc *TxConflict
	)
	return errors.As(err, &op) || errors.As(err, &tx) || errors.As(err, &tc)
}

// classify is the domain error a DynamoDB failure stands for, or nil when it
// stands for none (a bug, a bad request, a network failure: a 500).
func classify(err error) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return errs.ErrConflict
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		var failed, conflicts []int
		throttled := false
		for i, r := range tce.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "ConditionalCheckFailed":
				failed = append(failed, i)
			case "TransactionConflict":
				conflicts = append(conflicts, i)
			case "ThrottlingError", "ProvisionedThroughputExceeded":
				throttled = true
			}
		}
		switch {
		case len(failed) > 0:
			return &TxCanceled{Failed: failed}
		case throttled:
			return errs.NewUnavailable(unavailableRetryAfter, err)
		case len(conflicts) > 0:
			return &TxConflict{Items: conflicts}
		}
		return nil
	}
	if overloaded(err) {
		return errs.NewUnavailable(unavailableRetryAfter, err)
	}
	return nil
}

// overloaded reports whether err is DynamoDB throttling or failing (5xx),
// which the SDK has already retried.
func overloaded(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError":
			return true
		}
	}
	var status interface{ HTTPStatusCode() int }
	return errors.As(err, &status) && status.HTTPStatusCode() >= 500
}

// itemKind is the Key.Kind of an encoded item.
func itemKind(av map[string]types.AttributeValue) string {
	var k Key
	_ = attributevalue.UnmarshalMap(av, &k)
	return k.Kind()
}

// Page is one page of a Query: the items and, when more follow, the key to
// start the next page after.
type Page struct {
	Items []map[string]types.AttributeValue
	Next  map[string]string
}

// QueryPage runs in with Limit = limit+1, so a page reads at most one item
// more than it returns, and that extra item tells whether a next page exists.
// When DynamoDB stops early (its 1 MB per call), it goes on from
// LastEvaluatedKey for the items still missing. start is the key of the last
// item of the previous page, or nil. keyAttrs names the attributes that make
// an item's position in the index.
func (s *Store) QueryPage(ctx context.Context, in *dynamodb.QueryInput, limit int, start map[string]string, keyAttrs []string) (Page, error) {
	in.TableName = &s.Table
	if start != nil {
		in.ExclusiveStartKey = map[string]types.AttributeValue{}
		for k, v := range start {
			in.ExclusiveStartKey[k] = &types.AttributeValueMemberS{Value: v}
		}
	}
	var p Page
	for {
		in.Limit = aws.Int32(int32(limit + 1 - len(p.Items)))
		res, err := s.DB.Query(ctx, in)
		if err != nil {
			return Page{}, fail("query", err)
		}
		p.Items = append(p.Items, res.Items...)
		if len(p.Items) > limit || len(res.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	if len(p.Items) > limit {
		p.Items = p.Items[:limit]
		last := p.Items[limit-1]
		p.Next = map[string]string{}
		for _, a := range keyAttrs {
			if v, ok := last[a].(*types.AttributeValueMemberS); ok {
				p.Next[a] = v.Value
			}
		}
	}
	return p, nil
}

// QueryKeys calls fn with the keys of the partition pk whose sort keys start
// with skPrefix ("" for all), one DynamoDB page at a time, in sort-key
// order. It stops at the first error fn returns. Deleting the keys fn is
// given (DeleteAll) is safe: paging goes on from the last key read.
func (s *Store) QueryKeys(ctx context.Context, pk, skPrefix string, fn func([]Key) error) error {
	in := &dynamodb.QueryInput{
		TableName:                 &s.Table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ProjectionExpression:      aws.String("PK, SK"),
	}
	if skPrefix != "" {
		in.KeyConditionExpression = aws.String("PK = :pk AND begins_with(SK, :sk)")
		in.ExpressionAttributeValues[":sk"] = &types.AttributeValueMemberS{Value: skPrefix}
	}
	kind := Key{PK: pk, SK: skPrefix}.Kind()
	pages := dynamodb.NewQueryPaginator(s.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fail("query keys "+kind, err)
		}
		if len(page.Items) == 0 {
			continue
		}
		keys := make([]Key, 0, len(page.Items))
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &keys); err != nil {
			return fmt.Errorf("store: decode keys of %s: %w", kind, err)
		}
		if err := fn(keys); err != nil {
			return err
		}
	}
	return nil
}

// Chunks splits s into consecutive slices of at most n elements (n > 0),
// sharing s's backing array; nil for an empty s.
func Chunks[T any](s []T, n int) [][]T {
	var out [][]T
	for c := range slices.Chunk(s, n) {
		out = append(out, c)
	}
	return out
}

// PutAll writes items (replacing any with the same keys) with
// BatchWriteItem, BatchWriteMax at a time, retrying what DynamoDB leaves
// unprocessed. It is not atomic: on error some items may be written. Two
// items with one key must not be in one call.
func (s *Store) PutAll(ctx context.Context, items []any) error {
	reqs := make([]types.WriteRequest, 0, len(items))
	for _, it := range items {
		av, err := Marshal(it)
		if err != nil {
			return err
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
	}
	return s.BatchWrite(ctx, reqs)
}

// DeleteAll deletes keys in batches of BatchWriteMax, retrying what DynamoDB
// leaves unprocessed.
func (s *Store) DeleteAll(ctx context.Context, keys []Key) error {
	reqs := make([]types.WriteRequest, 0, len(keys))
	for _, k := range keys {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k.KeyAV()}})
	}
	return s.BatchWrite(ctx, reqs)
}

// BatchWrite sends write requests BatchWriteMax at a time, retrying
// unprocessed ones with backoff. Requests DynamoDB still leaves unprocessed
// after a few calls make an errs.Unavailable.
func (s *Store) BatchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for _, chunk := range Chunks(reqs, BatchWriteMax) {
		if err := s.writeBatch(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) writeBatch(ctx context.Context, reqs []types.WriteRequest) error {
	pending := reqs
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := Sleep(ctx, backoff(attempt)); err != nil {
				return fmt.Errorf("store: batch write: %w", err)
			}
		}
		out, err := s.DB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.Table: pending}})
		if err != nil {
			return fail("batch write", err)
		}
		if pending = out.UnprocessedItems[s.Table]; len(pending) == 0 {
			return nil
		}
		if attempt+1 >= batchAttempts {
			return fmt.Errorf("store: batch write: %d requests unprocessed after %d calls: %w",
				len(pending), batchAttempts, errs.NewUnavailable(unavailableRetryAfter, nil))
		}
	}
}

// BatchGet reads keys (any number, duplicates read once) BatchGetMax at a
// time, retrying unprocessed ones with backoff. Items come back in no
// particular order; missing ones are left out.
func (s *Store) BatchGet(ctx context.Context, keys []Key) ([]map[string]types.AttributeValue, error) {
	seen := make(map[Key]bool, len(keys))
	unique := make([]Key, 0, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			unique = append(unique, k)
		}
	}
	var items []map[string]types.AttributeValue
	for _, chunk := range Chunks(unique, BatchGetMax) {
		got, err := s.getBatch(ctx, chunk)
		if err != nil {
			return nil, err
		}
		items = append(items, got...)
	}
	return items, nil
}

func (s *Store) getBatch(ctx context.Context, keys []Key) ([]map[string]types.AttributeValue, error) {
	ka := types.KeysAndAttributes{Keys: make([]map[string]types.AttributeValue, 0, len(keys))}
	for _, k := range keys {
		ka.Keys = append(ka.Keys, k.KeyAV())
	}
	pending := map[string]types.KeysAndAttributes{s.Table: ka}
	var items []map[string]types.AttributeValue
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := Sleep(ctx, backoff(attempt)); err != nil {
				return nil, fmt.Errorf("store: batch get: %w", err)
			}
		}
		out, err := s.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
		if err != nil {
			return nil, fail("batch get", err)
		}
		items = append(items, out.Responses[s.Table]...)
		if pending = out.UnprocessedKeys; len(pending[s.Table].Keys) == 0 {
			return items, nil
		}
		if attempt+1 >= batchAttempts {
			return nil, fmt.Errorf("store: batch get: %d keys unprocessed after %d calls: %w",
				len(pending[s.Table].Keys), batchAttempts, errs.NewUnavailable(unavailableRetryAfter, nil))
		}
	}
}

// backoff is the wait before the attempt-th retry of unprocessed batch
// items: 50 ms × 2^attempt, at most 2 s.
func backoff(attempt int) time.Duration { return min(50*time.Millisecond<<attempt, 2*time.Second) }

// jitter is a random duration in [lo, hi).
func jitter(lo, hi time.Duration) time.Duration { return lo + rand.N(hi-lo) }

// Sleep waits d or until ctx ends (a retry's backoff).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
