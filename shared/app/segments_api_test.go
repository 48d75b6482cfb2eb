package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/app"
	"github.com/sendwell/sendwell/shared/store"
)

func (c *tenantAPI) createSegment(body map[string]any) map[string]any {
	c.t.Helper()
	r := c.call("POST", "/api/segments", body)
	require.Equal(c.t, http.StatusCreated, r.Status, string(r.Body))
	return r.JSON(c.t)
}

// segmentsOnly is the tenant's API served by the segments function alone,
// as its Lambda serves it (API Gateway routes GET /api/contacts/{id}/segments
// to it).
func (c *tenantAPI) segmentsOnly() *tenantAPI {
	c.t.Helper()
	h, err := app.Router(c.deps, "segments")
	require.NoError(c.t, err)
	srv := httptest.NewServer(h)
	c.t.Cleanup(srv.Close)
	a := *c.api
	a.srv = srv
	return &tenantAPI{api: &a, s: c.s, key: c.key}
}

// addMember writes a membership as the worker does: the member item and
// its mirror in the contact's partition.
func (c *tenantAPI) addMember(segID, contactID string, at time.Time) {
	c.t.Helper()
	for _, k := range []struct {
		key  store.Key
		kind string
	}{
		{store.SegmentMemberKey(c.s.OrgID, segID, contactID), "segmentMember"},
		{store.ContactSegmentKey(c.s.OrgID, contactID, segID), "contactSegment"},
	} {
		require.NoError(c.t, c.env.Store.Put(c.t.Context(), map[string]any{"PK": k.key.PK, "SK": k.key.SK, "type": k.kind,
			"orgId": c.s.OrgID, "segmentId": segID, "contactId": contactID, "enteredAt": at.UTC().Format(time.RFC3339Nano)}))
	}
}

// segmentsVersion reads the tenant's segments version, which workers watch.
func (c *tenantAPI) segmentsVersion() int {
	c.t.Helper()
	var v struct {
		Version int `dynamodbav:"version"`
	}
	err := c.env.Store.GetConsistent(c.t.Context(), store.SegmentsVersionKey(c.s.OrgID), &v)
	if err != nil {
		return 0
	}
	return v.Version
}

var proDefinition = map[string]any{"all": []any{
	map[string]any{"property": "plan", "operator": "eq", "value": "pro"},
	map[string]any{"tag": "vip"},
}}

