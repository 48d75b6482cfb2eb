package automation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/automation"
	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// orgHeader names the tenant of a test request (the guards' stand-in).
const orgHeader = "X-Test-Org"

// harness is the sequences API over a fresh table in moto, a fake clock,
// and tenant org (a second tenant, other, for isolation tests).
type harness struct {
	t          *testing.T
	env        *testenv.Env
	clock      *clock.Fake
	rt         *httpx.Router
	org, other string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	env := testenv.New(t)
	clk := clock.NewFake(t0)
	asTenant := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			org := r.Header.Get(orgHeader)
			next.ServeHTTP(w, r.WithContext(tenant.With(r.Context(), &tenant.Principal{OrgID: org, Kind: tenant.KindAPIKey})))
		})
	}
	rt := httpx.NewRouter(map[httpx.Access][]httpx.Middleware{httpx.Tenant: {asTenant}}, clk)
	deps := &platform.Deps{Store: env.Store, Clock: clk, Cursors: httpx.NewCursors([]byte("test-secret-test-secret-test-secret-0123"))}
	require.NoError(t, automation.API.Routes(deps, rt), "the group's wiring, campaigns' routes with it")
	return &harness{t: t, env: env, clock: clk, rt: rt, org: ids.New(ids.Org, t0), other: ids.New(ids.Org, t0)}
}

// resp is an answer with its body.
type resp struct {
	Status int
	Body   []byte
}

func (r resp) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), string(r.Body))
	return m
}

func (r resp) errMessage(t *testing.T) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	require.NotNil(t, e, "an error envelope: %s", r.Body)
	return e["message"].(string)
}

// do sends a request as org; a string body is sent as is.
func (h *harness) do(org, method, path string, body any) resp {
	h.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		require.NoError(h.t, err)
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set(orgHeader, org)
	w := httptest.NewRecorder()
	h.rt.ServeHTTP(w, req)
	return resp{Status: w.Code, Body: w.Body.Bytes()}
}

// writes counts the DynamoDB writes since the counter's last reset.
func (h *harness) writes() int {
	n := 0
	for op, c := range h.env.Counter.Snapshot() {
		switch op {
		case "DynamoDB.PutItem", "DynamoDB.UpdateItem", "DynamoDB.DeleteItem", "DynamoDB.TransactWriteItems", "DynamoDB.BatchWriteItem":
			n += c
		}
	}
	return n
}

// seedTemplate, seedCampaign, seedSegment and seedContact write what
// definitions and triggers refer to, as their groups store them (keys are
// what the API checks).
func (h *harness) seedTemplate(org, id string) {
	h.t.Helper()
	require.NoError(h.t, h.env.Store.Put(context.Background(), struct {
		store.Key
		Type string `dynamodbav:"type"`
	}{store.TemplateKey(org, id), "template"}))
}

func (h *harness) seedCampaign(org string) string {
	h.t.Helper()
	id := ids.New(ids.Campaign, t0)
	require.NoError(h.t, h.env.Store.Put(context.Background(), journey.Campaign{Key: store.CampaignKey(org, id), Type: journey.CampaignType,
		OrgID: org, ID: id, Name: "Onboarding", Status: journey.CampaignActive, CreatedAt: t0, UpdatedAt: t0}))
	return id
}

func (h *harness) seedSegment(org string) string {
	h.t.Helper()
	id := ids.New("seg", t0)
	require.NoError(h.t, h.env.Store.Put(context.Background(), struct {
		store.Key
		ID string `dynamodbav:"id"`
	}{store.SegmentKey(org, id), id}))
	return id
}

func (h *harness) seedContact(org, email string) string {
	h.t.Helper()
	id := ids.New(ids.Contact, t0)
	c := contacts.Item{Key: store.ContactKey(org, id), Type: contacts.ItemType, OrgID: org, ID: id, Email: email,
		Properties: map[string]any{"plan": "pro"}, Subscribed: true, CreatedAt: t0, UpdatedAt: t0, Version: 1}
	c.GSI1PK, c.GSI1SK = store.SubscribedPK(org, true), store.ContactSK(id)
	c.GSI2PK, c.GSI2SK = store.EmailIndexPK(org), email
	ctx := context.Background()
	require.NoError(h.t, h.env.Store.Put(ctx, c))
	require.NoError(h.t, h.env.Store.Put(ctx, struct {
		store.Key
		ContactID string `dynamodbav:"contactId"`
	}{store.ContactEmailKey(org, email), id}))
	return id
}

// welcome is a sequence document: send, wait, branch, two sends.
func welcome(name string) map[string]any {
	return map[string]any{
		"name":    name,
		"trigger": map[string]any{"event": "signed_up"},
		"steps": []any{
			map[string]any{"id": "hello", "type": "send", "templateId": "welcome", "next": "pause"},
			map[string]any{"id": "pause", "type": "wait", "duration": "P2D", "next": "check"},
			map[string]any{"id": "check", "type": "branch", "if": map[string]any{"event": "activated"}, "then": "tips", "else": "nudge"},
			map[string]any{"id": "tips", "type": "send", "templateId": "tips"},
			map[string]any{"id": "nudge", "type": "send", "templateId": "nudge"},
		},
	}
}

// ready seeds the templates welcome uses, for org.
func (h *harness) ready(org string) {
	for _, id := range []string{"welcome", "tips", "nudge"} {
		h.seedTemplate(org, id)
	}
}

// active PUTs welcome as id and activates it.
func (h *harness) active(org, id string) {
	h.t.Helper()
	require.Equal(h.t, http.StatusCreated, h.do(org, "PUT", "/api/sequences/"+id, welcome("Welcome")).Status)
	require.Equal(h.t, http.StatusOK, h.do(org, "POST", "/api/sequences/"+id+"/activate", nil).Status)
}

