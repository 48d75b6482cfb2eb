package localaws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

// allPatches is what the launcher applies on the moto it knows.
var allPatches = []string{"transactions", "fifo-dedup", "queue-counts", "partition-query", "index-query", "routing", "item-json", "queue-scans"}

// The launcher's own moto (not the one testenv shares, which AWS_ENDPOINT_URL
// may replace): every patch applied, said on a line StartMoto passes on
// without MOTO_LOG, and DynamoDB's write serialisation holds under load.
func TestLauncher(t *testing.T) {
	t.Setenv("MOTO_LOG", "")
	var notices testenv.Buffer
	moto, err := localaws.StartMotoWith(0, &notices)
	require.NoError(t, err)
	t.Cleanup(moto.Stop)

	t.Run("reports every patch applied", func(t *testing.T) {
		assert.Equal(t, allPatches, moto.Patches, "the launcher's notices:\n%s", notices.String())
		assert.Contains(t, notices.String(), "sendwell: patches applied: transactions, fifo-dedup, queue-counts, partition-query, index-query, routing, item-json, queue-scans\n")
		assert.NotContains(t, notices.String(), "WARNING")
	})

	ctx := t.Context()
	cfg, err := localaws.Config(ctx, moto.Endpoint)
	require.NoError(t, err)
	db := dynamodb.NewFromConfig(cfg)
	table := "launcher-" + strings.ToLower(ulid.Make().String())
	require.NoError(t, store.EnsureTable(ctx, db, table))

	// Each racer claims the lookup item and writes items of its own. With more
	// items the time between the lookup's check and its write grows, as in a
	// large transaction, and so does the chance of catching a missing lock.
	for _, own := range []int{1, 49} {
		t.Run(fmt.Sprintf("concurrent transactions claim a key once (%d items each)", own+1), func(t *testing.T) {
			const rounds, racers = 5, 20
			for range rounds {
				lookup := "lookup#" + ulid.Make().String()
				errs := race(racers, func(i int) error {
					_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: claims(table, lookup, i, own, 0)})
					return err
				})

				winners := 0
				for i, err := range errs {
					if err == nil {
						winners++
						assert.Equal(t, i, owner(t, db, table, lookup), "the lookup item is the winner's")
						continue
					}
					var tce *types.TransactionCanceledException
					require.ErrorAs(t, err, &tce, "racer %d", i)
					require.Len(t, tce.CancellationReasons, own+1)
					for _, r := range tce.CancellationReasons[:own] {
						assert.Equal(t, "None", aws.ToString(r.Code), "racer %d: its own items", i)
					}
					assert.Equal(t, "ConditionalCheckFailed", aws.ToString(tce.CancellationReasons[own].Code), "racer %d: the lookup's condition", i)
					assert.Equal(t, -1, owner(t, db, table, ownPK(lookup, i, 0)), "a cancelled transaction writes nothing")
				}
				require.Equal(t, 1, winners, "transactions that claimed %s", lookup)
			}
		})
	}

	// Concurrent ADDs with ReturnValues (the rate limiter's counter) each
	// return their own count. moto serialises the item for ReturnValues after
	// the write, which the launcher's lock also covers; that window is narrow,
	// so this is a check of the result more than a proof of the lock.
	t.Run("concurrent increments each return their own count", func(t *testing.T) {
		const rounds, racers = 5, 20
		for range rounds {
			counter := key("counter#" + ulid.Make().String())
			counts := make([]int, racers)
			errs := race(racers, func(i int) error {
				out, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName: aws.String(table), Key: counter,
					UpdateExpression:          aws.String("ADD #n :one"),
					ExpressionAttributeNames:  map[string]string{"#n": "N"},
					ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
					ReturnValues:              types.ReturnValueUpdatedNew,
				})
				if err == nil {
					_, err = fmt.Sscan(out.Attributes["N"].(*types.AttributeValueMemberN).Value, &counts[i])
				}
				return err
			})
			for _, err := range errs {
				require.NoError(t, err)
			}
			slices.Sort(counts)
			for i, n := range counts {
				require.Equal(t, i+1, n, "the counts returned: %v", counts)
			}
		}
	})

	// Puts and transactions released together: puts, being quicker, often
	// win, and then every transaction must be cancelled.
	t.Run("conditional puts and transactions released together: one wins", func(t *testing.T) {
		const rounds, racers = 5, 20
		for range rounds {
			lookup := "lookup#" + ulid.Make().String()
			errs := race(racers, func(i int) error {
				if i%2 == 0 {
					return putLookup(ctx, db, table, lookup, i)
				}
				_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: claims(table, lookup, i, 1, 0)})
				return err
			})
			winner := onlyWinner(t, errs, func(i int) bool { return i%2 == 1 })
			assert.Equal(t, winner, owner(t, db, table, lookup))
		}
	})

	// The most adversarial moment for a conditional PutItem: a transaction has
	// checked the lookup and is writing its items, the lookup last. The puts
	// go out as soon as a transaction's first item can be read, so they land
	// in that window; without one lock over both, a put finds the key free,
	// the transaction then overwrites it, and both succeed. (Few racers: moto
	// serves them all under Python's one interpreter lock, and more busy
	// threads would hold the puts back until the window has closed.)
	t.Run("conditional puts racing a transaction's writes never win", func(t *testing.T) {
		const rounds, transactions, puts = 5, 2, 3
		for range rounds {
			lookup := "lookup#" + ulid.Make().String()
			var firsts []map[string]types.AttributeValue
			for i := range transactions {
				firsts = append(firsts, key(ownPK(lookup, i, 0)))
			}
			writing := make(chan struct{})
			var waitErr error
			go func() {
				defer close(writing)
				waitErr = waitForAny(ctx, db, table, firsts)
			}()
			errs := race(transactions+puts, func(i int) error {
				if i < transactions {
					_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: claims(table, lookup, i, 99, 1000)})
					return err
				}
				<-writing
				if waitErr != nil {
					return waitErr
				}
				return putLookup(ctx, db, table, lookup, i)
			})
			winner := onlyWinner(t, errs, func(i int) bool { return i < transactions })
			assert.Less(t, winner, transactions, "the transaction that held the key wins it")
			assert.Equal(t, winner, owner(t, db, table, lookup))
		}
	})

	t.Run("a read answers every attribute type as written", func(t *testing.T) { testReadsAnswerEveryType(t, db, table) })
	t.Run("receives and deletes keep SQS's rules", func(t *testing.T) { testQueueRules(t, cfg) })
}

