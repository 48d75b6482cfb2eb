package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/localaws"
)

// BenchmarkBroadcastThroughMakeRun sends a broadcast to every contact of a
// tenant (BROADCAST_CONTACTS, 10,000 by default) at BROADCAST_RATE a minute
// through `make run`'s real pollers, and stops the whole stack (its
// workers killed mid-page) once about half the audience is queued, then
// starts it again on the same emulator. The fan-out resumes from its
// checkpoint. It then checks that every contact got exactly one send and
// SES exactly one call per contact (the outbox holds one .eml per email
// SES accepted), and reports the pace the sends were made at and the time
// per recipient.
//
//	make bench-broadcast
func BenchmarkBroadcastThroughMakeRun(b *testing.B) {
	contacts, rate := envInt("BROADCAST_CONTACTS", 10_000), envInt("BROADCAST_RATE", 1_200)
	moto, err := localaws.StartMoto(0)
	require.NoError(b, err)
	b.Cleanup(moto.Stop)
	const table = "bench-broadcast"
	b.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	b.Setenv("TABLE_NAME", table)
	outbox := b.TempDir()
	b.Setenv("OUTBOX_DIR", outbox)
	b.Setenv("PUBLIC_BASE_URL", "")
	b.Setenv("RATE_LIMIT_PER_MINUTE", "1000000")
	base, key, stop := start(b)
	setPlan(b, moto.Endpoint, table, "demo@sendwell.local", "scale")
	a := &automationAPI{t: b, base: base, key: key}
	a.template("launch", "We launched")
	for i := 0; i < contacts; i += 100 {
		batch := make([]any, 0, 100)
		for j := i; j < min(i+100, contacts); j++ {
			batch = append(batch, map[string]any{"email": fmt.Sprintf("reader%05d@example.com", j)})
		}
		a.must(http.StatusOK, "POST", "/api/contacts/batch", map[string]any{"contacts": batch})
	}
	bc := a.must(http.StatusCreated, "POST", "/api/broadcasts", map[string]any{"name": "Launch", "segmentId": "all",
		"templateId": "launch", "from": "Demo <hello@sendwell.local>", "ratePerMinute": rate})
	id := bc["id"].(string)
	b.ResetTimer()
	begin := time.Now()
	a.must(http.StatusOK, "POST", "/api/broadcasts/"+id+"/send", nil)
	progress := func() (string, map[string]any) {
		got := a.must(http.StatusOK, "GET", "/api/broadcasts/"+id, nil)
		p, _ := got["progress"].(map[string]any)
		return got["status"].(string), p
	}
	var queuedAtKill float64
	waitFor(b, time.Hour, 200*time.Millisecond, func() bool {
		_, p := progress()
		queuedAtKill = p["queued"].(float64)
		return queuedAtKill >= float64(contacts/2)
	})
	stop() // every worker of the stack stops, mid-page
	killedAt := time.Now()
	base, key, stop = start(b)
	defer stop()
	a.base, a.key = base, key
	var p map[string]any
	waitFor(b, 2*time.Hour, time.Second, func() bool {
		var status string
		status, p = progress()
		return status == "sent" && p["sent"].(float64) >= float64(contacts)
	})
	elapsed := time.Since(begin)
	b.StopTimer()

	emls, err := filepath.Glob(filepath.Join(outbox, "*.eml"))
	require.NoError(b, err)
	seen := map[string]bool{}
	for _, f := range emls {
		raw, err := os.ReadFile(f)
		require.NoError(b, err)
		to := ""
		for _, line := range strings.Split(string(raw), "\n") {
			if rest, ok := strings.CutPrefix(line, "To: "); ok {
				to = strings.TrimSpace(rest)
				break
			}
		}
		require.False(b, seen[to], "a second email to %s", to)
		seen[to] = true
	}
	require.Len(b, seen, contacts, "one email per contact")
	require.Equal(b, float64(contacts), p["total"])
	require.Equal(b, float64(contacts), p["queued"])
	b.ReportMetric(float64(len(emls)), "ses-calls")
	b.ReportMetric(float64(contacts), "recipients")
	b.ReportMetric(elapsed.Seconds(), "s-total")
	b.ReportMetric(elapsed.Seconds()*1000/float64(contacts), "ms/recipient")
	b.ReportMetric(killedAt.Sub(begin).Seconds(), "s-until-kill")
	b.ReportMetric(queuedAtKill/killedAt.Sub(begin).Minutes(), "queued/min-before-kill")
	b.Logf("%d contacts at %d/min: %d emails, one each, in %s (killed after %s, resumed)", contacts, rate, len(emls), elapsed.Round(time.Second), killedAt.Sub(begin).Round(time.Second))
}

// waitFor polls cond every interval until it holds, failing after within.
func waitFor(b *testing.B, within, every time.Duration, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for !cond() {
		require.True(b, time.Now().Before(deadline), "not done within %s", within)
		<-tick.C
	}
}
