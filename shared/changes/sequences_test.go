package changes_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/changes"
)

func image(t *testing.T, v any) map[string]types.AttributeValue {
	t.Helper()
	if v == nil {
		return nil
	}
	av, err := attributevalue.MarshalMap(v)
	require.NoError(t, err)
	return av
}

// The stream turns (the test writes the items with journey's types, the
// reference of the attributes the changes function reads by name) an enrollment's insert into its first step job, a
// paused sequence made active into a resume job, a broadcast that starts
// sending into its first page job, and an enrollment's webhook step into
// sequence.step; other changes of those items queue nothing.
func TestSequenceItemsMakeTheirJobs(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	enr := journey.Enrollment{OrgID: org, ID: "enr_1", SequenceID: "welcome", ContactID: "cnt_1", Status: journey.EnrActive, Step: "s1"}
	enr.SetKeys()
	hooked := enr
	hooked.Seq, hooked.Step = 1, "s2"
	hooked.History = []journey.StepRecord{{Seq: 0, Step: "s1", Type: "webhook", Version: 3, At: at, Result: journey.ResultWebhook, Data: `{"plan":"pro"}`}}
	moved := hooked
	moved.Seq = 2
	moved.History = append(moved.History, journey.StepRecord{Seq: 1, Step: "s2", Type: "wait", At: at, Result: journey.ResultWaiting})
	seq := journey.Sequence{Type: journey.SequenceType, OrgID: org, ID: "welcome", Status: journey.Paused}
	active := seq
	active.Status = journey.Active
	bc := journey.Broadcast{Type: journey.BroadcastType, OrgID: org, ID: "bc_1", Status: journey.BcDraft}
	sending := bc
	sending.Status = journey.BcSending
	page := sending
	page.Pages = 1

	cases := []struct {
		name      string
		event     string
		old, cur  any
		job       *changes.SequenceJob
		eventType string
	}{
		{"enrollment inserted", changes.Insert, nil, enr, &changes.SequenceJob{Step: &changes.StepRef{OrgID: org, EnrollmentID: "enr_1", Seq: 0}}, ""},
		{"webhook step taken", changes.Modify, enr, hooked, nil, changes.SequenceStep},
		{"another step taken", changes.Modify, hooked, moved, nil, ""},
		{"sequence resumed", changes.Modify, seq, active, &changes.SequenceJob{Resume: &changes.SequenceRef{OrgID: org, SequenceID: "welcome"}}, ""},
		{"sequence paused", changes.Modify, active, seq, nil, ""},
		{"broadcast started", changes.Modify, bc, sending, &changes.SequenceJob{Broadcast: &changes.BroadcastRef{OrgID: org, BroadcastID: "bc_1"}}, ""},
		{"broadcast page checkpointed", changes.Modify, sending, page, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := changes.Record{EventID: "e1", EventName: c.event, At: at, Old: image(t, c.old), New: image(t, c.cur)}
			p := &pub{}
			done, err := changes.Process(t.Context(), p, []changes.Record{rec})
			require.NoError(t, err)
			require.Equal(t, 1, done)
			if c.job == nil {
				require.Empty(t, p.seqs)
			} else {
				require.Equal(t, []changes.SequenceJob{*c.job}, p.seqs)
				body, err := json.Marshal(c.job)
				require.NoError(t, err)
				var j journey.Job // the worker reads it as its own type
				require.NoError(t, json.Unmarshal(body, &j))
				again, err := json.Marshal(j)
				require.NoError(t, err)
				require.JSONEq(t, string(body), string(again))
			}
			if c.eventType == "" {
				require.Empty(t, p.events)
				return
			}
			require.Len(t, p.events, 1)
			require.Equal(t, c.eventType, p.events[0].Type)
			require.Equal(t, "cnt_1", p.events[0].ContactID)
			b, err := json.Marshal(p.events[0].Data)
			require.NoError(t, err)
			require.JSONEq(t, `{"sequenceId":"welcome","version":3,"enrollmentId":"enr_1","contactId":"cnt_1","stepId":"s1",
				"at":"2026-12-02T09:00:00Z","data":{"plan":"pro"}}`, string(b))
		})
	}
}
