package localaws_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/testenv"
)

// The local stack has the send queue template.yaml declares: a message put
// on it comes back to a receiver, and its redrive policy names its DLQ
// after 5 receives.
// The SES configuration set exists, and making the resources twice (a
// second `make run` on one emulator) finds them rather than failing.
func TestEnsureResourcesMakesTheSendQueueAndConfigurationSet(t *testing.T) {
	env := testenv.New(t)
	ctx := t.Context()
	r := env.Resources(t)
	require.NotEmpty(t, r.SendQueueURL)
	require.NotEmpty(t, r.SendDLQURL)
	require.NotEmpty(t, r.ConfigurationSet)

	again, err := localaws.EnsureResources(ctx, env.Config, env.Store.Table)
	require.NoError(t, err, "a second run finds the resources")
	assert.Equal(t, r, again)

	q := sqs.NewFromConfig(env.Config)
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &r.SendQueueURL,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy}})
	require.NoError(t, err)
	dlqAttrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &r.SendDLQURL,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(t, err)
	var redrive struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     any    `json:"maxReceiveCount"`
	}
	require.NoError(t, json.Unmarshal([]byte(attrs.Attributes[string(sqstypes.QueueAttributeNameRedrivePolicy)]), &redrive))
	assert.Equal(t, dlqAttrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], redrive.DeadLetterTargetArn)
	assert.EqualValues(t, "5", toString(redrive.MaxReceiveCount))

	body, err := json.Marshal(sends.Job{OrgID: "org_1", SendID: "msg_1"})
	require.NoError(t, err)
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &r.SendQueueURL, MessageBody: aws.String(string(body))})
	require.NoError(t, err)
	out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &r.SendQueueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
	require.NoError(t, err)
	require.Len(t, out.Messages, 1)
	var job sends.Job
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &job))
	assert.Equal(t, sends.Job{OrgID: "org_1", SendID: "msg_1"}, job)

	// moto 5.2.1's GetConfigurationSet answer does not decode (an object
	// where SendingEnabled's bool belongs) and its ListConfigurationSets is
	// not routed, so: one it has is not NotFound, one it lacks is.
	ses := sesv2.NewFromConfig(env.Config)
	_, err = ses.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: &r.ConfigurationSet})
	assert.False(t, errors.As(err, new(*sestypes.NotFoundException)), "the configuration set exists: %v", err)
	_, err = ses.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String(r.ConfigurationSet + "-missing")})
	assert.ErrorAs(t, err, new(*sestypes.NotFoundException))
}

// toString reads maxReceiveCount, which SQS gives as a string or a number.
func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		b, _ := json.Marshal(v)
		return string(b)
	}
	return ""
}

// The local stack has the segment queue template.yaml declares: standard,
// a message put on it comes back to a receiver, and its redrive policy
// names its own DLQ after 5 receives.
func TestEnsureResourcesMakesTheSegmentQueue(t *testing.T) {
	env := testenv.New(t)
	ctx := t.Context()
	r := env.Resources(t)
	require.NotEmpty(t, r.SegmentQueueURL)
	require.NotEmpty(t, r.SegmentDLQURL)
	assert.NotEqual(t, r.SendQueueURL, r.SegmentQueueURL, "a queue of its own")
	assert.NotEqual(t, r.SendDLQURL, r.SegmentDLQURL, "a DLQ of its own")

	q := sqs.NewFromConfig(env.Config)
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &r.SegmentQueueURL,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy, sqstypes.QueueAttributeNameVisibilityTimeout}})
	require.NoError(t, err)
	dlqAttrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &r.SegmentDLQURL,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(t, err)
	var redrive struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     any    `json:"maxReceiveCount"`
	}
	require.NoError(t, json.Unmarshal([]byte(attrs.Attributes[string(sqstypes.QueueAttributeNameRedrivePolicy)]), &redrive))
	assert.Equal(t, dlqAttrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], redrive.DeadLetterTargetArn)
	assert.EqualValues(t, "5", toString(redrive.MaxReceiveCount))
	assert.Equal(t, fmt.Sprint(localaws.SegmentVisibility), attrs.Attributes[string(sqstypes.QueueAttributeNameVisibilityTimeout)])

	const job = `{"evaluate":{"orgId":"org_1","contactId":"cnt_1"}}`
	_, err = q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &r.SegmentQueueURL, MessageBody: aws.String(job)})
	require.NoError(t, err)
	out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &r.SegmentQueueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
	require.NoError(t, err)
	require.Len(t, out.Messages, 1)
	assert.JSONEq(t, job, aws.ToString(out.Messages[0].Body))
}