func TestSegmentLifecycle(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("segments@example.com")

	created := c.createSegment(map[string]any{"name": "  Pro VIPs ", "description": "Paying", "definition": proDefinition})
	id := created["id"].(string)
	assert.True(t, strings.HasPrefix(id, "seg_"))
	assert.Equal(t, "Pro VIPs", created["name"])
	assert.Equal(t, "building", created["status"])
	assert.EqualValues(t, 0, created["size"])
	assert.Equal(t, map[string]any{"processed": 0.0, "total": nil}, created["progress"])
	assert.NotNil(t, created["definition"].(map[string]any)["all"])
	assert.Equal(t, 1, c.segmentsVersion(), "a create bumps the tenant's segments version")

	got := c.call("GET", "/api/segments/"+id, nil)
	require.Equal(t, http.StatusOK, got.Status)
	assert.Equal(t, created, got.JSON(t))

	second := c.createSegment(map[string]any{"name": "Anyone", "definition": map[string]any{"tag": "vip", "has": false}})
	assert.Nil(t, second["description"])
	page := c.call("GET", "/api/segments?limit=1", nil).JSON(t)
	require.Len(t, page["data"].([]any), 1)
	assert.Equal(t, second["id"], page["data"].([]any)[0].(map[string]any)["id"], "newest first")
	next := c.call("GET", "/api/segments?limit=1&cursor="+page["nextCursor"].(string), nil).JSON(t)
	assert.Equal(t, id, next["data"].([]any)[0].(map[string]any)["id"])
	assert.Nil(t, next["nextCursor"])

	// The worker finished the build: a rename keeps what it wrote.
	_, err := c.env.DB.UpdateItem(t.Context(), updateBuild(c.env.Store.Table, store.SegmentKey(c.s.OrgID, id)))
	require.NoError(t, err)
	a.clock.Advance(time.Minute)
	renamed := c.call("PATCH", "/api/segments/"+id, map[string]any{"name": "Pro", "description": nil})
	require.Equal(t, http.StatusOK, renamed.Status, string(renamed.Body))
	r := renamed.JSON(t)
	assert.Equal(t, "Pro", r["name"])
	assert.Nil(t, r["description"])
	assert.Equal(t, "ready", r["status"])
	assert.EqualValues(t, 7, r["size"])
	assert.NotEqual(t, created["updatedAt"], r["updatedAt"])
	assert.Equal(t, r, c.call("GET", "/api/segments/"+id, nil).JSON(t))

	// The same definition written differently is no rebuild; a new one is.
	same := c.call("PATCH", "/api/segments/"+id, map[string]any{"definition": map[string]any{"all": []any{
		map[string]any{"value": "pro", "operator": "eq", "property": "plan"}, map[string]any{"tag": "vip"}}}}).JSON(t)
	assert.Equal(t, "ready", same["status"])
	rebuilt := c.call("PATCH", "/api/segments/"+id, map[string]any{"definition": map[string]any{"tag": "vip"}}).JSON(t)
	assert.Equal(t, "building", rebuilt["status"])
	assert.Equal(t, map[string]any{"processed": 0.0, "total": nil}, rebuilt["progress"])
	assert.Equal(t, map[string]any{"tag": "vip"}, rebuilt["definition"])
	assert.Equal(t, 4, c.segmentsVersion(), "every write bumps it; the unchanged PATCH wrote nothing")

	assert.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/segments/"+id, nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/segments/"+id, nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("DELETE", "/api/segments/"+id, nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("PATCH", "/api/segments/"+id, map[string]any{"name": "x"}).Status)
	assert.Equal(t, 5, c.segmentsVersion())
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/segments/seg_nope", nil).Status)
}

func TestSegmentValidationNamesThePath(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("validation@example.com")
	other := c.createSegment(map[string]any{"name": "Other", "definition": map[string]any{"tag": "x"}})

	cases := []struct {
		name string
		body map[string]any
		want string // in the message
	}{
		{"no name", map[string]any{"definition": proDefinition}, "name"},
		{"long name", map[string]any{"name": strings.Repeat("n", 201), "definition": proDefinition}, "name"},
		{"long description", map[string]any{"name": "n", "description": strings.Repeat("d", 1001), "definition": proDefinition}, "description"},
		{"no definition", map[string]any{"name": "n"}, "definition"},
		{"unknown field", map[string]any{"name": "n", "definition": proDefinition, "size": 3}, "size"},
		{"bad operator", map[string]any{"name": "n", "definition": map[string]any{"all": []any{
			map[string]any{"tag": "vip"}, map[string]any{"property": "plan", "operator": "like", "value": "x"}}}}, "definition.all[1].operator"},
		{"unknown segment", map[string]any{"name": "n", "definition": map[string]any{"any": []any{
			map[string]any{"tag": "vip"}, map[string]any{"segment": "seg_01J00000000000000000000000"}}}}, "definition.any[1].segment"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.call("POST", "/api/segments", tc.body)
			require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
			assert.Equal(t, "VALIDATION_ERROR", r.ErrCode(t))
			assert.Contains(t, r.ErrMessage(t), tc.want)
		})
	}
	// A reference to one of the tenant's segments is fine.
	ref := c.createSegment(map[string]any{"name": "Ref", "definition": map[string]any{"segment": other["id"]}})

	// A cycle: other → ref → other.
	r := c.call("PATCH", "/api/segments/"+other["id"].(string), map[string]any{"definition": map[string]any{"segment": ref["id"]}})
	require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
	assert.Contains(t, r.ErrMessage(t), "cycle")
	r = c.call("PATCH", "/api/segments/"+other["id"].(string), map[string]any{"definition": map[string]any{"not": map[string]any{"segment": other["id"]}}})
	require.Equal(t, http.StatusBadRequest, r.Status, "a segment cannot reference itself")
	r = c.call("PATCH", "/api/segments/"+other["id"].(string), map[string]any{})
	assert.Equal(t, http.StatusBadRequest, r.Status, "an empty patch")
	assert.Equal(t, map[string]any{"tag": "x"}, c.call("GET", "/api/segments/"+other["id"].(string), nil).JSON(t)["definition"], "nothing changed")

	// A referenced segment cannot be deleted; once unreferenced it can.
	r = c.call("DELETE", "/api/segments/"+other["id"].(string), nil)
	require.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.ErrMessage(t), ref["id"].(string))
	require.Equal(t, http.StatusOK, c.call("PATCH", "/api/segments/"+ref["id"].(string), map[string]any{"definition": map[string]any{"tag": "y"}}).Status)
	assert.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/segments/"+other["id"].(string), nil).Status)
}

