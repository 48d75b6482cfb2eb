// Package testenv gives tests a real DynamoDB over HTTP: a moto_server the
// test binary starts on a free port (unless AWS_ENDPOINT_URL names one), and
// a fresh table per test. Without moto the tests fail loudly; they never skip.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/oklog/ulid/v2"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/logx"
	"github.com/sendwell/sendwell/shared/store"
)

var endpoint string

// Main is a package's TestMain: it makes sure an emulator runs for the tests.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Request logs are formatted (their cost is real) but not printed.
	slog.SetDefault(logx.NewJSON(io.Discard, slog.LevelInfo))
	endpoint = os.Getenv("AWS_ENDPOINT_URL")
	if endpoint == "" {
		moto, err := localaws.StartMoto(0)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			return 1
		}
		defer moto.Stop()
		endpoint = moto.Endpoint
	} else if err := localaws.WaitReady(endpoint, 0); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: AWS_ENDPOINT_URL", err)
		return 1
	}
	return m.Run()
}

// Env is one test's AWS: its own table, and a counter of the calls made.
type Env struct {
	Config  aws.Config
	DB      *dynamodb.Client
	Store   *store.Store
	Counter *awsx.Counter

	resources *localaws.Resources
}

// Resources makes (once) the bucket and queues the table's functions use.
func (e *Env) Resources(t testing.TB) localaws.Resources {
	t.Helper()
	if e.resources == nil {
		r, err := localaws.EnsureResources(context.Background(), e.Config, e.Store.Table)
		if err != nil {
			t.Fatal(err)
		}
		e.resources = &r
		e.Counter.Reset()
	}
	return *e.resources
}

// New creates a table named after the test and returns clients whose calls are counted.
func New(t testing.TB) *Env {
	t.Helper()
	if endpoint == "" {
		t.Fatal("testenv: call testenv.Main from the package's TestMain")
	}
	ctx := context.Background()
	cfg, err := localaws.Config(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	counter := awsx.NewCounter()
	counter.Instrument(&cfg)
	db := dynamodb.NewFromConfig(cfg)
	name := "test-" + strings.ToLower(ulid.Make().String())
	if err := store.EnsureTable(ctx, db, name); err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	return &Env{Config: cfg, DB: db, Store: store.New(db, name), Counter: counter}
}

// Buffer is a bytes.Buffer that is safe to write from one goroutine while a
// test reads it from another (logs, a server's output).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
