package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/localaws"
)

// BenchmarkSendThroughMakeRun measures sending through `make run`'s real
// pollers (the stream follower, the send worker, the mailbox simulator):
// the latency from the API's 202 to SES accepting the email (the send's
// sentAt minus its createdAt) over sends made one at a time, then a burst
// of sends made 100 per batch call, until every one is delivered. Every
// email SES accepts is one file in the outbox, so the outbox counts SES
// calls: one per send, none twice.
//
//	SEND_BURST=1000 make bench-send
func BenchmarkSendThroughMakeRun(b *testing.B) {
	single, burst := envInt("SEND_SINGLE", 200), envInt("SEND_BURST", 1000)
	moto, err := localaws.StartMoto(0)
	require.NoError(b, err)
	b.Cleanup(moto.Stop)
	b.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	b.Setenv("TABLE_NAME", "bench-send")
	outbox := b.TempDir()
	b.Setenv("OUTBOX_DIR", outbox)
	b.Setenv("PUBLIC_BASE_URL", "")
	b.Setenv("RATE_LIMIT_PER_MINUTE", "100000") // the free plan's 100 a minute would stop the burst
	base, key, stop := start(b)
	defer stop()
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
	msg := func(i int) map[string]any {
		return map[string]any{"from": "Demo <hello@sendwell.local>", "to": "success@simulator.amazonses.com",
			"subject": "Hello {{ data.n }}", "html": `<p>Hello {{ data.n }}, <a href="https://example.com/">a link</a></p>`,
			"data": map[string]any{"n": i}}
	}
	// emails counts the emails SES accepted: one outbox file each.
	emails := func() int {
		files, err := filepath.Glob(filepath.Join(outbox, "*.eml"))
		require.NoError(b, err)
		return len(files)
	}
	// waitFor polls (an external process: there is no clock to move) until
	// cond holds, for at most 10 minutes.
	waitFor := func(what string, cond func() bool) {
		require.Eventually(b, cond, 10*time.Minute, 20*time.Millisecond, "timed out waiting for %s", what)
	}
	// delivered lists the delivered sends created at or after since.
	delivered := func(since time.Time) []map[string]any {
		var all []map[string]any
		cursor := ""
		for {
			var page struct {
				Data       []map[string]any `json:"data"`
				NextCursor *string          `json:"nextCursor"`
			}
			q := "/api/sends?status=delivered&limit=100&createdAfter=" + since.UTC().Format(time.RFC3339Nano)
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			require.Equal(b, http.StatusOK, call("GET", q, nil, &page))
			all = append(all, page.Data...)
			if page.NextCursor == nil {
				return all
			}
			cursor = *page.NextCursor
		}
	}
	for b.Loop() {
		// Latency: one send at a time, each accepted by SES before the next.
		start := time.Now().UTC()
		for i := range single {
			var out map[string]any
			require.Equal(b, http.StatusAccepted, call("POST", "/api/send", msg(i), &out), out)
			waitFor("the email", func() bool { return emails() == i+1 })
		}
		waitFor("deliveries", func() bool { return len(delivered(start)) == single })
		var lat []float64
		for _, s := range delivered(start) {
			created, _ := time.Parse(time.RFC3339Nano, s["createdAt"].(string))
			sent, _ := time.Parse(time.RFC3339Nano, s["sentAt"].(string))
			lat = append(lat, float64(sent.Sub(created))/float64(time.Millisecond))
		}
		slices.Sort(lat)
		b.ReportMetric(lat[len(lat)/2], "p50-ms")
		b.ReportMetric(lat[len(lat)*95/100], "p95-ms")

		start = time.Now().UTC()
		for i := 0; i < burst; i += 100 {
			var batch []map[string]any
			for j := i; j < min(i+100, burst); j++ {
				batch = append(batch, msg(j))
			}
			var out map[string]any
			require.Equal(b, http.StatusOK, call("POST", "/api/send/batch", map[string]any{"messages": batch}, &out), out)
		}
		accepted := time.Since(start)
		waitFor("the burst's emails", func() bool { return emails() == single+burst })
		waitFor("the burst's deliveries", func() bool { return len(delivered(start)) == burst })
		took := time.Since(start)
		b.ReportMetric(float64(burst)/took.Seconds(), "delivered/s")
		b.ReportMetric(float64(burst)/accepted.Seconds(), "accepted/s")
		require.Equal(b, single+burst, emails(), "one SES call per send, none twice")
		fmt.Fprintf(os.Stderr, "%d sends one at a time, %d in a burst: %d emails in the outbox; burst accepted in %s, all delivered in %s\n",
			single, burst, emails(), accepted.Round(time.Millisecond), took.Round(time.Millisecond))
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(os.Getenv(name))); err == nil && n > 0 {
		return n
	}
	return def
}