func TestSegmentMembersAndAContactsMemberships(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("members@example.com")
	seg := c.createSegment(map[string]any{"name": "S", "definition": proDefinition})
	other := c.createSegment(map[string]any{"name": "T", "definition": map[string]any{"tag": "vip"}})
	segID, otherID := seg["id"].(string), other["id"].(string)
	var contacts []string
	for i := range 3 {
		contacts = append(contacts, c.createContact(map[string]any{"email": "m" + string(rune('a'+i)) + "@example.com"})["id"].(string))
	}
	for i, id := range contacts {
		c.addMember(segID, id, t0.Add(time.Duration(i)*time.Minute))
	}
	c.addMember(otherID, contacts[0], t0)

	var members []any
	path := "/api/segments/" + segID + "/contacts?limit=2"
	page := c.call("GET", path, nil).JSON(t)
	members = append(members, page["data"].([]any)...)
	require.NotNil(t, page["nextCursor"])
	page = c.call("GET", path+"&cursor="+page["nextCursor"].(string), nil).JSON(t)
	members = append(members, page["data"].([]any)...)
	assert.Nil(t, page["nextCursor"])
	require.Len(t, members, 3)
	for i, m := range members {
		assert.Equal(t, contacts[i], m.(map[string]any)["contactId"])
		assert.Equal(t, t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), m.(map[string]any)["enteredAt"])
	}
	// An empty segment is an empty page; an unknown one a 404.
	empty := c.createSegment(map[string]any{"name": "E", "definition": proDefinition})
	assert.Empty(t, c.call("GET", "/api/segments/"+empty["id"].(string)+"/contacts", nil).JSON(t)["data"])
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/segments/seg_01J00000000000000000000000/contacts", nil).Status)

	s := c.segmentsOnly()
	// The evaluation state shares the contact's partition: it is no membership.
	st := store.ContactSegStateKey(c.s.OrgID, contacts[0])
	require.NoError(t, c.env.Store.Put(t.Context(), map[string]any{"PK": st.PK, "SK": st.SK, "type": "segmentState", "rev": 1}))
	got := s.call("GET", "/api/contacts/"+contacts[0]+"/segments", nil)
	require.Equal(t, http.StatusOK, got.Status, string(got.Body))
	assert.ElementsMatch(t, []any{
		map[string]any{"segmentId": segID, "enteredAt": t0.Format(time.RFC3339)},
		map[string]any{"segmentId": otherID, "enteredAt": t0.Format(time.RFC3339)},
	}, got.JSON(t)["data"])
	fresh := c.createContact(map[string]any{"email": "fresh@example.com"})["id"].(string)
	assert.Equal(t, []any{}, s.call("GET", "/api/contacts/"+fresh+"/segments", nil).JSON(t)["data"], "a contact in no segment")
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/api/contacts/cnt_01J00000000000000000000000/segments", nil).Status)
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/api/contacts/nope/segments", nil).Status)
	assert.Equal(t, http.StatusNotFound, s.call("GET", "/api/contacts/"+fresh+"/segments/x", nil).Status)
}

