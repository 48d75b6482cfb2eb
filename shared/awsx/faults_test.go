package awsx_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// client is a DynamoDB client over the test's table whose calls go through
// f, with the SDK's standard retries (attempts in all), minus their backoff.
func client(t *testing.T, attempts int) (*dynamodb.Client, string, *awsx.Faults) {
	env := testenv.New(t)
	cfg := env.Config.Copy()
	f := awsx.NewFaults()
	f.Instrument(&cfg)
	awsx.QuickRetries(&cfg, attempts)
	return dynamodb.NewFromConfig(cfg), env.Store.Table, f
}

func getItem(db *dynamodb.Client, table string) error {
	_, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &table, Key: store.OrgKey("org_1").KeyAV()})
	return err
}

// Rules fail exactly the attempts they name, counted from when they are
// added, and only of their operation.
func TestFaultRulesPickAttempts(t *testing.T) {
	const op = "DynamoDB.GetItem"
	cases := []struct {
		name string
		add  func(f *awsx.Faults)
		want []bool // whether each of 4 calls fails
	}{
		{"nth", func(f *awsx.Faults) { f.FailNth(op, 2, awsx.Throttling) }, []bool{false, true, false, false}},
		{"from", func(f *awsx.Faults) { f.FailFrom(op, 3, awsx.Throttling) }, []bool{false, false, true, true}},
		{"next", func(f *awsx.Faults) { f.FailNext(op, 2, awsx.Throttling) }, []bool{true, true, false, false}},
		{"other operation", func(f *awsx.Faults) { f.FailFrom("DynamoDB.PutItem", 1, awsx.Throttling) }, []bool{false, false, false, false}},
	}
	db, table, f := client(t, 1)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.Reset()
			require.NoError(t, getItem(db, table), "an attempt before the rule")
			c.add(f)
			fired := 0
			for i, fail := range c.want {
				err := getItem(db, table)
				if fail {
					fired++
					assert.ErrorAs(t, err, new(*types.ThrottlingException), "call %d", i+1)
				} else {
					assert.NoError(t, err, "call %d", i+1)
				}
			}
			assert.Equal(t, 5, f.Attempts(op))
			assert.Equal(t, fired, f.Fired(op))
		})
	}
}

// The faults sit inside the SDK's retry loop: it retries throttling and 500s
// as it would DynamoDB's, then gives up with the error it would give; it
// never retries a cancelled transaction.
func TestTheSDKSeesInjectedFaults(t *testing.T) {
	const attempts = 3
	cases := []struct {
		fault    awsx.Fault
		attempts int
		check    func(t *testing.T, err error)
	}{
		{awsx.Throttling, attempts, func(t *testing.T, err error) {
			assert.ErrorAs(t, err, new(*types.ThrottlingException))
		}},
		{awsx.ProvisionedThroughputExceeded, attempts, func(t *testing.T, err error) {
			assert.ErrorAs(t, err, new(*types.ProvisionedThroughputExceededException))
		}},
		{awsx.InternalServerError, attempts, func(t *testing.T, err error) {
			assert.ErrorAs(t, err, new(*types.InternalServerError))
			var status interface{ HTTPStatusCode() int }
			require.ErrorAs(t, err, &status)
			assert.Equal(t, 500, status.HTTPStatusCode())
		}},
		{awsx.TransactionConflict, 1, func(t *testing.T, err error) {
			var tce *types.TransactionCanceledException
			require.ErrorAs(t, err, &tce)
			require.Len(t, tce.CancellationReasons, 2, "one reason per item")
			assert.Equal(t, "TransactionConflict", aws.ToString(tce.CancellationReasons[0].Code))
			assert.Equal(t, "None", aws.ToString(tce.CancellationReasons[1].Code))
		}},
		{awsx.TransactionThrottled, 1, func(t *testing.T, err error) {
			var tce *types.TransactionCanceledException
			require.ErrorAs(t, err, &tce)
			assert.Equal(t, "ThrottlingError", aws.ToString(tce.CancellationReasons[0].Code))
		}},
	}
	db, table, f := client(t, attempts)
	put := func(id string) types.TransactWriteItem {
		return types.TransactWriteItem{Put: &types.Put{TableName: &table, Item: store.ContactKey("org_1", id).KeyAV()}}
	}
	const op = "DynamoDB.TransactWriteItems"
	for _, c := range cases {
		t.Run(c.fault.String(), func(t *testing.T) {
			f.Reset()
			f.FailFrom(op, 1, c.fault)
			_, err := db.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{
				TransactItems: []types.TransactWriteItem{put("cnt_1"), put("cnt_2")},
			})
			require.Error(t, err)
			c.check(t, err)
			assert.Equal(t, c.attempts, f.Attempts(op))
			assert.Equal(t, c.attempts, f.Fired(op))
			assert.Equal(t, c.attempts > 1, errors.As(err, new(*retry.MaxAttemptsError)), "the SDK gave up retrying")
		})
	}
	// Nothing reached the server.
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &table, Key: store.ContactKey("org_1", "cnt_1").KeyAV()})
	require.NoError(t, err)
	assert.Nil(t, out.Item)
}

// A hook runs before the attempt reaches the server, and may itself call
// AWS through the same client.
func TestBeforeRunsAheadOfTheAttempt(t *testing.T) {
	db, table, f := client(t, 1)
	put := func() error {
		_, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{
			TableName: &table, Item: store.OrgKey("org_1").KeyAV(), ConditionExpression: aws.String("attribute_not_exists(PK)"),
		})
		return err
	}
	var seen []int
	f.Before("DynamoDB.PutItem", func(n int) {
		seen = append(seen, n)
		if n == 1 {
			require.NoError(t, put(), "the other writer")
		}
	})
	assert.ErrorAs(t, put(), new(*types.ConditionalCheckFailedException), "the other writer went first")
	assert.Equal(t, []int{1, 2}, seen)
	assert.Equal(t, 0, f.Fired("DynamoDB.PutItem"))
}

// Rules hold under concurrent calls: exactly the next k attempts fail.
func TestFaultsAreSafeForConcurrentUse(t *testing.T) {
	const op, calls, k = "DynamoDB.GetItem", 20, 7
	db, table, f := client(t, 1)
	f.FailNext(op, k, awsx.InternalServerError)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	for range calls {
		wg.Go(func() {
			if err := getItem(db, table); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, k, failed)
	assert.Equal(t, k, f.Fired(op))
	assert.Equal(t, calls, f.Attempts(op))
}
