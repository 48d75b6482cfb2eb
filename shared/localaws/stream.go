package localaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/sendwell/sendwell/shared/changes"
)

// StreamReader reads the table's stream as Lambda's event source mapping
// does in AWS, for the local server and the tests.
type StreamReader struct {
	streams   *dynamodbstreams.Client
	arn       string
	iterators map[string]*string // shard id -> next iterator (nil: shard closed)

	// With a checkpoint file (NewStreamReaderAt), the last record handled
	// of each shard is kept there, as the event source mapping keeps it in
	// AWS: a reader started again on the same stream (make run stopped and
	// started on the same emulator, or killed mid-batch) goes on after it,
	// so no record is lost and a batch cut short is handled again.
	checkpoint string
	done       map[string]string // shard id -> last sequence number handled
	read       map[string]string // shard id -> last sequence number read
}

// streamCheckpoint is the checkpoint file's content.
type streamCheckpoint struct {
	StreamArn string            `json:"streamArn"`
	Shards    map[string]string `json:"shards"`
}

// NewStreamReader opens the table's stream from now on (LATEST).
func NewStreamReader(ctx context.Context, db *dynamodb.Client, streams *dynamodbstreams.Client, table string) (*StreamReader, error) {
	return NewStreamReaderAt(ctx, db, streams, table, "")
}

// NewStreamReaderAt opens the table's stream after the records the
// checkpoint file says were handled, when it names this stream (a shard it
// does not know is read from its start); from now on (LATEST) otherwise, or
// when checkpoint is "". Follow keeps the file up to date.
func NewStreamReaderAt(ctx context.Context, db *dynamodb.Client, streams *dynamodbstreams.Client, table, checkpoint string) (*StreamReader, error) {
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		return nil, fmt.Errorf("localaws: describe %s: %w", table, err)
	}
	if out.Table.LatestStreamArn == nil {
		return nil, fmt.Errorf("localaws: table %s has no stream", table)
	}
	r := &StreamReader{streams: streams, arn: *out.Table.LatestStreamArn, iterators: map[string]*string{},
		checkpoint: checkpoint, done: map[string]string{}, read: map[string]string{}}
	from := types.ShardIteratorTypeLatest
	if checkpoint != "" {
		saved, err := readCheckpoint(checkpoint)
		if err != nil {
			return nil, err
		}
		if saved.StreamArn == r.arn {
			r.done = saved.Shards
			from = types.ShardIteratorTypeTrimHorizon // shards born since the checkpoint
		}
	}
	return r, r.discover(ctx, from)
}

func readCheckpoint(path string) (streamCheckpoint, error) {
	var c streamCheckpoint
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("localaws: read the stream checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		slog.Warn("localaws: stream checkpoint unreadable, reading from now on", "path", path, "error", err.Error())
		return streamCheckpoint{}, nil
	}
	return c, nil
}

// save records that every record read so far was handled.
func (r *StreamReader) save() error {
	if r.checkpoint == "" {
		return nil
	}
	for shard, seq := range r.read {
		r.done[shard] = seq
	}
	b, err := json.Marshal(streamCheckpoint{StreamArn: r.arn, Shards: r.done})
	if err != nil {
		return err
	}
	tmp := r.checkpoint + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("localaws: write the stream checkpoint: %w", err)
	}
	return os.Rename(tmp, r.checkpoint)
}

// discover opens the shards not seen yet: after the checkpoint's record
// for a shard it names, else at from.
func (r *StreamReader) discover(ctx context.Context, from types.ShardIteratorType) error {
	out, err := r.streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &r.arn})
	if err != nil {
		return fmt.Errorf("localaws: describe stream: %w", err)
	}
	for _, sh := range out.StreamDescription.Shards {
		if _, seen := r.iterators[*sh.ShardId]; seen {
			continue
		}
		in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &r.arn, ShardId: sh.ShardId, ShardIteratorType: from}
		if seq, ok := r.done[*sh.ShardId]; ok {
			in.ShardIteratorType, in.SequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(seq)
		}
		it, err := r.streams.GetShardIterator(ctx, in)
		if err != nil {
			return fmt.Errorf("localaws: shard iterator: %w", err)
		}
		r.iterators[*sh.ShardId] = it.ShardIterator
	}
	return nil
}

// Read returns the records that arrived since the last call.
func (r *StreamReader) Read(ctx context.Context) ([]changes.Record, error) {
	if err := r.discover(ctx, types.ShardIteratorTypeTrimHorizon); err != nil {
		return nil, err
	}
	var out []changes.Record
	for shard, it := range r.iterators {
		if it == nil {
			continue
		}
		res, err := r.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it})
		if err != nil {
			return nil, fmt.Errorf("localaws: get records: %w", err)
		}
		for _, rec := range res.Records {
			c, err := fromStream(rec)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
			if rec.Dynamodb != nil && rec.Dynamodb.SequenceNumber != nil {
				r.read[shard] = *rec.Dynamodb.SequenceNumber
			}
		}
		r.iterators[shard] = res.NextShardIterator
	}
	return out, nil
}

// maxStreamAttempts is how often a failing batch is retried locally.
const maxStreamAttempts = 10

// Follow reads the stream until ctx ends and hands each batch to handle.
func (r *StreamReader) Follow(ctx context.Context, every time.Duration, handle func(context.Context, []changes.Record) error) error {
	t := time.NewTicker(every)
	defer t.Stop()
	var pending []changes.Record
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		recs, err := r.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		pending = append(pending, recs...)
		if len(pending) == 0 {
			continue
		}
		if err := handle(ctx, pending); err != nil {
			// As Lambda does: the same records again, in order, a few times;
			// then they are set aside (in AWS, on the changes DLQ).
			failures++
			slog.ErrorContext(ctx, "changes: batch failed", "records", len(pending), "attempt", failures, "error", err.Error())
			if failures < maxStreamAttempts {
				continue
			}
			slog.ErrorContext(ctx, "changes: batch dropped after retries", "records", len(pending))
		}
		if err := r.save(); err != nil {
			slog.ErrorContext(ctx, "changes: stream checkpoint not saved", "error", err.Error())
		}
		pending, failures = nil, 0
	}
}

// fromStream is a stream record in the form the changes function reads.
// The SDK's attributevalue package converts the images (a nil image stays nil).
func fromStream(rec types.Record) (changes.Record, error) {
	out := changes.Record{EventID: aws.ToString(rec.EventID), EventName: string(rec.EventName)}
	if d := rec.Dynamodb; d != nil {
		if d.ApproximateCreationDateTime != nil {
			out.At = d.ApproximateCreationDateTime.UTC()
		}
		var err error
		if out.Old, err = image(d.OldImage); err != nil {
			return out, err
		}
		if out.New, err = image(d.NewImage); err != nil {
			return out, err
		}
	}
	return out, nil
}

func image(img map[string]types.AttributeValue) (map[string]ddbtypes.AttributeValue, error) {
	if img == nil {
		return nil, nil
	}
	out, err := attributevalue.FromDynamoDBStreamsMap(img)
	if err != nil {
		return nil, fmt.Errorf("localaws: stream image: %w", err)
	}
	return out, nil
}
