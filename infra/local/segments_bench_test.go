package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/store"
)

// segmentsAPI is a started `make run` stack and a client of its API.
type segmentsAPI struct {
	b        *testing.B
	endpoint string // moto's
	table    string
	base     string
	key      string
}

// segmentsStack starts moto and `make run` on table, with the demo
// organisation on the scale plan (the free plan's 2,000 contacts are too
// few for a build).
func segmentsStack(b *testing.B, table string) (*segmentsAPI, func()) {
	moto, err := localaws.StartMoto(0)
	require.NoError(b, err)
	b.Cleanup(moto.Stop)
	b.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	b.Setenv("TABLE_NAME", table)
	b.Setenv("OUTBOX_DIR", b.TempDir())
	b.Setenv("PUBLIC_BASE_URL", "")
	b.Setenv("RATE_LIMIT_PER_MINUTE", "1000000")
	base, key, stop := start(b)
	// Before any request authenticates (the key's principal, with its plan,
	// is then cached), move the organisation to the scale plan.
	setPlan(b, moto.Endpoint, table, "demo@sendwell.local", "scale")
	return &segmentsAPI{b: b, endpoint: moto.Endpoint, table: table, base: base, key: key}, stop
}

func (a *segmentsAPI) call(method, path string, body any, out any) int {
	var buf bytes.Buffer
	if body != nil {
		require.NoError(a.b, json.NewEncoder(&buf).Encode(body))
	}
	req, _ := http.NewRequest(method, a.base+path, &buf)
	req.Header.Set("Authorization", "Bearer "+a.key)
	res, err := http.DefaultClient.Do(req)
	require.NoError(a.b, err)
	defer res.Body.Close()
	if out != nil {
		require.NoError(a.b, json.NewDecoder(res.Body).Decode(out))
	}
	return res.StatusCode
}

func (a *segmentsAPI) segment(name string, def string) string {
	var out map[string]any
	require.Equal(a.b, http.StatusCreated, a.call("POST", "/api/segments", map[string]any{"name": name, "definition": json.RawMessage(def)}, &out), out)
	return out["id"].(string)
}

// BenchmarkSegmentFreshnessThroughMakeRun measures, through `make run`'s
// real pollers (the stream follower, the domain-events queue, the segment
// worker), the freshness of a membership: from the API call that changes a
// contact (or tracks an event) to the entry being visible in
// GET /api/contacts/{id}/segments, over SEGMENT_CHANGES changes (100).
//
//	make bench-segments
func BenchmarkSegmentFreshnessThroughMakeRun(b *testing.B) {
	changes := envInt("SEGMENT_CHANGES", 100)
	a, stop := segmentsStack(b, "bench-segment-freshness")
	defer stop()
	// member polls (an external process: there is no clock to move) until
	// the contact is in the segment, and returns how long that took.
	member := func(contactID, segmentID string, since time.Time) time.Duration {
		var took time.Duration
		require.Eventually(b, func() bool {
			var page struct {
				Data []struct {
					SegmentID string `json:"segmentId"`
				} `json:"data"`
			}
			if a.call("GET", "/api/contacts/"+contactID+"/segments", nil, &page) != http.StatusOK {
				return false
			}
			for _, m := range page.Data {
				if m.SegmentID == segmentID {
					took = time.Since(since)
					return true
				}
			}
			return false
		}, time.Minute, 10*time.Millisecond, "contact %s never entered %s", contactID, segmentID)
		return took
	}
	quantiles := func(d []time.Duration) (time.Duration, time.Duration) {
		slices.Sort(d)
		return d[len(d)/2], d[len(d)*95/100]
	}
	for b.Loop() {
		pro := a.segment("pro", `{"property":"plan","operator":"eq","value":"pro"}`)
		buyers := a.segment("buyers", `{"event":"order.completed","count":{"gte":1},"within":"P30D"}`)
		var byPatch, byEvent []time.Duration
		for i := range changes {
			var c map[string]any
			require.Equal(b, http.StatusCreated, a.call("POST", "/api/contacts", map[string]any{"email": fmt.Sprintf("fresh%d@example.com", i), "properties": map[string]any{"plan": "free"}}, &c), c)
			id := c["id"].(string)
			at := time.Now()
			require.Equal(b, http.StatusOK, a.call("PATCH", "/api/contacts/"+id, map[string]any{"properties": map[string]any{"plan": "pro"}}, nil))
			byPatch = append(byPatch, member(id, pro, at))
			at = time.Now()
			require.Equal(b, http.StatusAccepted, a.call("POST", "/api/events", map[string]any{"contactId": id, "name": "order.completed"}, nil))
			byEvent = append(byEvent, member(id, buyers, at))
		}
		p50, p95 := quantiles(byPatch)
		b.ReportMetric(float64(p50.Milliseconds()), "patch-p50-ms")
		b.ReportMetric(float64(p95.Milliseconds()), "patch-p95-ms")
		e50, e95 := quantiles(byEvent)
		b.ReportMetric(float64(e50.Milliseconds()), "event-p50-ms")
		b.ReportMetric(float64(e95.Milliseconds()), "event-p95-ms")
		fmt.Fprintf(os.Stderr, "freshness over %d changes: PATCH p50 %s p95 %s, event p50 %s p95 %s\n", changes, p50, p95, e50, e95)
	}
}