// The queue-scans patch lists visible messages with one clock reading and
// deletes in one walk: what a receive and a delete answer is unchanged.
func testQueueRules(t *testing.T, cfg aws.Config) {
	ctx := t.Context()
	q := sqs.NewFromConfig(cfg)
	made, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("rules-" + strings.ToLower(ulid.Make().String())),
		Attributes: map[string]string{"VisibilityTimeout": "30"}})
	require.NoError(t, err)
	url := made.QueueUrl
	for _, body := range []string{"a", "b"} {
		_, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String(body)})
		require.NoError(t, err)
	}
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("later"), DelaySeconds: 60})
	require.NoError(t, err)
	receive := func() map[string]string { // body -> receipt handle
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10})
		require.NoError(t, err)
		got := map[string]string{}
		for _, m := range out.Messages {
			got[*m.Body] = *m.ReceiptHandle
		}
		return got
	}
	first := receive()
	require.Len(t, first, 2, "the delayed message is not visible yet")
	assert.Empty(t, receive(), "both are in flight")

	_, err = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: aws.String(first["a"])})
	require.NoError(t, err)
	_, err = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: aws.String(first["a"])})
	require.NoError(t, err, "deleting twice is no error")
	_, err = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: aws.String("not-a-handle")})
	require.ErrorAs(t, err, new(*sqstypes.ReceiptHandleIsInvalid))

	_, err = q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: url, ReceiptHandle: aws.String(first["b"]), VisibilityTimeout: 0})
	require.NoError(t, err)
	again := receive()
	require.Len(t, again, 1)
	require.Contains(t, again, "b", "visible again, and received with a new handle")
	assert.NotEqual(t, first["b"], again["b"])
	_, err = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: aws.String(first["b"])})
	require.NoError(t, err, "an earlier handle of the message deletes it too")
	_, err = q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: url, ReceiptHandle: aws.String(again["b"]), VisibilityTimeout: 0})
	require.Error(t, err, "the message is gone")
	assert.Empty(t, receive(), "only the delayed message is left")
}

