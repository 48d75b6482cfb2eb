package campaigns

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// Campaigns are created, listed (by status, in cursor pages), read,
// changed and deleted; bad bodies are 400s naming the field.
func TestCampaignCRUD(t *testing.T) {
	f := newFixture(t)
	var c Campaign
	f.Must(http.StatusCreated, "POST", "/api/campaigns", `{"name":"  Onboarding  ","description":"Welcome flows"}`, &c)
	assert.True(t, ids.Valid(ids.Campaign, c.ID))
	assert.Equal(t, "Onboarding", c.Name)
	require.NotNil(t, c.Description)
	assert.Equal(t, "Welcome flows", *c.Description)
	assert.Equal(t, journey.CampaignActive, c.Status)

	for _, tc := range []struct{ body, field string }{
		{`{}`, "name"},
		{`{"name":"  "}`, "name"},
		{fmt.Sprintf(`{"name":%q}`, strings.Repeat("n", 201)), "name"},
		{fmt.Sprintf(`{"name":"x","description":%q}`, strings.Repeat("d", 2001)), "description"},
		{`{"name":"x","status":"active"}`, "status"},
	} {
		w := f.Do("POST", "/api/campaigns", tc.body, nil)
		assert.Equal(t, http.StatusBadRequest, w.Code, tc.body)
		assert.Contains(t, w.Body.String(), "'"+tc.field+"'", tc.body)
	}

	var got CampaignDetail
	w := f.Do("GET", "/api/campaigns/"+c.ID, "", &got)
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, c.ID, got.ID)
	assert.Contains(t, w.Body.String(), `"sequenceIds":[]`)
	assert.Contains(t, w.Body.String(), `"broadcastIds":[]`)
	assert.Zero(t, got.Stats.Sequences)

	for i := range 3 {
		f.Clock.Advance(time.Millisecond)
		f.Must(http.StatusCreated, "POST", "/api/campaigns", fmt.Sprintf(`{"name":"c%d"}`, i), nil)
	}
	f.Clock.Advance(time.Second)
	var patched Campaign
	f.Must(http.StatusOK, "PATCH", "/api/campaigns/"+c.ID, `{"name":"Onboarding v2","description":null,"status":"archived"}`, &patched)
	assert.Equal(t, "Onboarding v2", patched.Name)
	assert.Nil(t, patched.Description)
	assert.Equal(t, journey.CampaignArchived, patched.Status)
	assert.Equal(t, http.StatusBadRequest, f.Do("PATCH", "/api/campaigns/"+c.ID, `{"status":"paused"}`, nil).Code)

	var page httpx.Page[Campaign]
	f.Must(http.StatusOK, "GET", "/api/campaigns?limit=2", "", &page)
	require.Len(t, page.Data, 2)
	assert.Equal(t, "c2", page.Data[0].Name, "newest first")
	require.NotNil(t, page.NextCursor)
	var rest httpx.Page[Campaign]
	f.Must(http.StatusOK, "GET", "/api/campaigns?limit=2&cursor="+url.QueryEscape(*page.NextCursor), "", &rest)
	require.Len(t, rest.Data, 2)
	assert.Nil(t, rest.NextCursor)
	var archived httpx.Page[Campaign]
	f.Must(http.StatusOK, "GET", "/api/campaigns?status=archived", "", &archived)
	require.Len(t, archived.Data, 1)
	assert.Equal(t, c.ID, archived.Data[0].ID)
	assert.Equal(t, http.StatusBadRequest, f.Do("GET", "/api/campaigns?status=paused", "", nil).Code)

	f.Must(http.StatusNoContent, "DELETE", "/api/campaigns/"+c.ID, "", nil)
	assert.Equal(t, http.StatusNotFound, f.Do("GET", "/api/campaigns/"+c.ID, "", nil).Code)
	assert.Equal(t, http.StatusNotFound, f.Do("DELETE", "/api/campaigns/"+c.ID, "", nil).Code)
	assert.Equal(t, http.StatusNotFound, f.Do("GET", "/api/campaigns/nope", "", nil).Code)
}

