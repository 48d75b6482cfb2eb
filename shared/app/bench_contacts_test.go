package app_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkBatchUpsert100 upserts 100 new contacts per op through the API
// (over HTTP, against moto) and reports the AWS calls each batch makes.
// Reproduce: go test -run '^$' -bench BatchUpsert100 -benchtime 20x ./shared/app/
func BenchmarkBatchUpsert100(b *testing.B) {
	a := newAPI(b)
	c := a.tenant("bench-batch@example.com")
	n := 0
	a.env.Counter.Reset()
	for b.Loop() {
		batch := make([]any, 100)
		for i := range batch {
			batch[i] = map[string]any{"email": fmt.Sprintf("c%d@example.com", n), "firstName": "Bench", "tags": []string{"bench"}, "properties": map[string]any{"n": n}}
			n++
		}
		r := c.call("POST", "/api/contacts/batch", map[string]any{"contacts": batch})
		require.Equal(b, http.StatusOK, r.Status)
	}
	for op, calls := range a.env.Counter.Snapshot() {
		b.ReportMetric(float64(calls)/float64(b.N), op+"/op")
	}
}

// BenchmarkImport imports a CSV of IMPORT_ROWS rows (default 100,000) end to
// end on the local stack: presigned upload to S3, the upload notice on the
// import queue, the real worker, until the import reports completed. It
// reports rows per second. Reproduce:
//
//	go test -run '^$' -bench Import -benchtime 1x -timeout 60m ./shared/app/
func BenchmarkImport(b *testing.B) {
	rows := 100_000
	if v := os.Getenv("IMPORT_ROWS"); v != "" {
		rows, _ = strconv.Atoi(v)
	}
	var sb strings.Builder
	sb.WriteString("email,firstName,lastName,tags,company,plan\n")
	for i := range rows {
		fmt.Fprintf(&sb, "person%d@example.com,First%d,Last%d,customer;%s,Company %d,%s\n", i, i, i, []string{"beta", "vip"}[i%2], i%500, []string{"free", "pro"}[i%2])
	}
	csv := []byte(sb.String())

	for b.Loop() {
		b.StopTimer()
		a := newAPI(b, withRateLimit(1_000_000)) // the fake clock stands still: one minute's budget
		c := a.tenant("bench-import@example.com")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.pollImports(ctx)
		}()
		imp := c.call("POST", "/api/contacts/imports", nil).JSON(b)
		b.StartTimer()
		start := time.Now()
		upload(b, imp["uploadUrl"].(string), csv)
		var last map[string]any
		tick := time.NewTicker(200 * time.Millisecond) // polling progress as a client would
		for last == nil || last["status"] == "pending" || last["status"] == "running" {
			<-tick.C
			r := c.call("GET", "/api/contacts/imports/"+imp["id"].(string), nil)
			require.Equal(b, http.StatusOK, r.Status, string(r.Body))
			last = r.JSON(b)
		}
		tick.Stop()
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		require.Equal(b, "completed", last["status"])
		require.EqualValues(b, rows, last["created"])
		b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")

		// A single (transactional) create on the now large table.
		t0 := time.Now()
		c.createContact(map[string]any{"email": "after-import@example.com"})
		b.ReportMetric(float64(time.Since(t0).Milliseconds()), "create-after-ms")
		b.StartTimer()
	}
}