func TestSegmentPreviewCountsExactly(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("preview@example.com")
	contact := func(email, plan string, tags ...string) string {
		return c.createContact(map[string]any{"email": email, "properties": map[string]any{"plan": plan}, "tags": tags})["id"].(string)
	}
	order := func(id string, total float64, ago time.Duration) {
		r := c.call("POST", "/api/events", map[string]any{"name": "order.completed", "contactId": id,
			"properties": map[string]any{"total": total}, "timestamp": t0.Add(-ago).Format(time.RFC3339)})
		require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	}
	day := 24 * time.Hour
	ann := contact("ann@example.com", "pro", "vip") // two big orders this month: in
	order(ann, 150, day)
	order(ann, 120, 10*day)
	a.clock.Advance(time.Millisecond)
	bob := contact("bob@example.com", "pro", "vip") // one big, one small
	order(bob, 150, day)
	order(bob, 50, day)
	a.clock.Advance(time.Millisecond)
	cid := contact("cid@example.com", "free", "vip") // the wrong plan
	order(cid, 150, day)
	order(cid, 150, day)
	a.clock.Advance(time.Millisecond)
	dan := contact("dan@example.com", "pro") // no vip tag
	order(dan, 150, day)
	order(dan, 150, day)
	a.clock.Advance(time.Millisecond)
	eve := contact("eve@example.com", "pro", "vip") // one of the two orders too old
	order(eve, 150, day)
	order(eve, 150, 40*day)

	preview := func(def map[string]any) map[string]any {
		t.Helper()
		r := c.call("POST", "/api/segments/preview", map[string]any{"definition": def})
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		return r.JSON(t)
	}
	sampleIDs := func(p map[string]any) []string {
		var out []string
		for _, s := range p["sample"].([]any) {
			out = append(out, s.(map[string]any)["id"].(string))
		}
		return out
	}
	bigOrders := map[string]any{"event": "order.completed", "count": map[string]any{"gte": 2}, "within": "P30D",
		"where": []any{map[string]any{"property": "total", "operator": "gt", "value": 100}}}
	p := preview(map[string]any{"all": []any{proDefinition, bigOrders}})
	assert.EqualValues(t, 1, p["count"])
	assert.EqualValues(t, 5, p["scanned"])
	assert.Equal(t, []string{ann}, sampleIDs(p))
	assert.Equal(t, "ann@example.com", p["sample"].([]any)[0].(map[string]any)["email"])

	p = preview(map[string]any{"any": []any{map[string]any{"tag": "vip", "has": false}, map[string]any{"property": "plan", "operator": "eq", "value": "free"}}})
	assert.EqualValues(t, 2, p["count"])
	assert.Equal(t, []string{dan, cid}, sampleIDs(p), "newest first")

	p = preview(map[string]any{"event": "order.completed", "count": map[string]any{"eq": 0}})
	assert.EqualValues(t, 0, p["count"], "everyone ordered")
	p = preview(map[string]any{"event": "order.completed", "count": map[string]any{"gte": 2}})
	assert.EqualValues(t, 5, p["count"], "ever: the 40-day-old order counts")

	seg := c.createSegment(map[string]any{"name": "S", "definition": proDefinition})
	c.addMember(seg["id"].(string), bob, t0)
	c.addMember(seg["id"].(string), eve, t0)
	p = preview(map[string]any{"all": []any{map[string]any{"segment": seg["id"]}, map[string]any{"not": bigOrders}}})
	assert.EqualValues(t, 2, p["count"])
	assert.Equal(t, []string{eve, bob}, sampleIDs(p))

	r := c.call("POST", "/api/segments/preview", map[string]any{"definition": map[string]any{"tag": 5}})
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Contains(t, r.ErrMessage(t), "definition.tag")
}

