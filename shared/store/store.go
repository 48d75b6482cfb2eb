// Package store is the single-table DynamoDB access layer: typed keys, item
// helpers and the mapping of DynamoDB failures to domain errors.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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

var _ DB = (*dynamodb.Client)(nil)

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

// Get reads one item into out; a missing item is errs.ErrNotFound.
func (s *Store) Get(ctx context.Context, k Key, out any) error {
	res, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: k.KeyAV()})
	if err != nil {
		return fmt.Errorf("store: get %s/%s: %w", k.PK, k.SK, err)
	}
	if res.Item == nil {
		return errs.ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return fmt.Errorf("store: decode %s/%s: %w", k.PK, k.SK, err)
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

// PutNew writes item only if no item has its key yet; otherwise errs.ErrConflict.
func (s *Store) PutNew(ctx context.Context, item any) error {
	av, err := Marshal(item)
	if err != nil {
		return err
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           &s.Table,
		Item:                av,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	return MapErr(err)
}

// Transact writes all items atomically. A failed condition becomes
// errs.ErrConflict wrapped in *TxCanceled, which says which item failed.
func (s *Store) Transact(ctx context.Context, items []types.TransactWriteItem) error {
	for i := range items {
		setTable(&items[i], &s.Table)
	}
	_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return MapErr(err)
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
func (e *TxCanceled) FailedAt(i int) bool {
	for _, f := range e.Failed {
		if f == i {
			return true
		}
	}
	return false
}

// MapErr turns DynamoDB's condition failures into domain errors at the boundary.
func MapErr(err error) error {
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("store: %w", errs.ErrConflict)
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		tx := &TxCanceled{}
		for i, r := range tce.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				tx.Failed = append(tx.Failed, i)
			}
		}
		if len(tx.Failed) > 0 {
			return tx
		}
	}
	return fmt.Errorf("store: %w", err)
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
			return Page{}, fmt.Errorf("store: query: %w", err)
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

// DeleteAll deletes keys in batches of 25, retrying what DynamoDB leaves unprocessed.
func (s *Store) DeleteAll(ctx context.Context, keys []Key) error {
	for len(keys) > 0 {
		n := min(len(keys), 25)
		reqs := make([]types.WriteRequest, 0, n)
		for _, k := range keys[:n] {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k.KeyAV()}})
		}
		keys = keys[n:]
		if err := s.BatchWrite(ctx, reqs); err != nil {
			return err
		}
	}
	return nil
}

// BatchWrite sends up to 25 write requests, retrying unprocessed ones with backoff.
func (s *Store) BatchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	pending := map[string][]types.WriteRequest{s.Table: reqs}
	for attempt := 0; len(pending[s.Table]) > 0; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		out, err := s.DB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return fmt.Errorf("store: batch write: %w", err)
		}
		pending = out.UnprocessedItems
	}
	return nil
}

// BatchGet reads up to 100 keys, retrying unprocessed ones with backoff.
func (s *Store) BatchGet(ctx context.Context, keys []Key) ([]map[string]types.AttributeValue, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ka := &types.KeysAndAttributes{}
	for _, k := range keys {
		ka.Keys = append(ka.Keys, k.KeyAV())
	}
	pending := map[string]types.KeysAndAttributes{s.Table: *ka}
	var items []map[string]types.AttributeValue
	for attempt := 0; len(pending[s.Table].Keys) > 0; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		out, err := s.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
		if err != nil {
			return nil, fmt.Errorf("store: batch get: %w", err)
		}
		items = append(items, out.Responses[s.Table]...)
		pending = out.UnprocessedKeys
	}
	return items, nil
}

// backoff waits 50 ms × 2^attempt (at most 2 s) or until ctx ends.
func backoff(ctx context.Context, attempt int) error {
	d := min(50*time.Millisecond<<attempt, 2*time.Second)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
