package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/imports"
	"github.com/sendwell/sendwell/shared/store"
)

// startImportWorker feeds the import queue to the real worker, as Lambda's
// SQS event source does, for the rest of the test.
func startImportWorker(t *testing.T, a *api) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.pollImports(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func upload(t testing.TB, url string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
}

// waitImport polls the import, as a client would, until it completes or
// fails, for at most a minute.
func (c *tenantAPI) waitImport(id string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		last := c.call("GET", "/api/contacts/imports/"+id, nil).JSON(c.t)
		if last["status"] == imports.StatusCompleted || last["status"] == imports.StatusFailed {
			return last
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("import did not finish: %v", last)
		}
		<-tick.C
	}
}

func TestImportEndToEnd(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("imp@example.com")
	startImportWorker(t, a)
	c.createContact(map[string]any{"email": "known@example.com", "firstName": "Old"})

	r := c.call("POST", "/api/contacts/imports", nil)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	imp := r.JSON(t)
	assert.Equal(t, "pending", imp["status"])
	assert.Contains(t, imp["uploadUrl"], imports.ObjectKey(c.s.OrgID, imp["id"].(string)))

	csv := "Email,firstName,lastName,tags,company,plan\n" +
		"ann@example.com,Ann,Lee,vip;beta,Acme,pro\n" +
		"not-an-email,X,,,,\n" +
		"KNOWN@example.com,New,,,,\n" +
		"\"quoted@example.com\",\"Multi\nLine\",,,\"Big, Co\",\n" +
		"short@example.com,only-two\n" +
		"ann@example.com,Annie,,,,\n"
	upload(t, imp["uploadUrl"].(string), []byte(csv))
	done := c.waitImport(imp["id"].(string))
	assert.Equal(t, "completed", done["status"])
	assert.EqualValues(t, 6, done["total"])
	assert.EqualValues(t, 6, done["processed"])
	assert.EqualValues(t, 2, done["created"], "ann and quoted")
	assert.EqualValues(t, 2, done["updated"], "known, and ann's second row")
	assert.EqualValues(t, 2, done["failed"])
	errs := done["errors"].([]any)
	require.Len(t, errs, 2)
	assert.EqualValues(t, 3, errs[0].(map[string]any)["line"])
	assert.EqualValues(t, 7, errs[1].(map[string]any)["line"], "line numbers count the quoted line break")

	ann := c.call("GET", "/api/contacts?email=ann@", nil).JSON(t)["data"].([]any)[0].(map[string]any)
	assert.Equal(t, "Annie", ann["firstName"], "rows apply in order")
	assert.Equal(t, "Lee", ann["lastName"])
	assert.Equal(t, []any{"vip", "beta"}, ann["tags"])
	assert.Equal(t, map[string]any{"company": "Acme", "plan": "pro"}, ann["properties"])
	known := c.call("GET", "/api/contacts?email=known", nil).JSON(t)["data"].([]any)[0].(map[string]any)
	assert.Equal(t, "New", known["firstName"])

	bad := c.call("POST", "/api/contacts/imports", nil).JSON(t)
	upload(t, bad["uploadUrl"].(string), []byte("name,company\nx,y\n"))
	failed := c.waitImport(bad["id"].(string))
	assert.Equal(t, "failed", failed["status"])
	assert.Contains(t, failed["failureReason"], "'email'")
}

// A worker that dies after upserting rows but before its checkpoint is
// replaced by one that resumes from the checkpoint: no row is lost and none
// is counted twice.
func TestImportResumesWithoutLosingOrDoubleCounting(t *testing.T) {
	a := newAPI(t)
	c := a.tenant("resume@example.com")
	c.createContact(map[string]any{"email": "row7@example.com"}) // one row updates
	imp := c.call("POST", "/api/contacts/imports", nil).JSON(t)
	id := imp["id"].(string)
	upload(t, imp["uploadUrl"].(string), rowsCSV(250, 120, "broken"))
	svc := imports.FromDeps(a.deps)
	ctx := t.Context()

	// The first worker stops after one batch: that is the checkpoint a dead worker leaves.
	err := svc.Run(ctx, c.s.OrgID, id, a.clock.Now().Add(-time.Second))
	require.ErrorIs(t, err, imports.ErrUnfinished)
	checkpoint, err := svc.Get(ctx, c.s.OrgID, id)
	require.NoError(t, err)
	assert.Equal(t, 100, checkpoint.Processed)
	assert.Equal(t, 102, checkpoint.Line)

	// It carries on past the checkpoint and dies without saving: simulate by
	// finishing the file, then putting the checkpoint back.
	require.NoError(t, svc.Run(ctx, c.s.OrgID, id, time.Time{}))
	first, err := svc.Get(ctx, c.s.OrgID, id)
	require.NoError(t, err)
	restored := *checkpoint
	restored.Version = first.Version
	av, err := store.Marshal(restored)
	require.NoError(t, err)
	_, err = a.env.DB.PutItem(ctx, putItem(a.env.Store.Table, av))
	require.NoError(t, err)

	require.NoError(t, svc.Run(ctx, c.s.OrgID, id, time.Time{}), "the next worker resumes")
	final := c.call("GET", "/api/contacts/imports/"+id, nil).JSON(t)
	assert.Equal(t, "completed", final["status"])
	assert.EqualValues(t, 250, final["total"])
	assert.EqualValues(t, 250, final["processed"])
	assert.EqualValues(t, 248, final["created"])
	assert.EqualValues(t, 1, final["updated"])
	assert.EqualValues(t, 1, final["failed"])
	assert.EqualValues(t, 122, final["errors"].([]any)[0].(map[string]any)["line"])
	assert.Equal(t, 248, first.Created, "the uninterrupted run counted the same")

	var n int
	cursor := ""
	for {
		r := c.call("GET", "/api/contacts?limit=100"+cursor, nil).JSON(t)
		n += len(r["data"].([]any))
		next, _ := r["nextCursor"].(string)
		if next == "" {
			break
		}
		cursor = "&cursor=" + next
	}
	assert.Equal(t, 249, n, "every good row is a contact, once")
}

// rowsCSV is an import file of n rows, row<i>@example.com with first name
// R<i>, except that row broken is replaced by the bad line given.
func rowsCSV(n, broken int, bad string) []byte {
	var sb strings.Builder
	sb.WriteString("email,firstName\n")
	for i := range n {
		if i == broken {
			sb.WriteString(bad + "\n")
			continue
		}
		fmt.Fprintf(&sb, "row%d@example.com,R%d\n", i, i)
	}
	return []byte(sb.String())
}