func (h *harness) storedSequence(org, id string) journey.Sequence {
	h.t.Helper()
	var s journey.Sequence
	require.NoError(h.t, h.env.Store.GetConsistent(context.Background(), store.SequenceKey(org, id), &s))
	return s
}

// trigger reads the trigger item of a sequence (nil when none).
func (h *harness) trigger(org, id string) *journey.Trigger {
	h.t.Helper()
	var trg journey.Trigger
	err := h.env.Store.GetConsistent(context.Background(), store.SequenceTriggerKey(org, id), &trg)
	if err != nil {
		require.ErrorIs(h.t, err, errs.ErrNotFound)
		return nil
	}
	return &trg
}

// A new id is 201 (version 1, draft); the same document again, whatever
// its key order and spacing, is 200 and writes nothing; a change is the
// next version; "migrate": true marks the version and the sequence.
func TestPutCreatesIsIdempotentAndVersions(t *testing.T) {
	h := newHarness(t)
	h.ready(h.org)

	r := h.do(h.org, "PUT", "/api/sequences/welcome", welcome("Welcome"))
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	got := r.JSON(t)
	assert.Equal(t, "welcome", got["id"])
	assert.Equal(t, "Welcome", got["name"])
	assert.Equal(t, journey.Draft, got["status"])
	assert.EqualValues(t, 1, got["version"])
	assert.Equal(t, map[string]any{"event": "signed_up"}, got["trigger"])
	assert.Len(t, got["steps"], 5)
	first := h.storedSequence(h.org, "welcome")
	assert.NotEmpty(t, first.Generation)
	assert.Nil(t, h.trigger(h.org, "welcome"), "a draft has no trigger")

	// The same document, keys reordered and spaced out: nothing written.
	same := `{ "steps": [
		{"type": "send", "id": "hello", "next": "pause", "templateId": "welcome"},
		{"id": "pause", "type": "wait", "duration": "P2D", "next": "check"},
		{"id": "check", "type": "branch", "if": {"event": "activated"}, "then": "tips", "else": "nudge"},
		{"id": "tips", "type": "send", "templateId": "tips"},
		{"id": "nudge", "type": "send", "templateId": "nudge"}
	], "trigger": {"event": "signed_up"}, "name": "Welcome", "exitWhen": null, "migrate": true }`
	h.env.Counter.Reset()
	r = h.do(h.org, "PUT", "/api/sequences/welcome", same)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.EqualValues(t, 1, r.JSON(t)["version"])
	assert.Zero(t, h.writes(), "an unchanged document writes nothing")
	assert.Equal(t, first.Rev, h.storedSequence(h.org, "welcome").Rev)

	// A change: version 2, no migration.
	h.clock.Advance(time.Minute)
	doc := welcome("Welcome, renamed")
	r = h.do(h.org, "PUT", "/api/sequences/welcome", doc)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.EqualValues(t, 2, r.JSON(t)["version"])
	s2 := h.storedSequence(h.org, "welcome")
	assert.Equal(t, 2, s2.Version)
	assert.Zero(t, s2.MigrateFrom)
	assert.Equal(t, first.Generation, s2.Generation, "a new version keeps the generation")
	assert.Equal(t, first.CreatedAt, s2.CreatedAt)
	assert.Equal(t, t0.Add(time.Minute), s2.UpdatedAt)

	// A change that migrates: version 3, MigrateFrom 3.
	doc["steps"].([]any)[1].(map[string]any)["duration"] = "P3D"
	doc["migrate"] = true
	r = h.do(h.org, "PUT", "/api/sequences/welcome", doc)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.EqualValues(t, 3, r.JSON(t)["version"])
	assert.NotContains(t, r.JSON(t), "migrate")
	s3 := h.storedSequence(h.org, "welcome")
	assert.Equal(t, 3, s3.MigrateFrom)
	assert.NotContains(t, s3.Definition, "migrate", "the stored document has no migrate key")

	// The versions, newest first, with their documents.
	r = h.do(h.org, "GET", "/api/sequences/welcome/versions", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var versions httpx.Page[automation.Version]
	require.NoError(t, json.Unmarshal(r.Body, &versions))
	require.Len(t, versions.Data, 3)
	assert.Equal(t, []int{3, 2, 1}, []int{versions.Data[0].Version, versions.Data[1].Version, versions.Data[2].Version})
	assert.Equal(t, []bool{true, false, false}, []bool{versions.Data[0].Migrate, versions.Data[1].Migrate, versions.Data[2].Migrate})
	assert.Contains(t, string(versions.Data[0].Definition), `"duration":"P3D"`)
	assert.Contains(t, string(versions.Data[2].Definition), `"name":"Welcome"`)
	// Pages of one.
	r = h.do(h.org, "GET", "/api/sequences/welcome/versions?limit=2", nil)
	require.NoError(t, json.Unmarshal(r.Body, &versions))
	require.Len(t, versions.Data, 2)
	require.NotNil(t, versions.NextCursor)
	r = h.do(h.org, "GET", "/api/sequences/welcome/versions?limit=2&cursor="+*versions.NextCursor, nil)
	require.NoError(t, json.Unmarshal(r.Body, &versions))
	require.Len(t, versions.Data, 1)
	assert.Equal(t, 1, versions.Data[0].Version)
	assert.Nil(t, versions.NextCursor)

	// GET one: the document and stats, a zero entry per step.
	r = h.do(h.org, "GET", "/api/sequences/welcome", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	got = r.JSON(t)
	assert.Equal(t, "Welcome, renamed", got["name"])
	stats := got["stats"].(map[string]any)
	assert.EqualValues(t, 0, stats["enrolled"])
	steps := stats["steps"].(map[string]any)
	assert.Len(t, steps, 5)
	assert.Equal(t, map[string]any{"entered": 0.0, "sent": 0.0, "skipped": 0.0, "failed": 0.0}, steps["hello"])
}

// References must exist (422 naming the field); bad ids and documents are
// 400s naming their path.
func TestPutChecksReferencesAndInput(t *testing.T) {
	h := newHarness(t)
	h.ready(h.org)
	cmp := h.seedCampaign(h.org)
	seg := h.seedSegment(h.org)
	missingCmp, missingSeg := ids.New(ids.Campaign, t0), ids.New("seg", t0)

	with := func(change func(d map[string]any)) map[string]any {
		d := welcome("Welcome")
		change(d)
		return d
	}
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"unknown campaign", with(func(d map[string]any) { d["campaignId"] = missingCmp }), http.StatusUnprocessableEntity, "'campaignId'"},
		{"unknown template", with(func(d map[string]any) {
			d["steps"].([]any)[3].(map[string]any)["templateId"] = "gone"
		}), http.StatusUnprocessableEntity, "'steps[3].templateId'"},
		{"unknown template version", with(func(d map[string]any) {
			d["steps"].([]any)[0].(map[string]any)["version"] = 7
		}), http.StatusUnprocessableEntity, "'steps[0].version'"},
		{"unknown trigger segment", with(func(d map[string]any) { d["trigger"] = map[string]any{"segmentEntered": missingSeg} }),
			http.StatusUnprocessableEntity, "'trigger.segmentEntered'"},
		{"unknown branch segment", with(func(d map[string]any) {
			d["steps"].([]any)[2].(map[string]any)["if"] = map[string]any{"segment": missingSeg}
		}), http.StatusUnprocessableEntity, "'steps[2].if'"},
		{"unknown next", with(func(d map[string]any) { d["steps"].([]any)[0].(map[string]any)["next"] = "nowhere" }),
			http.StatusBadRequest, "steps[0].next"},
		{"migrate not a boolean", with(func(d map[string]any) { d["migrate"] = "yes" }), http.StatusBadRequest, "'migrate'"},
		{"not an object", "[1, 2]", http.StatusBadRequest, "JSON object"},
		{"empty body", "", http.StatusBadRequest, "JSON object"},
		{"invalid JSON", `{"name": `, http.StatusBadRequest, "valid JSON"},
		{"over 256 KB", map[string]any{"name": strings.Repeat("x", 300<<10)}, http.StatusBadRequest, "256 KB"},
		{"over 1 MB", map[string]any{"name": strings.Repeat("x", 1<<20)}, http.StatusRequestEntityTooLarge, "1 MB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(h.org, "PUT", "/api/sequences/refs", c.body)
			require.Equal(t, c.status, r.Status, string(r.Body))
			assert.Contains(t, r.errMessage(t), c.field)
		})
	}
	r := h.do(h.org, "PUT", "/api/sequences/Bad%20Id", welcome("x"))
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Contains(t, r.errMessage(t), "'id'")
	r = h.do(h.org, "GET", "/api/sequences/refs", nil)
	assert.Equal(t, http.StatusNotFound, r.Status, "nothing was written")

	// With every reference there, it is made.
	ok := with(func(d map[string]any) {
		d["campaignId"] = cmp
		d["trigger"] = map[string]any{"segmentEntered": seg}
		d["steps"].([]any)[2].(map[string]any)["if"] = map[string]any{"segment": seg}
	})
	r = h.do(h.org, "PUT", "/api/sequences/refs", ok)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	assert.Equal(t, cmp, r.JSON(t)["campaignId"])
	// Another tenant's templates do not count.
	r = h.do(h.other, "PUT", "/api/sequences/refs", welcome("Welcome"))
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
}

