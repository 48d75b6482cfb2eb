package changes_test

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/config"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/testenv"
)

// The changes function uses no table and no JWT secret: it starts from its
// four queue URLs alone, and builds neither a DynamoDB client nor the guards.
func TestTheChangesFunctionNeedsNoTableAndNoSecret(t *testing.T) {
	env := testenv.New(t)
	res := env.Resources(t)
	cfg := config.Config{DomainEventsQueueURL: res.DomainEventsQueueURL, ImportQueueURL: res.ImportQueueURL, SendQueueURL: res.SendQueueURL, SegmentQueueURL: res.SegmentQueueURL}
	d, err := platform.NewDeps(env.Config, cfg, clock.System{})
	require.NoError(t, err)
	assert.Nil(t, d.Store, "no DynamoDB client")
	assert.Nil(t, d.Tokens, "no JWT secret")
	h, err := changes.Consumer.Build(d)
	require.NoError(t, err)
	env.Counter.Reset()
	out, err := h(t.Context(), events.DynamoDBEvent{})
	require.NoError(t, err)
	assert.Empty(t, out.BatchItemFailures)
	assert.Empty(t, env.Counter.Snapshot(), "an empty batch calls nothing")
	assert.Contains(t, changes.Consumer.Needs, "SEGMENT_QUEUE_URL", "it queues segment jobs")
}