// BenchmarkSegmentBuildThroughMakeRun measures, through `make run`, the
// build of a segment over SEGMENT_CONTACTS contacts (2,000; the README's
// figure is for 10,000), and previews over them. The contacts are loaded
// first, and the build is timed once
// their contact.created events have gone through the segment worker, so
// it measures the build, not the import's backlog.
//
//	make bench-segments
func BenchmarkSegmentBuildThroughMakeRun(b *testing.B) {
	contacts := envInt("SEGMENT_CONTACTS", 2000)
	a, stop := segmentsStack(b, "bench-segment-build")
	defer stop()
	for b.Loop() {
		loaded := time.Now()
		for i := 0; i < contacts; i += 100 {
			var batch []map[string]any
			for j := i; j < min(i+100, contacts); j++ {
				batch = append(batch, map[string]any{"email": fmt.Sprintf("c%d@example.com", j), "properties": map[string]any{"n": j}})
			}
			var out map[string]any
			require.Equal(b, http.StatusOK, a.call("POST", "/api/contacts/batch", map[string]any{"contacts": batch}, &out), out)
		}
		a.drained("domain-events", 30*time.Minute)
		fmt.Fprintf(os.Stderr, "loaded %d contacts (and their domain events) in %s\n", contacts, time.Since(loaded).Round(time.Second))

		start := time.Now()
		half := a.segment("half", fmt.Sprintf(`{"property":"n","operator":"lt","value":%d}`, contacts/2))
		var seg map[string]any
		require.Eventually(b, func() bool {
			require.Equal(b, http.StatusOK, a.call("GET", "/api/segments/"+half, nil, &seg))
			return seg["status"] == "ready"
		}, 30*time.Minute, 500*time.Millisecond, "the build did not finish")
		took := time.Since(start)
		require.EqualValues(b, contacts/2, seg["size"], seg)
		b.ReportMetric(took.Seconds(), "build-s")
		b.ReportMetric(float64(contacts)/took.Seconds(), "built-contacts/s")
		fmt.Fprintf(os.Stderr, "build of %d contacts in %s (size %v)\n", contacts, took.Round(time.Millisecond), seg["size"])

		// Previews over the same audience: a property (pages of contacts
		// alone) and an event window (the tenant's events of that name too).
		for _, p := range []struct{ name, def string }{
			{"property", fmt.Sprintf(`{"property":"n","operator":"lt","value":%d}`, contacts/2)},
			{"event", `{"event":"order.completed","count":{"gte":1},"within":"P30D"}`},
		} {
			var out struct {
				Count int `json:"count"`
			}
			start := time.Now()
			require.Equal(b, http.StatusOK, a.call("POST", "/api/segments/preview", map[string]any{"definition": json.RawMessage(p.def)}, &out))
			took := time.Since(start)
			b.ReportMetric(took.Seconds(), "preview-"+p.name+"-s")
			fmt.Fprintf(os.Stderr, "preview (%s) over %d contacts: %s, count %d\n", p.name, contacts, took.Round(time.Millisecond), out.Count)
		}
	}
}

// drained waits until the queue whose name contains name has no message
// left, visible or in flight.
func (a *segmentsAPI) drained(name string, within time.Duration) {
	ctx := a.b.Context()
	cfg, err := localaws.Config(ctx, a.endpoint)
	require.NoError(a.b, err)
	q := sqs.NewFromConfig(cfg)
	list, err := q.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String(a.table + "-" + name)})
	require.NoError(a.b, err)
	require.Len(a.b, list.QueueUrls, 1)
	require.Eventually(a.b, func() bool {
		out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &list.QueueUrls[0],
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			return false
		}
		left := 0
		for _, v := range out.Attributes {
			n, _ := strconv.Atoi(v)
			left += n
		}
		return left == 0
	}, within, 2*time.Second, "the %s queue did not drain", name)
}

// setPlan puts the organisation of the user with email on plan, in the
// table directly (there is no API for plans).
func setPlan(b *testing.B, endpoint, table, email, plan string) {
	ctx := b.Context()
	cfg, err := localaws.Config(ctx, endpoint)
	require.NoError(b, err)
	db := dynamodb.NewFromConfig(cfg)
	st := store.New(db, table)
	var login struct {
		OrgID string `dynamodbav:"orgId"`
	}
	require.NoError(b, st.Get(ctx, store.LoginKey(email), &login))
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &table, Key: store.OrgKey(login.OrgID).KeyAV(),
		UpdateExpression:          aws.String("SET #p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": "plan"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: plan}}})
	require.NoError(b, err)
}