// A preview refuses audiences over its bound rather than run past the
// request's time.
func TestSegmentPreviewIsBounded(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("bounded@example.com")
	c.setContactCount(100_001)
	r := c.call("POST", "/api/segments/preview", map[string]any{"definition": proDefinition})
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	assert.Contains(t, r.ErrMessage(t), "100000")
}

// AWS call budgets of the segments routes, each plus the rate-limit UpdateItem.
func TestCostOfSegmentRoutes(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("segcost@example.com")
	c.call("GET", "/api/segments", nil) // warm the key cache
	count := c.callCost
	contact := c.createContact(map[string]any{"email": "x@example.com"})["id"].(string)

	created := count("POST", "/api/segments", map[string]any{"name": "S", "definition": proDefinition})
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.Query": 1, "DynamoDB.TransactWriteItems": 1}, created,
		"create: the tenant's segments version and segments, one transaction")
	c.env.Counter.Reset()
	id := c.call("GET", "/api/segments", nil).JSON(t)["data"].([]any)[0].(map[string]any)["id"].(string)
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1}, count("GET", "/api/segments/"+id, nil), "get: one read")
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, count("GET", "/api/segments", nil), "list: one Query")
	c.addMember(id, contact, t0)
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, count("GET", "/api/segments/"+id+"/contacts", nil), "members: one Query")
	s := c.segmentsOnly()
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, s.callCost("GET", "/api/contacts/"+contact+"/segments", nil), "memberships: one Query")
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.Query": 1, "DynamoDB.TransactWriteItems": 1},
		count("PATCH", "/api/segments/"+id, map[string]any{"name": "T"}))
	// A preview of a property rule: the contact count and one Query per page.
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.Query": 1},
		count("POST", "/api/segments/preview", map[string]any{"definition": proDefinition}))
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "DynamoDB.Query": 1, "DynamoDB.TransactWriteItems": 1},
		count("DELETE", "/api/segments/"+id, nil))
}

// updateBuild is the worker's write when a build finishes: its attributes only.
func updateBuild(table string, k store.Key) *dynamodb.UpdateItemInput {
	n := &types.AttributeValueMemberN{Value: "7"}
	return &dynamodb.UpdateItemInput{
		TableName:                &table,
		Key:                      k.KeyAV(),
		UpdateExpression:         aws.String("SET #st = :ready, #size = :n, #proc = :n, #tot = :n"),
		ExpressionAttributeNames: map[string]string{"#st": "status", "#size": "size", "#proc": "processed", "#tot": "total"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ready": &types.AttributeValueMemberS{Value: "ready"}, ":n": n},
	}
}

// A delete racing a create that references the deleted segment never
// leaves a reference to a segment that is gone: every write of a tenant's
// segments is conditioned on the tenant's segments version it read.
func TestSegmentDeleteRacingAReferenceLeavesNoDanglingReference(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("race@example.com")
	for round := range 5 {
		target := c.createSegment(map[string]any{"name": "T", "definition": map[string]any{"tag": "vip"}})["id"].(string)
		answers, _ := a.concurrently(2, func(i int) (sent, error) {
			if i == 0 {
				return tryDo(a, "DELETE", "/api/segments/"+target, nil, bearer(c.key)...)
			}
			return tryDo(a, "POST", "/api/segments", map[string]any{"name": "R", "definition": map[string]any{"segment": target}}, bearer(c.key)...)
		})
		deleted, created := answers[0].res.Status, answers[1].res.Status
		switch {
		case deleted == http.StatusNoContent:
			assert.Contains(t, []int{http.StatusBadRequest, http.StatusConflict}, created, "round %d: the reference came after the delete", round)
			assert.NotEqual(t, http.StatusCreated, created)
		case created == http.StatusCreated:
			assert.Contains(t, []int{http.StatusConflict}, deleted, "round %d: the segment is referenced", round)
			assert.Equal(t, http.StatusOK, c.call("GET", "/api/segments/"+target, nil).Status)
		default:
			t.Fatalf("round %d: delete %d, create %d", round, deleted, created)
		}
	}
}