// The item-json patch writes reads' results with json.dumps: every
// attribute type comes back from each read as it was written.
func testReadsAnswerEveryType(t *testing.T, db *dynamodb.Client, table string) {
	ctx := t.Context()
	pk := "types#" + ulid.Make().String()
	item := map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: pk}, store.AttrSK: &types.AttributeValueMemberS{Value: "a"},
		"s": &types.AttributeValueMemberS{Value: "héllo \"quoted\" \u2028 <tag>"}, "n": &types.AttributeValueMemberN{Value: "-12.50"},
		"b": &types.AttributeValueMemberB{Value: []byte{0, 1, 254, 255}}, "t": &types.AttributeValueMemberBOOL{Value: true},
		"null": &types.AttributeValueMemberNULL{Value: true},
		"l":    &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "x"}, &types.AttributeValueMemberN{Value: "1"}}},
		"m":    &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberBOOL{Value: false}}},
		"ss":   &types.AttributeValueMemberSS{Value: []string{"a", "b"}}, "ns": &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"bs": &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
	}
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item})
	require.NoError(t, err)
	key := map[string]types.AttributeValue{store.AttrPK: item[store.AttrPK], store.AttrSK: item[store.AttrSK]}

	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key})
	require.NoError(t, err)
	assert.Equal(t, item, got.Item, "GetItem")
	q, err := db.Query(ctx, &dynamodb.QueryInput{TableName: &table, KeyConditionExpression: aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": item[store.AttrPK]}})
	require.NoError(t, err)
	require.Len(t, q.Items, 1)
	assert.Equal(t, item, q.Items[0], "Query")
	assert.EqualValues(t, 1, q.Count)
	bg, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: {Keys: []map[string]types.AttributeValue{key}}}})
	require.NoError(t, err)
	require.Len(t, bg.Responses[table], 1)
	assert.Equal(t, item, bg.Responses[table][0], "BatchGetItem")
	tg, err := db.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{{Get: &types.Get{TableName: &table, Key: key}}}})
	require.NoError(t, err)
	assert.Equal(t, item, tg.Responses[0].Item, "TransactGetItems")
	sc, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: &table, FilterExpression: aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": item[store.AttrPK]}})
	require.NoError(t, err)
	require.Len(t, sc.Items, 1)
	assert.Equal(t, item, sc.Items[0], "Scan")
}

// putLookup is racer i's conditional PutItem of the lookup item.
func putLookup(ctx context.Context, db *dynamodb.Client, table, lookup string, i int) error {
	c := claim(table, lookup, i)
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: c.TableName, Item: c.Item, ConditionExpression: c.ConditionExpression})
	return err
}

// onlyWinner checks that exactly one racer succeeded and every other lost to
// a condition (isTx tells transactions from puts), and returns the winner.
func onlyWinner(t *testing.T, errs []error, isTx func(i int) bool) int {
	t.Helper()
	var winners []int
	for i, err := range errs {
		switch {
		case err == nil:
			winners = append(winners, i)
		case isTx(i):
			require.ErrorAs(t, err, new(*types.TransactionCanceledException), "transaction %d", i)
		default:
			require.ErrorAs(t, err, new(*types.ConditionalCheckFailedException), "put %d", i)
		}
	}
	require.Len(t, winners, 1, "exactly one of the puts and transactions claims the key")
	return winners[0]
}

// waitForAny polls until one of keys can be read, for at most 30 seconds.
func waitForAny(ctx context.Context, db *dynamodb.Client, table string, keys []map[string]types.AttributeValue) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		out, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			table: {Keys: keys, ConsistentRead: aws.Bool(true)},
		}})
		if err != nil {
			return fmt.Errorf("waiting for a transaction's first item: %w", err)
		}
		if len(out.Responses[table]) > 0 {
			return nil
		}
	}
}

