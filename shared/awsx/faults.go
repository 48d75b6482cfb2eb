package awsx

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Fault is a DynamoDB failure Faults can inject.
type Fault int

// The faults. Each is the error the SDK builds from DynamoDB's real answer,
// down to the HTTP status: a 400 for the first four, a 500 for the last.
const (
	// TransactionConflict is a TransactionCanceledException whose first
	// reason is TransactionConflict and the others None.
	TransactionConflict Fault = iota + 1
	// TransactionThrottled is a TransactionCanceledException whose first
	// reason is ThrottlingError and the others None.
	TransactionThrottled
	// ProvisionedThroughputExceeded is a ProvisionedThroughputExceededException.
	ProvisionedThroughputExceeded
	// Throttling is a ThrottlingException.
	Throttling
	// InternalServerError is an HTTP 500 InternalServerError.
	InternalServerError
)

var faultNames = map[Fault]string{
	TransactionConflict:           "TransactionConflict",
	TransactionThrottled:          "TransactionThrottled",
	ProvisionedThroughputExceeded: "ProvisionedThroughputExceeded",
	Throttling:                    "Throttling",
	InternalServerError:           "InternalServerError",
}

// String names the fault.
func (f Fault) String() string {
	if n, ok := faultNames[f]; ok {
		return n
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Faults makes chosen attempts of chosen operations ("DynamoDB.PutItem")
// fail without reaching the server, for tests. It is safe for concurrent use.
//
// It sits inside the SDK's retry loop (at the end of the Finalize step, where
// the request would go on the wire), so the SDK's retryer sees every injected
// fault exactly as it sees DynamoDB's answer: it retries throttling and 500s
// (each retry is another attempt, which a rule may or may not fail) and gives
// up after its maximum attempts, wrapping the error as it would. What the
// caller gets is therefore what production code gets from a real outage. It
// also counts the attempts of each operation, so a test can assert how often
// the SDK or the code under test tried. Use QuickRetries on the same config
// so the SDK's backoff does not slow the tests down.
//
// Attempts are numbered per operation from when a rule is added: n = 1 is
// the next attempt.
type Faults struct {
	mu       sync.Mutex
	attempts map[string]int
	fired    map[string]int
	rules    []faultRule
	hooks    []hook
}

type faultRule struct {
	op       string
	from, to int // attempts numbered since Instrument; to = 0: no end
	fault    Fault
	applied  bool // the request reaches the server first; only its answer is lost
}

type hook struct {
	op   string
	base int
	fn   func(n int)
}

// NewFaults returns Faults with no rules.
func NewFaults() *Faults {
	return &Faults{attempts: map[string]int{}, fired: map[string]int{}}
}

// txItemsKey carries, from Initialize to Finalize, the number of items of a
// transaction, so a cancellation has one reason per item.
type txItemsKey struct{}

// Instrument adds the faults to every client built from cfg afterwards. A
// config takes one Faults (its middleware ids are fixed).
func (f *Faults) Instrument(cfg *aws.Config) {
	// Clip so a copy of a config never writes into the original's options.
	cfg.APIOptions = append(slices.Clip(cfg.APIOptions), func(s *middleware.Stack) error {
		err := s.Initialize.Add(middleware.InitializeMiddlewareFunc("sendwellFaultsInput",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if n := txItems(in.Parameters); n > 0 {
					ctx = middleware.WithStackValue(ctx, txItemsKey{}, n)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
		if err != nil {
			return err
		}
		return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("sendwellFaults",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
				if fault, applied, ok := f.attempt(op); ok {
					if applied {
						if _, _, err := next.HandleFinalize(ctx, in); err != nil {
							return middleware.FinalizeOutput{}, middleware.Metadata{}, err
						}
					}
					items, _ := middleware.GetStackValue(ctx, txItemsKey{}).(int)
					return middleware.FinalizeOutput{}, middleware.Metadata{}, fault.err(items)
				}
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	})
}

func txItems(params any) int {
	switch in := params.(type) {
	case *dynamodb.TransactWriteItemsInput:
		return len(in.TransactItems)
	case *dynamodb.TransactGetItemsInput:
		return len(in.TransactItems)
	}
	return 0
}

// attempt counts one attempt of op, runs the hooks (outside the lock: a hook
// may call AWS through the same client) and says which fault, if any, to
// answer it with.
func (f *Faults) attempt(op string) (Fault, bool, bool) {
	f.mu.Lock()
	f.attempts[op]++
	n := f.attempts[op]
	var run []func()
	for _, h := range f.hooks {
		if h.op == op {
			fn, k := h.fn, n-h.base
			run = append(run, func() { fn(k) })
		}
	}
	f.mu.Unlock()
	for _, fn := range run {
		fn()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.op == op && n >= r.from && (r.to == 0 || n <= r.to) {
			f.fired[op]++
			return r.fault, r.applied, true
		}
	}
	return 0, false, false
}

// FailNth makes the nth attempt of op from now fail with fault.
func (f *Faults) FailNth(op string, n int, fault Fault) {
	f.add(op, n, n, fault)
}

// LoseAnswerOfNth lets the nth attempt of op from now reach the server and
// be applied, then answers it with fault instead of the server's answer: a
// response lost on the way back, which the SDK retries.
func (f *Faults) LoseAnswerOfNth(op string, n int, fault Fault) {
	f.add(op, n, n, fault)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules[len(f.rules)-1].applied = true
}

// FailFrom makes the nth attempt of op from now, and every one after it,
// fail with fault (until Reset).
func (f *Faults) FailFrom(op string, n int, fault Fault) {
	f.add(op, n, 0, fault)
}

// FailNext makes the next k attempts of op fail with fault.
func (f *Faults) FailNext(op string, k int, fault Fault) {
	f.add(op, 1, k, fault)
}

func (f *Faults) add(op string, from, to int, fault Fault) {
	if from < 1 || (to != 0 && to < from) {
		panic(fmt.Sprintf("awsx: bad fault range %d..%d for %s", from, to, op))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	base := f.attempts[op]
	r := faultRule{op: op, from: base + from, fault: fault}
	if to != 0 {
		r.to = base + to
	}
	f.rules = append(f.rules, r)
}

// Before calls fn(n) before the nth attempt of op from now reaches the
// server (or its fault), for every n: a test picks the n it wants, say to
// let another writer in between a read and a write. Calls fn makes through
// the same client are attempts too, and call fn again with their own n.
func (f *Faults) Before(op string, fn func(n int)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hooks = append(f.hooks, hook{op: op, base: f.attempts[op], fn: fn})
}

// Attempts is how many attempts of op were made (failed by a fault or sent)
// since Instrument or Reset.
func (f *Faults) Attempts(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[op]
}

// Fired is how many faults were injected into op since Instrument or Reset.
func (f *Faults) Fired(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired[op]
}

// Reset drops every rule, hook and count.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts, f.fired, f.rules, f.hooks = map[string]int{}, map[string]int{}, nil, nil
}

// err is the error the SDK's deserializers return for the fault: the
// service's error inside the HTTP response error. items is the number of
// items of a transaction (0 for other operations).
func (f Fault) err(items int) error {
	status := http.StatusBadRequest
	var api error
	switch f {
	case TransactionConflict:
		api = canceled(items, "TransactionConflict")
	case TransactionThrottled:
		api = canceled(items, "ThrottlingError")
	case ProvisionedThroughputExceeded:
		api = &types.ProvisionedThroughputExceededException{Message: aws.String("The level of configured provisioned throughput for the table was exceeded. (injected)")}
	case Throttling:
		api = &types.ThrottlingException{Message: aws.String("Throughput exceeds the current capacity of your table or index. (injected)")}
	case InternalServerError:
		status = http.StatusInternalServerError
		api = &types.InternalServerError{Message: aws.String("Internal server error (injected)")}
	default:
		panic("awsx: unknown fault " + f.String())
	}
	return &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}, Body: http.NoBody}},
			Err:      api,
		},
		RequestID: "awsx-injected-fault",
	}
}

// canceled is DynamoDB's cancellation of a transaction of items items whose
// first item failed with code.
func canceled(items int, code string) *types.TransactionCanceledException {
	reasons := make([]types.CancellationReason, max(items, 1))
	codes := make([]string, len(reasons))
	for i := range reasons {
		codes[i] = "None"
		if i == 0 {
			codes[i] = code
		}
		reasons[i] = types.CancellationReason{Code: aws.String(codes[i])}
	}
	return &types.TransactionCanceledException{
		Message:             aws.String("Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]"),
		CancellationReasons: reasons,
	}
}

// QuickRetries makes clients built from cfg retry as the SDK's standard
// retryer does (same errors, maxAttempts attempts) but after 1 ms instead of
// its exponential backoff, and without its retry quota, which many injected
// faults would exhaust. For tests only.
func QuickRetries(cfg *aws.Config, maxAttempts int) {
	cfg.RetryMaxAttempts = 0
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			o.RateLimiter = ratelimit.None
		})
	}
}
