package campaigns

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/segments"
	"github.com/sendwell/sendwell/shared/store"
)

// A broadcast's body is checked field by field (400s naming the field) and
// its references against the tenant (422s naming the field).
func TestBroadcastValidation(t *testing.T) {
	f := newFixture(t)
	seg := f.Segment(nil, t0)
	valid := map[string]string{"name": `"News"`, "segmentId": fmt.Sprintf("%q", seg), "templateId": `"welcome"`, "from": fmt.Sprintf("%q", from)}
	body := func(change map[string]string) string {
		fields := map[string]string{}
		for k, v := range valid {
			fields[k] = v
		}
		for k, v := range change {
			if v == "" {
				delete(fields, k)
			} else {
				fields[k] = v
			}
		}
		var parts []string
		for k, v := range fields {
			parts = append(parts, fmt.Sprintf("%q:%s", k, v))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	for _, tc := range []struct {
		change map[string]string
		status int
		field  string
	}{
		{map[string]string{"name": ""}, 400, "name"},
		{map[string]string{"name": fmt.Sprintf("%q", strings.Repeat("n", 201))}, 400, "name"},
		{map[string]string{"segmentId": ""}, 400, "segmentId"},
		{map[string]string{"segmentId": `"everyone"`}, 400, "segmentId"},
		{map[string]string{"templateId": ""}, 400, "templateId"},
		{map[string]string{"templateId": `"Bad Id"`}, 400, "templateId"},
		{map[string]string{"from": ""}, 400, "from"},
		{map[string]string{"from": `"not an address"`}, 400, "from"},
		{map[string]string{"data": `[1,2]`}, 400, "data"},
		{map[string]string{"ratePerMinute": `0`}, 400, "ratePerMinute"},
		{map[string]string{"ratePerMinute": `60001`}, 400, "ratePerMinute"},
		{map[string]string{"sendAt": `"tomorrow"`}, 400, "sendAt"},
		{map[string]string{"sendAt": `"2026-11-30T10:00:00Z"`}, 400, "sendAt"},
		{map[string]string{"campaignId": `"cmp_nope"`}, 400, "campaignId"},
		{map[string]string{"segmentId": fmt.Sprintf("%q", ids.New("seg", t0))}, 422, "segmentId"},
		{map[string]string{"templateId": `"missing"`}, 422, "templateId"},
		{map[string]string{"campaignId": fmt.Sprintf("%q", ids.New(ids.Campaign, t0))}, 422, "campaignId"},
	} {
		w := f.Do("POST", "/api/broadcasts", body(tc.change), nil)
		assert.Equal(t, tc.status, w.Code, "%v: %s", tc.change, w.Body.String())
		assert.Contains(t, w.Body.String(), "'"+tc.field+"'", tc.change)
	}

	var b Broadcast
	f.Must(http.StatusCreated, "POST", "/api/broadcasts", body(map[string]string{"ratePerMinute": "600", "data": `{"b":1,"a":2}`,
		"sendAt": `"2026-12-02T09:00:00Z"`}), &b)
	assert.Equal(t, journey.BcDraft, b.Status)
	assert.True(t, ids.Valid(ids.Broadcast, b.ID))
	assert.JSONEq(t, `{"a":2,"b":1}`, string(b.Data))
	require.NotNil(t, b.RatePerMinute)
	assert.Equal(t, 600, *b.RatePerMinute)
	assert.Equal(t, time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), *b.SendAt)
	f.Must(http.StatusCreated, "POST", "/api/broadcasts", body(map[string]string{"segmentId": `"all"`}), nil)
}

// A draft can be changed, sent (at once: sending from now; with a future
// sendAt: scheduled, with Due keys at it) and deleted; a scheduled or
// sending one only cancelled; a finished one only deleted. Every other
// move is a 409 saying why.
func TestBroadcastStateMachine(t *testing.T) {
	f := newFixture(t)
	seg := f.Segment(nil, t0)
	b := f.broadcast(seg, "")

	var p Broadcast
	f.Must(http.StatusOK, "PATCH", "/api/broadcasts/"+b.ID, `{"name":"Renamed","ratePerMinute":120,"data":null}`, &p)
	assert.Equal(t, "Renamed", p.Name)
	assert.Equal(t, 120, *p.RatePerMinute)
	assert.Equal(t, "null", string(p.Data))
	w := f.Do("PATCH", "/api/broadcasts/"+b.ID, `{"templateId":"missing"}`, nil)
	assert.Equal(t, http.StatusUnprocessableEntity, w.Code)

	f.Clock.Advance(time.Minute)
	var sending Broadcast
	f.Must(http.StatusOK, "POST", "/api/broadcasts/"+b.ID+"/send", "", &sending)
	assert.Equal(t, journey.BcSending, sending.Status)
	require.NotNil(t, sending.StartedAt)
	assert.Equal(t, t0.Add(time.Minute), *sending.StartedAt)
	for _, c := range []struct{ method, path, want string }{
		{"PATCH", "", "only a draft can be changed"},
		{"POST", "/send", "only a draft can be sent"},
		{"DELETE", "", "cancel it before deleting it"},
	} {
		body := ""
		if c.method == "PATCH" {
			body = `{"name":"x"}`
		}
		w := f.Do(c.method, "/api/broadcasts/"+b.ID+c.path, body, nil)
		assert.Equal(t, http.StatusConflict, w.Code, c)
		assert.Contains(t, w.Body.String(), c.want)
	}
	var cancelled Broadcast
	f.Must(http.StatusOK, "POST", "/api/broadcasts/"+b.ID+"/cancel", "", &cancelled)
	assert.Equal(t, journey.BcCancelled, cancelled.Status)
	assert.NotNil(t, cancelled.FinishedAt)
	w = f.Do("POST", "/api/broadcasts/"+b.ID+"/cancel", "", nil)
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.Contains(t, w.Body.String(), "The broadcast is cancelled")
	f.Must(http.StatusNoContent, "DELETE", "/api/broadcasts/"+b.ID, "", nil)
	assert.Equal(t, http.StatusNotFound, f.Do("GET", "/api/broadcasts/"+b.ID, "", nil).Code)
	assert.Equal(t, http.StatusNotFound, f.Do("POST", "/api/broadcasts/"+b.ID+"/cancel", "", nil).Code)

	// Scheduled: Due keys at sendAt; cancel clears them.
	at := f.Clock.Now().Add(2 * time.Hour).Truncate(time.Second)
	s := f.broadcast(seg, fmt.Sprintf(`,"sendAt":%q`, at.Format(time.RFC3339)))
	f.Must(http.StatusOK, "POST", "/api/broadcasts/"+s.ID+"/send", "", nil)
	item := f.Stored(s.ID)
	assert.Equal(t, journey.BcScheduled, item.Status)
	assert.Nil(t, item.StartedAt)
	assert.Equal(t, store.DuePK(at, store.DueShard(s.ID)), item.DuePK)
	assert.Equal(t, store.DueSK(at, s.ID), item.DueSK)
	assert.Equal(t, http.StatusConflict, f.Do("DELETE", "/api/broadcasts/"+s.ID, "", nil).Code)
	f.Must(http.StatusOK, "POST", "/api/broadcasts/"+s.ID+"/cancel", "", nil)
	item = f.Stored(s.ID)
	assert.Equal(t, journey.BcCancelled, item.Status)
	assert.Empty(t, item.DuePK)
	assert.Empty(t, item.DueSK)

	// A sendAt that has passed by the time of the send starts it at once.
	late := f.broadcast(seg, fmt.Sprintf(`,"sendAt":%q`, f.Clock.Now().Add(time.Minute).Format(time.RFC3339)))
	f.Clock.Advance(2 * time.Minute)
	f.Start(late.ID)

	// Lists filter by status and campaign.
	var c Campaign
	f.Must(http.StatusCreated, "POST", "/api/campaigns", `{"name":"Q4"}`, &c)
	inCampaign := f.broadcast(seg, fmt.Sprintf(`,"campaignId":%q`, c.ID))
	var page httpx.Page[Broadcast]
	f.Must(http.StatusOK, "GET", "/api/broadcasts?status=sending", "", &page)
	require.Len(t, page.Data, 1)
	assert.Equal(t, late.ID, page.Data[0].ID)
	assert.Nil(t, page.Data[0].Progress.Sent, "lists do not read counters")
	f.Must(http.StatusOK, "GET", "/api/broadcasts?campaignId="+c.ID, "", &page)
	require.Len(t, page.Data, 1)
	assert.Equal(t, inCampaign.ID, page.Data[0].ID)
	f.Must(http.StatusOK, "GET", "/api/broadcasts", "", &page)
	assert.Len(t, page.Data, 3)
	assert.Equal(t, http.StatusBadRequest, f.Do("GET", "/api/broadcasts?status=done", "", nil).Code)
}

// Send checks what a start needs: a built segment (409 while it builds), a
// template and a verified sender (422s).
func TestSendChecksTheBroadcastCanStart(t *testing.T) {
	f := newFixture(t)
	seg := f.Segment(nil, t0)
	b := f.broadcast(seg, "")

	var it segments.Item
	require.NoError(t, f.Env.Store.GetConsistent(t.Context(), store.SegmentKey(org, seg), &it))
	it.Status = segments.StatusBuilding
	require.NoError(t, f.Env.Store.Put(t.Context(), it))
	w := f.Do("POST", "/api/broadcasts/"+b.ID+"/send", "", nil)
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.Contains(t, w.Body.String(), "still being built")
	it.Status = segments.StatusReady
	require.NoError(t, f.Env.Store.Put(t.Context(), it))

	f.Must(http.StatusOK, "PATCH", "/api/broadcasts/"+b.ID, `{"from":"news@unverified.example"}`, nil)
	w = f.Do("POST", "/api/broadcasts/"+b.ID+"/send", "", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, w.Code)
	assert.Contains(t, w.Body.String(), "unverified.example")

	f.Must(http.StatusOK, "PATCH", "/api/broadcasts/"+b.ID, fmt.Sprintf(`{"from":%q}`, from), nil)
	require.NoError(t, f.Env.Store.Delete(t.Context(), store.TemplateKey(org, template)))
	w = f.Do("POST", "/api/broadcasts/"+b.ID+"/send", "", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, w.Code)
	assert.Contains(t, w.Body.String(), "'templateId'")
	assert.Equal(t, journey.BcDraft, f.Stored(b.ID).Status)
}