// The list pages in id order and filters by status and campaign.
func TestListFilters(t *testing.T) {
	h := newHarness(t)
	h.ready(h.org)
	cmp := h.seedCampaign(h.org)
	for _, id := range []string{"a-seq", "b-seq", "c-seq"} {
		d := welcome(id)
		if id != "a-seq" {
			d["campaignId"] = cmp
		}
		require.Equal(t, http.StatusCreated, h.do(h.org, "PUT", "/api/sequences/"+id, d).Status)
	}
	require.Equal(t, http.StatusOK, h.do(h.org, "POST", "/api/sequences/b-seq/activate", nil).Status)

	list := func(query string) []string {
		t.Helper()
		r := h.do(h.org, "GET", "/api/sequences"+query, nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		var p httpx.Page[automation.Sequence]
		require.NoError(t, json.Unmarshal(r.Body, &p))
		out := []string{}
		for _, s := range p.Data {
			assert.Nil(t, s.Stats, "lists leave stats out")
			assert.Empty(t, s.Steps, "lists leave the steps out")
			out = append(out, s.ID)
		}
		return out
	}
	assert.Equal(t, []string{"a-seq", "b-seq", "c-seq"}, list(""))
	assert.Equal(t, []string{"b-seq"}, list("?status=active"))
	assert.Equal(t, []string{"a-seq", "c-seq"}, list("?status=draft"))
	assert.Equal(t, []string{"b-seq", "c-seq"}, list("?campaignId="+cmp))
	assert.Equal(t, []string{"c-seq"}, list("?campaignId="+cmp+"&status=draft"))
	assert.Empty(t, list("?status=paused"))
	assert.Empty(t, h.mustList(h.other, ""), "another tenant sees none")

	// Pages of one, with the filter kept by the cursor.
	r := h.do(h.org, "GET", "/api/sequences?status=draft&limit=1", nil)
	var p httpx.Page[automation.Sequence]
	require.NoError(t, json.Unmarshal(r.Body, &p))
	require.Len(t, p.Data, 1)
	require.NotNil(t, p.NextCursor)
	cursor := *p.NextCursor
	r = h.do(h.org, "GET", "/api/sequences?status=draft&limit=1&cursor="+cursor, nil)
	require.NoError(t, json.Unmarshal(r.Body, &p))
	require.Len(t, p.Data, 1)
	assert.Equal(t, "c-seq", p.Data[0].ID)
	r = h.do(h.org, "GET", "/api/sequences?status=active&limit=1&cursor="+cursor, nil)
	assert.Equal(t, http.StatusBadRequest, r.Status, "a cursor resumes only its own filters")

	for _, q := range []string{"?status=running", "?campaignId=nope", "?limit=0"} {
		r := h.do(h.org, "GET", "/api/sequences"+q, nil)
		assert.Equal(t, http.StatusBadRequest, r.Status, q)
	}
}

func (h *harness) mustList(org, query string) []automation.Sequence {
	h.t.Helper()
	r := h.do(org, "GET", "/api/sequences"+query, nil)
	require.Equal(h.t, http.StatusOK, r.Status, string(r.Body))
	var p httpx.Page[automation.Sequence]
	require.NoError(h.t, json.Unmarshal(r.Body, &p))
	return p.Data
}

// activate, pause and archive move the status and write or delete the
// trigger item with it; the same status again writes nothing; the others
// are 409s.
func TestStatusTransitionsAndTheTriggerItem(t *testing.T) {
	h := newHarness(t)
	h.ready(h.org)
	require.Equal(t, http.StatusCreated, h.do(h.org, "PUT", "/api/sequences/welcome", welcome("Welcome")).Status)
	gen := h.storedSequence(h.org, "welcome").Generation

	post := func(action string) resp {
		t.Helper()
		return h.do(h.org, "POST", "/api/sequences/welcome/"+action, nil)
	}
	r := post("pause")
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.errMessage(t), "draft")

	r = post("activate")
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, journey.Active, r.JSON(t)["status"])
	trg := h.trigger(h.org, "welcome")
	require.NotNil(t, trg)
	assert.Equal(t, journey.Trigger{Key: store.SequenceTriggerKey(h.org, "welcome"), Type: journey.TriggerType, OrgID: h.org,
		SequenceID: "welcome", Version: 1, Generation: gen, Kind: "event", Event: "signed_up"}, *trg)

	h.env.Counter.Reset()
	r = post("activate")
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Zero(t, h.writes(), "activating an active sequence writes nothing")

	// A change while active rewrites the trigger with the new version.
	d := welcome("Welcome")
	d["trigger"] = map[string]any{"event": "trial.started"}
	require.Equal(t, http.StatusOK, h.do(h.org, "PUT", "/api/sequences/welcome", d).Status)
	trg = h.trigger(h.org, "welcome")
	require.NotNil(t, trg)
	assert.Equal(t, 2, trg.Version)
	assert.Equal(t, "trial.started", trg.Event)

	r = post("pause")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, journey.Paused, r.JSON(t)["status"])
	assert.Nil(t, h.trigger(h.org, "welcome"))
	assert.Equal(t, http.StatusOK, post("pause").Status)

	// A change while paused leaves the trigger out.
	d["name"] = "Paused change"
	require.Equal(t, http.StatusOK, h.do(h.org, "PUT", "/api/sequences/welcome", d).Status)
	assert.Nil(t, h.trigger(h.org, "welcome"))

	r = post("activate")
	require.Equal(t, http.StatusOK, r.Status)
	trg = h.trigger(h.org, "welcome")
	require.NotNil(t, trg)
	assert.Equal(t, 3, trg.Version)

	r = post("archive")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, journey.Archived, r.JSON(t)["status"])
	assert.Nil(t, h.trigger(h.org, "welcome"))
	assert.Equal(t, http.StatusOK, post("archive").Status)
	for _, action := range []string{"activate", "pause"} {
		r := post(action)
		assert.Equal(t, http.StatusConflict, r.Status, action)
		assert.Contains(t, r.errMessage(t), "archived")
	}
	assert.Equal(t, http.StatusNotFound, h.do(h.org, "POST", "/api/sequences/nope/activate", nil).Status)
	assert.Equal(t, http.StatusNotFound, h.do(h.other, "POST", "/api/sequences/welcome/archive", nil).Status)
}