// A campaign's stats add up its members' (sequences naming it: their
// enrollment and step counters and their steps' send counters; broadcasts
// naming it: their progress and send counters), and nothing of others'.
// While it has members, DELETE is a 409 that names them.
func TestCampaignStatsAddUpItsMembers(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	var c Campaign
	f.Must(http.StatusCreated, "POST", "/api/campaigns", `{"name":"Q4"}`, &c)

	seq := func(id, campaign string) {
		require.NoError(t, f.Env.Store.Put(ctx, journey.Sequence{Key: store.SequenceKey(org, id), Type: journey.SequenceType,
			OrgID: org, ID: id, Name: id, CampaignID: campaign, Status: journey.Active, Version: 1, CreatedAt: t0, UpdatedAt: t0}))
	}
	count := func(seqID, enr string, deltas map[string]int) {
		require.NoError(t, f.Env.Store.Transact(ctx, []types.TransactWriteItem{journey.CountOp(org, seqID, enr, deltas)}))
	}
	source := func(src string, shard int, counts map[string]int) {
		item := map[string]types.AttributeValue{}
		k := store.StatsSourceKey(org, shard, src)
		item[store.AttrPK], item[store.AttrSK] = str(k.PK), str(k.SK)
		for name, n := range counts {
			item[name] = num(n)
		}
		_, err := f.Env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.Env.Store.Table, Item: item})
		require.NoError(t, err)
	}
	seq("welcome", c.ID)
	seq("nurture", c.ID)
	seq("other", "")
	count("welcome", "enr_a", map[string]int{journey.StatEnrolled: 3, journey.StatActive: 1, journey.StatCompleted: 2,
		journey.StepCounter("s1", journey.StepEntered): 3, journey.StepCounter("s1", journey.StepSent): 3})
	count("welcome", "enr_b", map[string]int{journey.StatEnrolled: 1, journey.StatExited: 1,
		journey.StepCounter("s3", journey.StepSkipped): 1})
	count("nurture", "enr_c", map[string]int{journey.StatEnrolled: 2, journey.StatActive: 2,
		journey.StepCounter("a", journey.StepEntered): 2, journey.StepCounter("a", journey.StepSent): 2})
	count("other", "enr_d", map[string]int{journey.StatEnrolled: 100})
	source(journey.StepSource("welcome", "s1"), 0, map[string]int{"sent": 2, "delivered": 2, "opened": 1})
	source(journey.StepSource("welcome", "s1"), 5, map[string]int{"sent": 1, "bounced": 1})
	source(journey.StepSource("nurture", "a"), 3, map[string]int{"sent": 2, "delivered": 1})
	source(journey.StepSource("other", "s1"), 3, map[string]int{"sent": 50})

	b1 := f.broadcast("all", fmt.Sprintf(`,"campaignId":%q`, c.ID))
	f.Clock.Advance(time.Millisecond)
	b2 := f.broadcast("all", fmt.Sprintf(`,"campaignId":%q`, c.ID))
	f.Clock.Advance(time.Millisecond)
	f.broadcast("all", "")
	progress := func(id string, total, queued, skipped int) {
		b := f.Stored(id)
		b.Total, b.Queued, b.Skipped, b.Status = total, queued, skipped, journey.BcSent
		require.NoError(t, f.Env.Store.Put(ctx, b))
	}
	progress(b1.ID, 10, 8, 2)
	progress(b2.ID, 5, 5, 0)
	source(journey.BroadcastSource(b1.ID), 1, map[string]int{"sent": 7, "failed": 1, "delivered": 6})
	source(journey.BroadcastSource(b2.ID), 2, map[string]int{"sent": 5, "opened": 4})

	var got CampaignDetail
	f.Must(http.StatusOK, "GET", "/api/campaigns/"+c.ID, "", &got)
	assert.ElementsMatch(t, []string{"welcome", "nurture"}, got.SequenceIDs)
	assert.ElementsMatch(t, []string{b1.ID, b2.ID}, got.BroadcastIDs)
	s := got.Stats
	assert.Equal(t, 2, s.Sequences)
	assert.Equal(t, 2, s.Broadcasts)
	assert.Equal(t, 6, s.Enrollments.Enrolled)
	assert.Equal(t, 3, s.Enrollments.Active)
	assert.Equal(t, 2, s.Enrollments.Completed)
	assert.Equal(t, 1, s.Enrollments.Exited)
	assert.Equal(t, journey.Counters{"entered": 5, "sent": 5, "skipped": 1}, s.Steps)
	assert.Equal(t, 15, s.Recipients.Total)
	assert.Equal(t, 13, s.Recipients.Queued)
	assert.Equal(t, 2, s.Recipients.Skipped)
	require.NotNil(t, s.Recipients.Sent)
	assert.Equal(t, 12, *s.Recipients.Sent)
	assert.Equal(t, 1, *s.Recipients.Failed)
	assert.Equal(t, journey.Counters{"sent": 17, "delivered": 9, "opened": 5, "bounced": 1, "failed": 1}, s.Sends)

	w := f.Do("DELETE", "/api/campaigns/"+c.ID, "", nil)
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.Contains(t, w.Body.String(), "2 sequences")
	assert.Contains(t, w.Body.String(), "2 broadcasts")
	assert.Contains(t, w.Body.String(), b1.ID)

	// An archived campaign takes no new broadcast.
	f.Must(http.StatusOK, "PATCH", "/api/campaigns/"+c.ID, `{"status":"archived"}`, nil)
	w = f.Do("POST", "/api/broadcasts", fmt.Sprintf(`{"name":"n","segmentId":"all","templateId":%q,"from":%q,"campaignId":%q}`, template, from, c.ID), nil)
	assert.Equal(t, http.StatusUnprocessableEntity, w.Code)
	assert.Contains(t, w.Body.String(), "'campaignId'")
}

