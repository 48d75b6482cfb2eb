package localaws_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The emulator's transactions stay all-or-nothing: one failed condition
// writes nothing, and the reasons say which item failed.
func TestTransactionsAreAllOrNothing(t *testing.T) {
	env := testenv.New(t)
	ctx := t.Context()
	put := func(pk string) types.TransactWriteItem {
		av, err := store.Marshal(store.Key{PK: pk, SK: "X"})
		require.NoError(t, err)
		return types.TransactWriteItem{Put: &types.Put{Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}}
	}
	require.NoError(t, env.Store.Transact(ctx, []types.TransactWriteItem{put("a")}))

	err := env.Store.Transact(ctx, []types.TransactWriteItem{put("b"), put("a"), put("c")})
	var tx *store.TxCanceled
	require.ErrorAs(t, err, &tx)
	assert.Equal(t, []int{1}, tx.Failed)
	for _, pk := range []string{"b", "c"} {
		var k store.Key
		assert.ErrorIs(t, env.Store.Get(ctx, store.Key{PK: pk, SK: "X"}, &k), errs.ErrNotFound, "nothing of a cancelled transaction is written")
	}

	require.NoError(t, env.Store.Transact(ctx, []types.TransactWriteItem{put("b"), put("c")}))
	var k store.Key
	assert.NoError(t, env.Store.Get(ctx, store.Key{PK: "c", SK: "X"}, &k))
}

// A transaction moto fails half-way through (here: an update whose
// expression reads an attribute the item lacks, which moto only finds out
// when it applies it) leaves nothing behind, as DynamoDB's would, so the
// SDK's retry of the 500 cannot meet its own first half.
func TestTransactionsMotoFailsHalfWayWriteNothing(t *testing.T) {
	env := testenv.New(t)
	ctx := t.Context()
	av, err := store.Marshal(map[string]any{"PK": "first", "SK": "X", "n": 1})
	require.NoError(t, err)
	require.NoError(t, env.Store.Put(ctx, map[string]any{"PK": "kept", "SK": "X", "n": 1}))
	err = env.Store.Transact(ctx, []types.TransactWriteItem{
		{Put: &types.Put{Item: av}},
		{Update: &types.Update{Key: store.Key{PK: "kept", SK: "X"}.KeyAV(), UpdateExpression: aws.String("SET n = n + :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}}},
		{Update: &types.Update{Key: store.Key{PK: "second", SK: "X"}.KeyAV(), UpdateExpression: aws.String("SET m = missing + :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}}},
	})
	require.Error(t, err)
	var got map[string]any
	assert.ErrorIs(t, env.Store.Get(ctx, store.Key{PK: "first", SK: "X"}, &got), errs.ErrNotFound, "the put before the failure is undone")
	require.NoError(t, env.Store.Get(ctx, store.Key{PK: "kept", SK: "X"}, &got))
	assert.EqualValues(t, 1, got["n"], "the update before the failure is undone")
}

// A transaction sent again with the same ClientRequestToken (as the SDK
// does when it retries one whose answer was lost) is answered as DynamoDB
// does: success, without applying it twice.
func TestTransactionsSentTwiceWithOneTokenApplyOnce(t *testing.T) {
	env := testenv.New(t)
	ctx := t.Context()
	in := &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String("token-1"), TransactItems: []types.TransactWriteItem{{
		Update: &types.Update{TableName: &env.Store.Table, Key: store.Key{PK: "counted", SK: "X"}.KeyAV(),
			UpdateExpression:          aws.String("ADD n :one"),
			ConditionExpression:       aws.String("attribute_not_exists(n) OR n < :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}},
	}}}
	_, err := env.DB.TransactWriteItems(ctx, in)
	require.NoError(t, err)
	_, err = env.DB.TransactWriteItems(ctx, in)
	require.NoError(t, err, "the same token: answered, not applied again (its condition would fail)")
	var got map[string]any
	require.NoError(t, env.Store.Get(ctx, store.Key{PK: "counted", SK: "X"}, &got))
	assert.EqualValues(t, 1, got["n"])

	in.ClientRequestToken = aws.String("token-2")
	_, err = env.DB.TransactWriteItems(ctx, in)
	assert.Error(t, err, "another token is another transaction")
}