// The manual trigger enrols a contact (by id or email) of an active
// sequence: 202 with the enrollment; a paused, draft or archived sequence
// is a 409; a contact in the sequence is a 409 naming its enrollment.
func TestManualTrigger(t *testing.T) {
	h := newHarness(t)
	h.ready(h.org)
	ann := h.seedContact(h.org, "ann@example.com")
	h.seedContact(h.org, "bob@example.com")
	require.Equal(t, http.StatusCreated, h.do(h.org, "PUT", "/api/sequences/welcome", welcome("Welcome")).Status)

	r := h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": ann})
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.errMessage(t), "draft")
	require.Equal(t, http.StatusOK, h.do(h.org, "POST", "/api/sequences/welcome/activate", nil).Status)

	r = h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": ann, "data": map[string]any{"coupon": "X1"}})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var enr automation.Enrollment
	require.NoError(t, json.Unmarshal(r.Body, &enr))
	assert.True(t, ids.Valid(ids.Enrollment, enr.ID))
	assert.Equal(t, ann, enr.ContactID)
	assert.Equal(t, "welcome", enr.SequenceID)
	assert.Equal(t, journey.EnrActive, enr.Status)
	assert.Equal(t, "hello", enr.Step)
	assert.Equal(t, "manual", enr.Trigger)
	assert.Equal(t, 1, enr.Version)
	assert.JSONEq(t, `{"coupon":"X1"}`, string(enr.Data))
	assert.Equal(t, t0, enr.EnrolledAt)

	// Again: the contact is in the sequence.
	r = h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": ann})
	require.Equal(t, http.StatusConflict, r.Status)
	e := r.JSON(t)["error"].(map[string]any)
	assert.Equal(t, httpx.CodeConflict, e["code"])
	assert.Equal(t, enr.ID, e["enrollmentId"])
	assert.Contains(t, e["message"], "in the sequence now")

	// By email, however it is written.
	r = h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"email": " Bob@Example.com "})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))

	bad := []struct {
		body   any
		status int
		text   string
	}{
		{map[string]any{"contactId": ids.New(ids.Contact, t0)}, http.StatusNotFound, "Contact not found"},
		{map[string]any{"contactId": "cnt_nope"}, http.StatusNotFound, "Contact not found"},
		{map[string]any{"email": "nobody@example.com"}, http.StatusNotFound, "nobody@example.com"},
		{map[string]any{"email": "not-an-email"}, http.StatusBadRequest, "'email'"},
		{map[string]any{}, http.StatusBadRequest, "'contactId' or 'email'"},
		{map[string]any{"contactId": ann, "email": "ann@example.com"}, http.StatusBadRequest, "not both"},
		{map[string]any{"contactId": ann, "data": []int{1}}, http.StatusBadRequest, "'data'"},
		{map[string]any{"contactId": ann, "data": map[string]any{"big": strings.Repeat("x", 33<<10)}}, http.StatusBadRequest, "32 KB"},
		{map[string]any{"contactId": ann, "extra": 1}, http.StatusBadRequest, "'extra'"},
	}
	for _, b := range bad {
		r := h.do(h.org, "POST", "/api/sequences/welcome/trigger", b.body)
		assert.Equal(t, b.status, r.Status, "%v: %s", b.body, r.Body)
		assert.Contains(t, r.errMessage(t), b.text)
	}
	assert.Equal(t, http.StatusNotFound, h.do(h.org, "POST", "/api/sequences/nope/trigger", map[string]any{"contactId": ann}).Status)

	// Paused: 409 that says so.
	require.Equal(t, http.StatusOK, h.do(h.org, "POST", "/api/sequences/welcome/pause", nil).Status)
	carol := h.seedContact(h.org, "carol@example.com")
	r = h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": carol})
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.errMessage(t), "paused")
	// Archived too.
	require.Equal(t, http.StatusOK, h.do(h.org, "POST", "/api/sequences/welcome/archive", nil).Status)
	r = h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": carol})
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.errMessage(t), "archived")
}

