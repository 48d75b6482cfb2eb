package worker

import (
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/sendwell/sendwell/shared/automation/fanout"
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/platform"
)

// Function is the sequence-worker function: the sequence queue's trigger
// events, enrollment steps, resumes and broadcast fan-out pages. Sends go
// through the messages pipeline (a send item the stream hands to the send
// worker), never to SES from here.
var Function = platform.Worker[platform.SQSHandler]{
	Name:  "sequence-worker",
	Needs: []string{"TABLE_NAME", "SEQUENCE_QUEUE_URL"},
	Build: func(d *platform.Deps) (platform.SQSHandler, error) {
		q := sqs.NewFromConfig(d.AWS)
		msgs := messages.NewService(d.Store, d.Clock)
		fo := fanout.New(d.Store, d.Clock, msgs, q, d.Config.SequenceQueueURL)
		return New(d.Store, d.Clock, msgs, q, d.Config.SequenceQueueURL, fo).Handle, nil
	},
}