// race runs n calls of fn at once (released together) and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// claims is a transaction of racer i: own items of its own, then the lookup
// item. The launcher checks every item, then writes them in order, so the
// lookup's write comes after all the others': the widest window there is
// between its check and its write. A pad of n strings on each own item makes
// each of those writes slower (about 2 ms for n = 1,000), and the window wider.
func claims(table, lookup string, i, own, pad int) []types.TransactWriteItem {
	var items []types.TransactWriteItem
	for j := range own {
		put := claim(table, ownPK(lookup, i, j), i)
		if pad > 0 {
			put.Item["Pad"] = &types.AttributeValueMemberL{Value: slices.Repeat([]types.AttributeValue{&types.AttributeValueMemberS{Value: "x"}}, pad)}
		}
		items = append(items, types.TransactWriteItem{Put: put})
	}
	return append(items, types.TransactWriteItem{Put: claim(table, lookup, i)})
}

func ownPK(lookup string, i, j int) string { return fmt.Sprintf("%s#racer#%d#%d", lookup, i, j) }

// key is the key of the item at pk.
func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: pk},
		store.AttrSK: &types.AttributeValueMemberS{Value: "X"},
	}
}

// claim puts an item at pk owned by racer i, if none is there.
func claim(table, pk string, i int) *types.Put {
	item := key(pk)
	item["Owner"] = &types.AttributeValueMemberN{Value: fmt.Sprint(i)}
	return &types.Put{TableName: aws.String(table), Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")}
}

// owner reads the racer that owns pk, or -1 when no item is there.
func owner(t *testing.T, db *dynamodb.Client, table, pk string) int {
	t.Helper()
	out, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true), Key: key(pk)})
	require.NoError(t, err)
	if out.Item == nil {
		return -1
	}
	n, ok := out.Item["Owner"].(*types.AttributeValueMemberN)
	require.True(t, ok, "Owner is a number")
	var i int
	_, err = fmt.Sscan(n.Value, &i)
	require.NoError(t, err)
	return i
}

// Without python3 StartMoto runs moto_server as it is, and says so (with the
// cost) on the notices writer whatever MOTO_LOG says.
func TestStockMotoFallbackWarns(t *testing.T) {
	bin, err := exec.LookPath("moto_server")
	require.NoError(t, err)
	// A PATH holding only moto_server: the wrapper restores the real PATH for
	// it (a pyenv shim needs it) but StartMoto finds no python3.
	dir := t.TempDir()
	wrapper := fmt.Sprintf("#!/bin/sh\nPATH=%q exec %q \"$@\"\n", os.Getenv("PATH"), bin)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "moto_server"), []byte(wrapper), 0o755))
	t.Setenv("PATH", dir)
	t.Setenv("MOTO_LOG", "")

	var notices testenv.Buffer
	moto, err := localaws.StartMotoWith(0, &notices)
	require.NoError(t, err)
	t.Cleanup(moto.Stop)

	assert.Empty(t, moto.Patches)
	assert.Contains(t, notices.String(), "sendwell: WARNING: python3 was not found on PATH; the local stack runs stock moto_server")
	assert.Contains(t, notices.String(), "slow transactions on large tables")
	assert.Contains(t, notices.String(), "FIFO deduplication works only against messages still in the queue")
}

// applyScript loads the launcher without serving, applies its patches for
// the version in argv[2] (after breaking moto where argv[3] says), and prints
// which patches it reports and which of moto's attributes changed.
const applyScript = `
import importlib.util, json, sys
sys.dont_write_bytecode = True  # no __pycache__ beside the launcher
spec = importlib.util.spec_from_file_location("launcher", sys.argv[1])
launcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launcher)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodb.models.table import Table
from moto.sqs.models import Queue, SQSBackend
import moto.backends
from werkzeug.serving import WSGIRequestHandler
watched = [(Table, n) for n in ("all_items", "query", "put_item", "delete_item")]
watched += [(moto.backends, "list_of_moto_modules"), (WSGIRequestHandler, "log_request")]
from moto.core.responses import ActionResult
watched += [(ActionResult, "execute_result")]
import moto.dynamodb.models.table as table_module
watched += [(table_module, "copy")]
watched += [(DynamoDBBackend, n) for n in ("put_item", "update_item", "delete_item", "transact_write_items")]
watched += [(DynamoHandler, n) for n in ("put_item", "update_item", "delete_item")]
watched += [(Queue, "messages"), (Queue, "delete_message")]
watched += [(Queue, "add_message"), (Queue, "attributes"), (SQSBackend, "send_message"), (SQSBackend, "send_message_batch"), (SQSBackend, "is_message_valid_based_on_retention_period")]
before = {(o, n): o.__dict__[n] for o, n in watched}
if sys.argv[3] == "queue-counts":  # its second attribute is missing: it fails half-way
    del SQSBackend.send_message_batch
applied = launcher.apply(sys.argv[2])
if sys.argv[3] == "queue-counts":
    SQSBackend.send_message_batch = before[(SQSBackend, "send_message_batch")]
changed = sorted(f"{o.__name__}.{n}" for o, n in watched if o.__dict__.get(n) is not before[(o, n)])
print(json.dumps({"applied": sorted(applied), "changed": changed}))
`

