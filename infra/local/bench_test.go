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
	// delivered waits until n sends created at or after since are
	// delivered, and returns them.
	delivered := func(since time.Time, n int) []map[string]any {
		deadline := time.Now().Add(10 * time.Minute)
		for {
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
					break
				}
				cursor = *page.NextCursor
			}
			if len(all) >= n {
				return all
			}
			require.True(b, time.Now().Before(deadline), "only %d of %d delivered", len(all), n)
			time.Sleep(500 * time.Millisecond) // polling an external process: there is no clock to move
		}
	}
	for b.Loop() {
		start := time.Now().UTC()
		for i := range single {
			var out map[string]any
			require.Equal(b, http.StatusAccepted, call("POST", "/api/send", msg(i), &out), out)
		}
		var lat []float64
		for _, s := range delivered(start, single) {
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
		delivered(start, burst)
		took := time.Since(start)
		b.ReportMetric(float64(burst)/took.Seconds(), "delivered/s")
		b.ReportMetric(float64(burst)/accepted.Seconds(), "accepted/s")
		files, err := filepath.Glob(filepath.Join(outbox, "*.eml"))
		require.NoError(b, err)
		require.Len(b, files, single+burst, "one SES call per send, none twice")
		fmt.Fprintf(os.Stderr, "%d sends one at a time, %d in a burst: %d emails in the outbox; burst accepted in %s, all delivered in %s\n",
			single, burst, len(files), accepted.Round(time.Millisecond), took.Round(time.Millisecond))
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(os.Getenv(name))); err == nil && n > 0 {
		return n
	}
	return def
}
