package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/store"
)

// BenchmarkSegmentsThroughMakeRun measures segments through `make run`'s
// real pollers (the stream follower, the domain-events and segment queues,
// the segment worker): the freshness of a membership, from the API call
// that changes a contact (or tracks an event) to the entry being visible in
// GET /api/contacts/{id}/segments, and the build of a segment over
// SEGMENT_CONTACTS contacts (10,000 by default).
//
//	make bench-segments
func BenchmarkSegmentsThroughMakeRun(b *testing.B) {
	changes, contacts := envInt("SEGMENT_CHANGES", 100), envInt("SEGMENT_CONTACTS", 10000)
	moto, err := localaws.StartMoto(0)
	require.NoError(b, err)
	b.Cleanup(moto.Stop)
	b.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	b.Setenv("TABLE_NAME", "bench-segments")
	b.Setenv("OUTBOX_DIR", b.TempDir())
	b.Setenv("PUBLIC_BASE_URL", "")
	b.Setenv("RATE_LIMIT_PER_MINUTE", "1000000")
	base, key, stop := start(b)
	defer stop()
	// The demo organisation is on the free plan (2,000 contacts): the build
	// needs more. Before any request authenticates (the key's principal,
	// with its plan, is then cached), move it to the scale plan.
	setPlan(b, moto.Endpoint, "bench-segments", "demo@sendwell.local", "scale")
	call := func(method, path string, body any, out any) int {
		var buf bytes.Buffer
		if body != nil {
			require.NoError(b, json.NewEncoder(&buf).Encode(body))
		}
		req, _ := http.NewRequest(method, base+path, &buf)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		defer res.Body.Close()
		if out != nil {
			require.NoError(b, json.NewDecoder(res.Body).Decode(out))
		}
		return res.StatusCode
	}
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
			if call("GET", "/api/contacts/"+contactID+"/segments", nil, &page) != http.StatusOK {
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
	segment := func(name string, def string) string {
		var out map[string]any
		require.Equal(b, http.StatusCreated, call("POST", "/api/segments", map[string]any{"name": name, "definition": json.RawMessage(def)}, &out), out)
		return out["id"].(string)
	}
	quantiles := func(d []time.Duration) (time.Duration, time.Duration) {
		slices.Sort(d)
		return d[len(d)/2], d[len(d)*95/100]
	}
	for b.Loop() {
		pro := segment("pro", `{"property":"plan","operator":"eq","value":"pro"}`)
		buyers := segment("buyers", `{"event":"order.completed","count":{"gte":1},"within":"P30D"}`)
		var byPatch, byEvent []time.Duration
		for i := range changes {
			var c map[string]any
			require.Equal(b, http.StatusCreated, call("POST", "/api/contacts", map[string]any{"email": fmt.Sprintf("fresh%d@example.com", i), "properties": map[string]any{"plan": "free"}}, &c), c)
			id := c["id"].(string)
			at := time.Now()
			require.Equal(b, http.StatusOK, call("PATCH", "/api/contacts/"+id, map[string]any{"properties": map[string]any{"plan": "pro"}}, nil))
			byPatch = append(byPatch, member(id, pro, at))
			at = time.Now()
			require.Equal(b, http.StatusAccepted, call("POST", "/api/events", map[string]any{"contactId": id, "name": "order.completed"}, nil))
			byEvent = append(byEvent, member(id, buyers, at))
		}
		p50, p95 := quantiles(byPatch)
		b.ReportMetric(float64(p50.Milliseconds()), "patch-p50-ms")
		b.ReportMetric(float64(p95.Milliseconds()), "patch-p95-ms")
		e50, e95 := quantiles(byEvent)
		b.ReportMetric(float64(e50.Milliseconds()), "event-p50-ms")
		b.ReportMetric(float64(e95.Milliseconds()), "event-p95-ms")

		// The build: contacts first, then a new segment over all of them.
		for i := 0; i < contacts; i += 100 {
			var batch []map[string]any
			for j := i; j < min(i+100, contacts); j++ {
				batch = append(batch, map[string]any{"email": fmt.Sprintf("c%d@example.com", j), "properties": map[string]any{"n": j}})
			}
			var out map[string]any
			require.Equal(b, http.StatusOK, call("POST", "/api/contacts/batch", map[string]any{"contacts": batch}, &out), out)
		}
		start := time.Now()
		half := segment("half", fmt.Sprintf(`{"property":"n","operator":"lt","value":%d}`, contacts/2))
		var seg map[string]any
		require.Eventually(b, func() bool {
			require.Equal(b, http.StatusOK, call("GET", "/api/segments/"+half, nil, &seg))
			return seg["status"] == "ready"
		}, 30*time.Minute, 500*time.Millisecond, "the build did not finish")
		took := time.Since(start)
		require.EqualValues(b, contacts/2, seg["size"], seg)
		b.ReportMetric(took.Seconds(), "build-s")
		b.ReportMetric(float64(contacts)/took.Seconds(), "built-contacts/s")
		fmt.Fprintf(os.Stderr, "freshness over %d changes: PATCH p50 %s p95 %s, event p50 %s p95 %s; build of %d contacts in %s (size %v)\n",
			changes, p50, p95, e50, e95, contacts+2*changes, took.Round(time.Millisecond), seg["size"])

		// Previews over the same audience: a property (pages of contacts
		// alone) and an event window (a Query of each contact's events).
		for _, p := range []struct{ name, def string }{
			{"property", fmt.Sprintf(`{"property":"n","operator":"lt","value":%d}`, contacts/2)},
			{"event", `{"event":"order.completed","count":{"gte":1},"within":"P30D"}`},
		} {
			var out struct {
				Count int `json:"count"`
			}
			start := time.Now()
			require.Equal(b, http.StatusOK, call("POST", "/api/segments/preview", map[string]any{"definition": json.RawMessage(p.def)}, &out))
			took := time.Since(start)
			b.ReportMetric(took.Seconds(), "preview-"+p.name+"-s")
			fmt.Fprintf(os.Stderr, "preview (%s) over %d contacts: %s, count %d\n", p.name, contacts+2*changes, took.Round(time.Millisecond), out.Count)
		}
	}
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
