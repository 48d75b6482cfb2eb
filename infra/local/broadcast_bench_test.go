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
	// The pace: queued sends over the time from the first page's checkpoint
	// to the last one seen before the kill, and again after the restart.
	var queuedAtKill float64
	first := paceFrom{}
	waitFor(b, time.Hour, 200*time.Millisecond, func() bool {
		_, p := progress()
		queuedAtKill = p["queued"].(float64)
		first.see(queuedAtKill)
		return queuedAtKill >= float64(contacts/2)
	})
	stop() // every worker of the stack stops, mid-page
	killedAt := time.Now()
	base, key, stop = start(b)
	defer stop()
	a.base, a.key = base, key
	var p map[string]any
	second := paceFrom{}
	waitFor(b, 2*time.Hour, time.Second, func() bool {
		var status string
		status, p = progress()
		if p["queued"].(float64) > queuedAtKill && p["queued"].(float64) < float64(contacts) {
			second.see(p["queued"].(float64))
		}
		return status == "sent"
	})
	fannedOut := time.Since(begin)
	// Every send goes to SES once: a send whose worker was killed between
	// SES's answer and its record is not sent again (it becomes unknown),
	// so the outbox, not the sent counter, is what must reach one email
	// per contact.
	var emls []string
	waitFor(b, time.Hour, time.Second, func() bool {
		emls, err = filepath.Glob(filepath.Join(outbox, "*.eml"))
		require.NoError(b, err)
		return len(emls) >= contacts
	})
	elapsed := time.Since(begin)
	b.StopTimer()
	_, p = progress()
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
	b.ReportMetric(fannedOut.Seconds(), "s-fan-out")
	b.ReportMetric(elapsed.Seconds()*1000/float64(contacts), "ms/recipient")
	b.ReportMetric(killedAt.Sub(begin).Seconds(), "s-until-kill")
	b.ReportMetric(first.perMinute(), "queued/min-before-kill")
	b.ReportMetric(second.perMinute(), "queued/min-after-restart")
	b.Logf("%d contacts at %d/min: %d emails, one each, in %s (fan-out done in %s; killed after %s, resumed); progress %v",
		contacts, rate, len(emls), elapsed.Round(time.Second), fannedOut.Round(time.Second), killedAt.Sub(begin).Round(time.Second), p)
}

// paceFrom measures a pace from the checkpoints it sees: the sends queued
// between the first change it sees and the last, over the time between.
type paceFrom struct {
	firstAt, lastAt time.Time
	first, last     float64
}

func (p *paceFrom) see(queued float64) {
	switch {
	case p.firstAt.IsZero() && queued > 0:
		p.firstAt, p.first = time.Now(), queued
	case queued > p.last:
		p.lastAt, p.last = time.Now(), queued
	}
}

func (p *paceFrom) perMinute() float64 {
	if p.lastAt.IsZero() || !p.lastAt.After(p.firstAt) {
		return 0
	}
	return (p.last - p.first) / p.lastAt.Sub(p.firstAt).Minutes()
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