// A bulk trigger answers each contact's outcome, in order.
func TestBulkTrigger(t *testing.T) {
	h := newHarness(t)
	h.ready(h.org)
	ann := h.seedContact(h.org, "ann@example.com")
	h.seedContact(h.org, "bob@example.com")
	h.active(h.org, "welcome")
	first := h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": ann})
	require.Equal(t, http.StatusAccepted, first.Status)
	annEnrollment := first.JSON(t)["id"]

	missing := ids.New(ids.Contact, t0)
	r := h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contacts": []any{
		map[string]any{"email": "bob@example.com", "data": map[string]any{"n": 1}},
		map[string]any{"contactId": missing},
		map[string]any{"contactId": ann},
		map[string]any{"email": "nobody@example.com"},
	}})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	var res automation.BulkTriggerResponse
	require.NoError(t, json.Unmarshal(r.Body, &res))
	require.Len(t, res.Data, 4)
	require.NotNil(t, res.Data[0].Enrollment, "%+v", res.Data[0])
	assert.Equal(t, "bob@example.com", res.Data[0].Email)
	assert.Equal(t, res.Data[0].Enrollment.ContactID, res.Data[0].ContactID)
	assert.JSONEq(t, `{"n":1}`, string(res.Data[0].Enrollment.Data))
	assert.Nil(t, res.Data[0].Error)
	require.NotNil(t, res.Data[1].Error)
	assert.Equal(t, httpx.CodeNotFound, res.Data[1].Error.Code)
	assert.Equal(t, missing, res.Data[1].ContactID)
	require.NotNil(t, res.Data[2].Error)
	assert.Equal(t, httpx.CodeConflict, res.Data[2].Error.Code)
	assert.Equal(t, annEnrollment, res.Data[2].Error.EnrollmentID)
	require.NotNil(t, res.Data[3].Error)
	assert.Equal(t, httpx.CodeNotFound, res.Data[3].Error.Code)

	many := make([]any, automation.MaxBulkTrigger+1)
	for i := range many {
		many[i] = map[string]any{"contactId": ann}
	}
	for _, body := range []any{
		map[string]any{"contacts": many},
		map[string]any{"contacts": []any{}},
		map[string]any{"contacts": []any{map[string]any{"contactId": ann}}, "contactId": ann},
		map[string]any{"contacts": []any{map[string]any{"email": "bad"}}},
	} {
		r := h.do(h.org, "POST", "/api/sequences/welcome/trigger", body)
		assert.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
		assert.Contains(t, r.errMessage(t), "contacts")
	}
	// Paused: the whole call is a 409.
	require.Equal(t, http.StatusOK, h.do(h.org, "POST", "/api/sequences/welcome/pause", nil).Status)
	r = h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contacts": []any{map[string]any{"contactId": ann}}})
	assert.Equal(t, http.StatusConflict, r.Status)
}

// complete finishes an enrollment as the worker would (one step, then done).
func (h *harness) complete(org, id string) {
	h.t.Helper()
	var enr journey.Enrollment
	ctx := context.Background()
	require.NoError(h.t, h.env.Store.GetConsistent(ctx, store.EnrollmentKey(org, id), &enr))
	require.NoError(h.t, journey.Advance(ctx, h.env.Store, &enr, journey.Transition{
		Record: journey.StepRecord{Step: enr.Step, Type: "send", Result: journey.ResultSent, SendID: "snd_x"},
		Status: journey.EnrCompleted, Counters: map[string]int{journey.StepCounter(enr.Step, journey.StepEntered): 1, journey.StepCounter(enr.Step, journey.StepSent): 1},
	}, h.clock.Now()))
}

