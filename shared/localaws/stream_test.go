package localaws_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/testenv"
)

// A reader with a checkpoint file goes on, after a restart, from the last
// record it handled: what arrived while it was stopped, and a batch its
// handler did not finish (the process killed mid-batch), are read again;
// what it handled is not. Without a checkpoint it starts from now.
func TestStreamReaderResumesAfterItsCheckpoint(t *testing.T) {
	env := testenv.New(t)
	ctx := t.Context()
	streams := dynamodbstreams.NewFromConfig(env.Config)
	checkpoint := filepath.Join(t.TempDir(), "stream.json")
	put := func(id string) {
		require.NoError(t, env.Store.Put(ctx, map[string]any{"PK": "T#" + id, "SK": "X", "id": id}))
	}
	// follow runs a reader until handle has seen want records (or fails), and returns their ids.
	follow := func(r *localaws.StreamReader, want int, fail bool) []string {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var got []string
		_ = r.Follow(ctx, 20*time.Millisecond, func(ctx context.Context, recs []changes.Record) error {
			for _, rec := range recs {
				var it struct {
					ID string `dynamodbav:"id"`
				}
				require.NoError(t, attributevalue.UnmarshalMap(rec.New, &it))
				got = append(got, it.ID)
			}
			if len(got) >= want {
				cancel()
			}
			if fail {
				return errors.New("killed mid-batch")
			}
			return nil
		})
		return got
	}

	first, err := localaws.NewStreamReaderAt(ctx, env.DB, streams, env.Store.Table, checkpoint)
	require.NoError(t, err)
	put("a")
	assert.Equal(t, []string{"a"}, follow(first, 1, false))

	put("b") // while stopped
	second, err := localaws.NewStreamReaderAt(ctx, env.DB, streams, env.Store.Table, checkpoint)
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, follow(second, 1, true), "what arrived while stopped; this batch is not finished")

	third, err := localaws.NewStreamReaderAt(ctx, env.DB, streams, env.Store.Table, checkpoint)
	require.NoError(t, err)
	put("c")
	assert.Equal(t, []string{"b", "c"}, follow(third, 2, false), "the unfinished batch again, then the new record")

	fresh, err := localaws.NewStreamReader(ctx, env.DB, streams, env.Store.Table)
	require.NoError(t, err)
	put("d")
	assert.Equal(t, []string{"d"}, follow(fresh, 1, false), "without a checkpoint: from now on")
}
