package idempotency

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/store"
)

// record is one Idempotency-Key's state, in a partition of its own
// (store.IdempotencyKey). While a request runs it holds the key: Owner is
// its random lock token, and the lock lapses at LockedUntil.
type record struct {
	store.Key
	Fingerprint string `dynamodbav:"fingerprint"`
	State       string `dynamodbav:"state"`
	Owner       string `dynamodbav:"owner,omitempty"`
	LockedUntil int64  `dynamodbav:"lockedUntil"`
	ExpiresAt   int64  `dynamodbav:"expiresAt"`
	TTL         int64  `dynamodbav:"ttl"`
	Status      int    `dynamodbav:"status,omitempty"`
	ContentType string `dynamodbav:"contentType,omitempty"`
	Body        []byte `dynamodbav:"body,omitempty"`
}

// Attribute names the conditions test.
const (
	attrState     = "state"
	attrOwner     = "owner"
	attrExpiresAt = "expiresAt"
)

// repo is where idempotency speaks DynamoDB. Every write is conditional, and
// a failed condition is errs.ErrConflict; other errors are the store's
// mapped ones (*errs.Unavailable when DynamoDB is throttling).
type repo struct{ s *store.Store }

// create writes rec if its key has no record, or only one past its expiry
// (DynamoDB's TTL deletes lazily, up to days late).
func (r repo) create(ctx context.Context, rec record, now int64) error {
	return r.put(ctx, "create record", rec, &dynamodb.PutItemInput{
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR #exp < :now"),
		ExpressionAttributeNames:  map[string]string{"#exp": attrExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now)},
	})
}

// get reads the record at k with a strongly consistent read: errs.ErrNotFound
// when there is none.
func (r repo) get(ctx context.Context, k store.Key) (record, error) {
	var rec record
	return rec, r.s.GetConsistent(ctx, k, &rec)
}

// replace writes rec over a record that is still running and still held by
// owner: a request finishing, or taking over a lapsed lock. A request whose
// lock was taken over meanwhile gets errs.ErrConflict and changes nothing.
func (r repo) replace(ctx context.Context, rec record, owner string) error {
	cond, names, vals := heldBy(owner)
	return r.put(ctx, "replace record", rec, &dynamodb.PutItemInput{
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	})
}

// release deletes the record at k if it is still running and held by owner,
// so a retry can run again.
func (r repo) release(ctx context.Context, k store.Key, owner string) error {
	cond, names, vals := heldBy(owner)
	_, err := r.s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &r.s.Table, Key: k.KeyAV(),
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	})
	if err = store.MapErr(err); err != nil {
		return fmt.Errorf("idempotency: release record: %w", err)
	}
	return nil
}

// heldBy is the condition that a record is running under owner's lock.
func heldBy(owner string) (string, map[string]string, map[string]types.AttributeValue) {
	names := map[string]string{"#s": attrState, "#o": attrOwner}
	vals := map[string]types.AttributeValue{":running": str(stateRunning)}
	if owner == "" { // a record written before locks had owners
		return "#s = :running AND attribute_not_exists(#o)", names, vals
	}
	vals[":owner"] = str(owner)
	return "#s = :running AND #o = :owner", names, vals
}

// put writes rec on the condition in cond.
func (r repo) put(ctx context.Context, op string, rec record, cond *dynamodb.PutItemInput) error {
	av, err := store.Marshal(rec)
	if err != nil {
		return err
	}
	cond.TableName, cond.Item = &r.s.Table, av
	_, err = r.s.DB.PutItem(ctx, cond)
	if err = store.MapErr(err); err != nil {
		return fmt.Errorf("idempotency: %s: %w", op, err)
	}
	return nil
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