// A campaign lists the templates whose head names it (and adds nothing of
// theirs to its stats); while one does, DELETE is a 409 naming them with
// the campaign's other members.
func TestCampaignListsItsTemplates(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	var c, other Campaign
	f.Must(http.StatusCreated, "POST", "/api/campaigns", `{"name":"Q4"}`, &c)
	f.Must(http.StatusCreated, "POST", "/api/campaigns", `{"name":"Other"}`, &other)
	head := func(id, campaign string) {
		k := store.TemplateKey(org, id)
		item := map[string]types.AttributeValue{store.AttrPK: str(k.PK), store.AttrSK: str(k.SK), "id": str(id), "type": str("template")}
		if campaign != "" {
			item["campaignId"] = str(campaign)
		}
		_, err := f.Env.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.Env.Store.Table, Item: item})
		require.NoError(t, err)
	}
	head("news-a", c.ID)
	head("news-b", c.ID)
	head("plain", "")
	head("elsewhere", other.ID)

	var got CampaignDetail
	w := f.Do("GET", "/api/campaigns/"+c.ID, "", &got)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, []string{"news-a", "news-b"}, got.TemplateIDs)
	assert.Empty(t, got.SequenceIDs)
	assert.Empty(t, got.Stats.Sends, "templates add no stats")
	f.Must(http.StatusOK, "GET", "/api/campaigns/"+other.ID, "", &got)
	assert.Equal(t, []string{"elsewhere"}, got.TemplateIDs)

	w = f.Do("DELETE", "/api/campaigns/"+c.ID, "", nil)
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.Contains(t, w.Body.String(), "2 templates (news-a, news-b)")
	require.NoError(t, f.Env.Store.Put(ctx, journey.Sequence{Key: store.SequenceKey(org, "drip"), Type: journey.SequenceType,
		OrgID: org, ID: "drip", Name: "drip", CampaignID: c.ID, Status: journey.Draft, Version: 1, CreatedAt: t0, UpdatedAt: t0}))
	b := f.broadcast("all", fmt.Sprintf(`,"campaignId":%q`, c.ID))
	w = f.Do("DELETE", "/api/campaigns/"+c.ID, "", nil)
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.Contains(t, w.Body.String(), fmt.Sprintf("1 sequence (drip), 1 broadcast (%s) and 2 templates (news-a, news-b)", b.ID))

	require.NoError(t, f.Env.Store.Delete(ctx, store.SequenceKey(org, "drip")))
	f.Must(http.StatusNoContent, "DELETE", "/api/broadcasts/"+b.ID, "", nil)
	head("news-a", "")
	w = f.Do("DELETE", "/api/campaigns/"+c.ID, "", nil)
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.Contains(t, w.Body.String(), "1 template (news-b)")
	head("news-b", "")
	f.Must(http.StatusNoContent, "DELETE", "/api/campaigns/"+c.ID, "", nil)
}