// The launcher's fallbacks, in a Python of their own: an unknown moto gets
// no patch, a patch that fails half-way is undone, and both say so loudly.
func TestLauncherFallbacks(t *testing.T) {
	py, err := exec.LookPath("python3")
	require.NoError(t, err)
	dynamoPatched := []string{
		"DynamoDBBackend.delete_item", "DynamoDBBackend.put_item", "DynamoDBBackend.transact_write_items", "DynamoDBBackend.update_item",
		"DynamoHandler.delete_item", "DynamoHandler.put_item", "DynamoHandler.update_item",
		"Table.all_items", "Table.query", "Table.put_item", "Table.delete_item",
		"moto.backends.list_of_moto_modules", "WSGIRequestHandler.log_request", "ActionResult.execute_result",
		"moto.dynamodb.models.table.copy", "Queue.messages", "Queue.delete_message",
	}
	tests := []struct {
		name, version, breaks string
		applied, changed      []string
		warning               string
	}{
		{
			name: "known version", version: localaws.MotoVersion,
			applied: []string{"fifo-dedup", "index-query", "item-json", "partition-query", "queue-counts", "queue-scans", "routing", "transactions"},
			changed: append([]string{"Queue.add_message", "Queue.attributes", "SQSBackend.is_message_valid_based_on_retention_period", "SQSBackend.send_message", "SQSBackend.send_message_batch"}, dynamoPatched...),
		},
		{
			name: "unknown version", version: "5.0.0",
			applied: []string{}, changed: []string{},
			warning: "sendwell: WARNING: moto 5.0.0 is installed but the launcher's patches are written for moto " + localaws.MotoVersion +
				": serving stock moto",
		},
		{
			name: "a patch fails half-way", version: localaws.MotoVersion, breaks: "queue-counts",
			applied: []string{"fifo-dedup", "index-query", "item-json", "partition-query", "queue-scans", "routing", "transactions"},
			changed: append([]string{"Queue.add_message"}, dynamoPatched...),
			warning: "sendwell: WARNING: patch queue-counts did not take (KeyError('send_message_batch')): stock moto there",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(t.Context(), py, "-c", applyScript, "moto_server.py", tt.version, tt.breaks)
			cmd.Env = append(os.Environ(), "MOTO_LOG=") // request lines are not logged
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), stderr.String())

			var got struct{ Applied, Changed []string }
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), stdout.String())
			assert.Equal(t, tt.applied, got.Applied)
			slices.Sort(tt.changed)
			assert.Equal(t, tt.changed, got.Changed, "moto's attributes the launcher left replaced")
			if tt.warning == "" {
				assert.Empty(t, stderr.String())
			} else {
				assert.Contains(t, stderr.String(), tt.warning)
			}
		})
	}
}

// The Go side's pin (the install hint) is the launcher's, which the
// Makefile's check-tools reads.
func TestMotoVersionPinsAgree(t *testing.T) {
	src, err := os.ReadFile("moto_server.py")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^MOTO_VERSION = "([^"]+)"`).FindSubmatch(src)
	require.NotNil(t, m, "moto_server.py sets MOTO_VERSION")
	assert.Equal(t, localaws.MotoVersion, string(m[1]))
	assert.Contains(t, localaws.InstallHint, "moto[server]=="+localaws.MotoVersion)
}