// Enrollments list by sequence (and status) and by contact; one shows
// every step; DELETE exits an active one (409 once finished); the counters
// follow; another tenant's ids are 404s.
func TestEnrollmentsListGetExit(t *testing.T) {
	h := newHarness(t)
	h.ready(h.org)
	ann := h.seedContact(h.org, "ann@example.com")
	bob := h.seedContact(h.org, "bob@example.com")
	h.active(h.org, "welcome")
	enrol := func(contactID string) string {
		t.Helper()
		r := h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": contactID})
		require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
		return r.JSON(t)["id"].(string)
	}
	annE := enrol(ann)
	h.clock.Advance(time.Second)
	bobE := enrol(bob)
	h.complete(h.org, annE)

	list := func(path string) []automation.Enrollment {
		t.Helper()
		r := h.do(h.org, "GET", path, nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		var p httpx.Page[automation.Enrollment]
		require.NoError(t, json.Unmarshal(r.Body, &p))
		for _, e := range p.Data {
			assert.Nil(t, e.History, "lists leave the history out")
		}
		return p.Data
	}
	idsOf := func(es []automation.Enrollment) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	assert.Equal(t, []string{bobE, annE}, idsOf(list("/api/sequences/welcome/enrollments")), "newest first")
	assert.Equal(t, []string{bobE}, idsOf(list("/api/sequences/welcome/enrollments?status=active")))
	assert.Equal(t, []string{annE}, idsOf(list("/api/sequences/welcome/enrollments?status=completed")))
	assert.Empty(t, list("/api/sequences/welcome/enrollments?status=exited"))
	assert.Equal(t, []string{annE}, idsOf(list("/api/contacts/"+ann+"/enrollments")))
	assert.Equal(t, http.StatusBadRequest, h.do(h.org, "GET", "/api/sequences/welcome/enrollments?status=running", nil).Status)
	assert.Equal(t, http.StatusNotFound, h.do(h.org, "GET", "/api/sequences/nope/enrollments", nil).Status)
	// Pages of one.
	r := h.do(h.org, "GET", "/api/sequences/welcome/enrollments?limit=1", nil)
	var p httpx.Page[automation.Enrollment]
	require.NoError(t, json.Unmarshal(r.Body, &p))
	require.NotNil(t, p.NextCursor)
	r = h.do(h.org, "GET", "/api/sequences/welcome/enrollments?limit=1&cursor="+*p.NextCursor, nil)
	require.NoError(t, json.Unmarshal(r.Body, &p))
	assert.Equal(t, []string{annE}, idsOf(p.Data))

	// One, with its steps.
	r = h.do(h.org, "GET", "/api/enrollments/"+annE, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var one automation.Enrollment
	require.NoError(t, json.Unmarshal(r.Body, &one))
	assert.Equal(t, journey.EnrCompleted, one.Status)
	require.NotNil(t, one.History)
	require.Len(t, *one.History, 1)
	assert.Equal(t, "hello", (*one.History)[0].Step)
	assert.Equal(t, journey.ResultSent, (*one.History)[0].Result)
	assert.Equal(t, "snd_x", (*one.History)[0].SendID)
	assert.Contains(t, string(r.Body), `"stepId":"hello"`)

	// Exit bob's; again is a 409; ann's finished one is a 409.
	h.clock.Advance(time.Minute)
	r = h.do(h.org, "DELETE", "/api/enrollments/"+bobE, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.NoError(t, json.Unmarshal(r.Body, &one))
	assert.Equal(t, journey.EnrExited, one.Status)
	assert.Equal(t, automation.ExitByAPI, one.Reason)
	require.NotNil(t, one.FinishedAt)
	assert.Equal(t, h.clock.Now(), *one.FinishedAt)
	last := (*one.History)[len(*one.History)-1]
	assert.Equal(t, journey.ResultExited, last.Result)
	assert.Equal(t, "hello", last.Step)
	assert.Equal(t, "send", last.Type, "the type of the step it was at")
	for _, id := range []string{bobE, annE} {
		r := h.do(h.org, "DELETE", "/api/enrollments/"+id, nil)
		assert.Equal(t, http.StatusConflict, r.Status)
		assert.Contains(t, r.errMessage(t), "already finished")
	}
	assert.Equal(t, []string{bobE}, idsOf(list("/api/sequences/welcome/enrollments?status=exited")))
	assert.Equal(t, []string{bobE}, idsOf(list("/api/contacts/"+bob+"/enrollments")))

	// The stats follow.
	r = h.do(h.org, "GET", "/api/sequences/welcome", nil)
	var seq automation.Sequence
	require.NoError(t, json.Unmarshal(r.Body, &seq))
	require.NotNil(t, seq.Stats)
	assert.Equal(t, automation.Stats{Enrolled: 2, Active: 0, Completed: 1, Exited: 1, Failed: 0, Steps: seq.Stats.Steps}, *seq.Stats)
	assert.Equal(t, 1, seq.Stats.Steps["hello"][journey.StepEntered])
	assert.Equal(t, 1, seq.Stats.Steps["hello"][journey.StepSent])

	// Another tenant: every id is a 404.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/enrollments/" + annE},
		{"DELETE", "/api/enrollments/" + bobE},
		{"GET", "/api/contacts/" + ann + "/enrollments"},
		{"GET", "/api/sequences/welcome"},
		{"GET", "/api/sequences/welcome/enrollments"},
		{"GET", "/api/sequences/welcome/versions"},
		{"DELETE", "/api/sequences/welcome"},
		{"POST", "/api/sequences/welcome/pause"},
	} {
		r := h.do(h.other, c.method, c.path, nil)
		assert.Equal(t, http.StatusNotFound, r.Status, "%s %s: %s", c.method, c.path, r.Body)
	}
	r = h.do(h.other, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": ann})
	assert.Equal(t, http.StatusNotFound, r.Status)
	for _, path := range []string{"/api/enrollments/enr_nope", "/api/contacts/cnt_nope/enrollments", "/api/contacts/" + ids.New(ids.Contact, t0) + "/enrollments"} {
		assert.Equal(t, http.StatusNotFound, h.do(h.org, "GET", path, nil).Status, path)
	}
	// A contact with none: an empty list.
	carol := h.seedContact(h.org, "carol@example.com")
	assert.Empty(t, list("/api/contacts/"+carol+"/enrollments"))
}

// DELETE is a 409 while enrollments are active; ?force=true exits them
// and deletes the sequence, its trigger, its versions and its counters; the
// id can be made again, a new generation with none of the old enrollments.
func TestDeleteConflictAndForce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.ready(h.org)
	ann := h.seedContact(h.org, "ann@example.com")
	bob := h.seedContact(h.org, "bob@example.com")
	h.active(h.org, "welcome")
	oldGen := h.storedSequence(h.org, "welcome").Generation
	var enrs []string
	for _, c := range []string{ann, bob} {
		r := h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": c})
		require.Equal(t, http.StatusAccepted, r.Status)
		enrs = append(enrs, r.JSON(t)["id"].(string))
	}
	require.Equal(t, http.StatusOK, h.do(h.org, "PUT", "/api/sequences/welcome", welcome("v2")).Status)

	r := h.do(h.org, "DELETE", "/api/sequences/welcome", nil)
	require.Equal(t, http.StatusConflict, r.Status)
	assert.Contains(t, r.errMessage(t), "force=true")
	assert.Equal(t, http.StatusBadRequest, h.do(h.org, "DELETE", "/api/sequences/welcome?force=yes", nil).Status)
	assert.Equal(t, journey.Active, h.storedSequence(h.org, "welcome").Status, "a refused delete changes nothing")

	r = h.do(h.org, "DELETE", "/api/sequences/welcome?force=true", nil)
	require.Equal(t, http.StatusNoContent, r.Status, string(r.Body))
	for _, id := range enrs {
		var e journey.Enrollment
		require.NoError(t, h.env.Store.GetConsistent(ctx, store.EnrollmentKey(h.org, id), &e))
		assert.Equal(t, journey.EnrExited, e.Status)
		assert.Equal(t, automation.ExitDeleted, e.Reason)
	}
	assert.Equal(t, http.StatusNotFound, h.do(h.org, "GET", "/api/sequences/welcome", nil).Status)
	assert.Nil(t, h.trigger(h.org, "welcome"))
	for _, pk := range []string{store.SequenceVersionsPK(h.org, "welcome"), store.SequenceStatsPK(h.org, "welcome")} {
		n := 0
		require.NoError(t, h.env.Store.QueryKeys(ctx, pk, "", func(k []store.Key) error { n += len(k); return nil }))
		assert.Zero(t, n, pk)
	}
	assert.Equal(t, http.StatusNotFound, h.do(h.org, "DELETE", "/api/sequences/welcome", nil).Status)

	// Made again: a new generation, version 1, no enrollments listed, and
	// the contacts can enter it.
	h.active(h.org, "welcome")
	seq := h.storedSequence(h.org, "welcome")
	assert.NotEqual(t, oldGen, seq.Generation)
	assert.Equal(t, 1, seq.Version)
	r = h.do(h.org, "GET", "/api/sequences/welcome/enrollments", nil)
	var p httpx.Page[automation.Enrollment]
	require.NoError(t, json.Unmarshal(r.Body, &p))
	assert.Empty(t, p.Data)
	r = h.do(h.org, "GET", "/api/sequences/welcome", nil)
	assert.EqualValues(t, 0, r.JSON(t)["stats"].(map[string]any)["enrolled"])
	r = h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": ann})
	assert.Equal(t, http.StatusAccepted, r.Status, string(r.Body))

	// Without enrollments, a plain delete.
	require.Equal(t, http.StatusCreated, h.do(h.org, "PUT", "/api/sequences/quiet", welcome("Quiet")).Status)
	assert.Equal(t, http.StatusNoContent, h.do(h.org, "DELETE", "/api/sequences/quiet", nil).Status)
}

// The dry run checks its input and answers 404 for what the tenant does
// not have, before the engine runs.
func TestSimulateInput(t *testing.T) {
	h := newHarness(t)
	h.ready(h.org)
	require.Equal(t, http.StatusCreated, h.do(h.org, "PUT", "/api/sequences/welcome", welcome("Welcome")).Status)
	ann := h.seedContact(h.org, "ann@example.com")
	events := make([]any, automation.MaxSimEvents+1)
	for i := range events {
		events[i] = map[string]any{"name": "e", "at": t0}
	}
	cases := []struct {
		path   string
		body   any
		status int
		text   string
	}{
		{"welcome", map[string]any{}, http.StatusBadRequest, "'contactId' or 'contact'"},
		{"welcome", map[string]any{"contactId": ann, "contact": map[string]any{}}, http.StatusBadRequest, "not both"},
		{"welcome", map[string]any{"contact": map[string]any{"email": "x"}}, http.StatusBadRequest, "contact.email"},
		{"welcome", map[string]any{"contact": map[string]any{}, "events": events}, http.StatusBadRequest, "'events'"},
		{"welcome", map[string]any{"contact": map[string]any{}, "events": []any{map[string]any{"name": "bad name", "at": t0}}}, http.StatusBadRequest, "events[0].name"},
		{"welcome", map[string]any{"contact": map[string]any{}, "events": []any{map[string]any{"name": "ok"}}}, http.StatusBadRequest, "events[0].at"},
		{"welcome", map[string]any{"contact": map[string]any{}, "version": 2}, http.StatusNotFound, "no version 2"},
		{"welcome", map[string]any{"contactId": ids.New(ids.Contact, t0)}, http.StatusNotFound, "Contact not found"},
		{"nope", map[string]any{"contact": map[string]any{}}, http.StatusNotFound, "No sequence"},
	}
	for _, c := range cases {
		r := h.do(h.org, "POST", "/api/sequences/"+c.path+"/simulate", c.body)
		assert.Equal(t, c.status, r.Status, "%v: %s", c.body, r.Body)
		assert.Contains(t, r.errMessage(t), c.text, fmt.Sprint(c.body))
	}
}

// The dry run answers the path, writes nothing, and runs the version asked for.
func TestSimulateReturnsAPath(t *testing.T) {
	h := newHarness(t)
	h.ready(h.org)
	require.Equal(t, http.StatusCreated, h.do(h.org, "PUT", "/api/sequences/welcome", welcome("Welcome")).Status)
	d := welcome("Welcome")
	d["steps"].([]any)[1].(map[string]any)["duration"] = "P3D"
	require.Equal(t, http.StatusOK, h.do(h.org, "PUT", "/api/sequences/welcome", d).Status)
	ann := h.seedContact(h.org, "ann@example.com")

	for _, c := range []struct {
		body    map[string]any
		version int
		wait    time.Duration
	}{
		{map[string]any{"contact": map[string]any{"email": "sim@example.com", "properties": map[string]any{"plan": "pro"}}}, 2, 72 * time.Hour},
		{map[string]any{"contactId": ann, "version": 1}, 1, 48 * time.Hour},
		{map[string]any{"contact": map[string]any{}, "events": []any{map[string]any{"name": "activated", "at": t0.Add(time.Hour)}}}, 2, 72 * time.Hour},
	} {
		h.env.Counter.Reset()
		r := h.do(h.org, "POST", "/api/sequences/welcome/simulate", c.body)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		assert.Zero(t, h.writes(), "a dry run writes nothing")
		var res automation.SimulateResponse
		require.NoError(t, json.Unmarshal(r.Body, &res))
		assert.Equal(t, "welcome", res.SequenceID)
		assert.Equal(t, c.version, res.Version)
		require.NotEmpty(t, res.Path.Steps)
		assert.Equal(t, "hello", res.Path.Steps[0].StepID)
		assert.Equal(t, t0, res.Path.Steps[0].At)
		var check *time.Time
		for _, s := range res.Path.Steps {
			if s.StepID == "check" {
				at := s.At
				check = &at
				break
			}
		}
		require.NotNil(t, check, "the path reaches the branch: %s", r.Body)
		assert.Equal(t, t0.Add(c.wait), *check, "the wait is resolved on the virtual clock")
	}
}

// The group serves its routes and campaigns' beside them.
func TestAPIRoutes(t *testing.T) {
	h := newHarness(t)
	routes := h.rt.Routes()
	for _, r := range []string{
		"PUT /api/sequences/{id}", "GET /api/sequences", "GET /api/sequences/{id}", "DELETE /api/sequences/{id}",
		"GET /api/sequences/{id}/versions", "POST /api/sequences/{id}/activate", "POST /api/sequences/{id}/pause",
		"POST /api/sequences/{id}/archive", "POST /api/sequences/{id}/trigger", "POST /api/sequences/{id}/simulate",
		"GET /api/sequences/{id}/enrollments", "GET /api/enrollments/{id}", "DELETE /api/enrollments/{id}",
		"GET /api/contacts/{id}/enrollments", "GET /api/campaigns",
	} {
		assert.Contains(t, routes, r)
	}
	assert.Equal(t, automation.API.Name, "automation")
	r := h.do(h.org, "GET", "/api/contacts/"+ids.New(ids.Contact, t0)+"/other", nil)
	assert.Equal(t, http.StatusNotFound, r.Status, "the shared contact pattern answers only its own paths")
	r = h.do(h.org, "PATCH", "/api/sequences/x", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.Status)
}

// Ten manual triggers of one contact at once enrol it once; the others
// are 409s naming that enrollment.
func TestConcurrentTriggersEnrolOnce(t *testing.T) {
	h := newHarness(t)
	h.ready(h.org)
	ann := h.seedContact(h.org, "ann@example.com")
	h.active(h.org, "welcome")
	statuses := make([]resp, 10)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = h.do(h.org, "POST", "/api/sequences/welcome/trigger", map[string]any{"contactId": ann})
		})
	}
	wg.Wait()
	var enrolled []string
	for _, r := range statuses {
		switch r.Status {
		case http.StatusAccepted:
			enrolled = append(enrolled, r.JSON(t)["id"].(string))
		case http.StatusConflict:
		default:
			t.Fatalf("unexpected %d: %s", r.Status, r.Body)
		}
	}
	require.Len(t, enrolled, 1)
	r := h.do(h.org, "GET", "/api/sequences/welcome/enrollments", nil)
	var p httpx.Page[automation.Enrollment]
	require.NoError(t, json.Unmarshal(r.Body, &p))
	require.Len(t, p.Data, 1)
	assert.Equal(t, enrolled[0], p.Data[0].ID)
	var seq automation.Sequence
	require.NoError(t, json.Unmarshal(h.do(h.org, "GET", "/api/sequences/welcome", nil).Body, &seq))
	assert.Equal(t, 1, seq.Stats.Enrolled)
	assert.Equal(t, 1, seq.Stats.Active)
}
