// Package idempotency makes a POST safe to retry: the same Idempotency-Key
// with the same request replays the first response for 24 hours.
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Settings.
const (
	Header    = "Idempotency-Key"
	MaxKeyLen = 255
	Retention = 24 * time.Hour
	// LockTTL is how long a running request holds its key; a request that died
	// (a Lambda timeout) frees it after this long.
	LockTTL = 60 * time.Second
	// maxStoredBody keeps a record well under DynamoDB's 400 KB item limit.
	maxStoredBody = 300 << 10
)

const (
	stateRunning = "running"
	stateDone    = "done"
	stateSecret  = "secret" // the response carried a secret and was not kept
)

type record struct {
	store.Key
	Fingerprint string `dynamodbav:"fingerprint"`
	State       string `dynamodbav:"state"`
	LockedUntil int64  `dynamodbav:"lockedUntil"`
	ExpiresAt   int64  `dynamodbav:"expiresAt"`
	TTL         int64  `dynamodbav:"ttl"`
	Status      int    `dynamodbav:"status,omitempty"`
	ContentType string `dynamodbav:"contentType,omitempty"`
	Body        []byte `dynamodbav:"body,omitempty"`
}

// Keeper stores idempotency records in the tenant's partition.
type Keeper struct {
	store *store.Store
	clock clock.Clock
}

// New returns a Keeper.
func New(s *store.Store, clk clock.Clock) *Keeper { return &Keeper{store: s, clock: clk} }

// Middleware handles Idempotency-Key on authenticated POSTs.
func (k *Keeper) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(Header)
		p, ok := tenant.From(r.Context())
		if r.Method != http.MethodPost || key == "" || !ok {
			next.ServeHTTP(w, r)
			return
		}
		err := k.serve(w, r, next, p.OrgID, key)
		var rp *replay
		switch {
		case errors.As(err, &rp):
			if rp.rec.ContentType != "" {
				w.Header().Set("Content-Type", rp.rec.ContentType)
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(rp.rec.Status)
			_, _ = w.Write(rp.rec.Body)
		case err != nil:
			httpx.WriteError(w, r, err)
		}
	})
}

func (k *Keeper) serve(w http.ResponseWriter, r *http.Request, next http.Handler, orgID, key string) error {
	if len(key) > MaxKeyLen {
		return errs.Invalid(Header, "The '%s' header must be at most %d characters long.", Header, MaxKeyLen)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// Over the size limit or a broken body: let the handler's decoder say which.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		next.ServeHTTP(w, r)
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
	fp := hex.EncodeToString(sum[:])
	rk := store.IdempotencyKey(orgID, key)

	if err := k.claim(r, rk, fp); err != nil {
		return err
	}

	ctx, forbidden := httpx.WithReplayFlag(r.Context())
	rec := &recorder{header: w.Header(), status: http.StatusOK}
	next.ServeHTTP(rec, r.WithContext(ctx))

	// Record the outcome with a fresh context: the client may have gone, but
	// the record must not stay locked.
	saveCtx := context.WithoutCancel(r.Context())
	switch {
	case rec.status >= 500:
		// A failure is not an answer worth keeping: free the key for a retry.
		_, err = k.store.DB.DeleteItem(saveCtx, &dynamodb.DeleteItemInput{TableName: &k.store.Table, Key: rk.KeyAV()})
	case forbidden.Load() || rec.body.Len() > maxStoredBody:
		err = k.finish(saveCtx, rk, stateSecret, nil)
	default:
		err = k.finish(saveCtx, rk, stateDone, rec)
	}
	if err != nil {
		slog.ErrorContext(r.Context(), "idempotency: could not record the response", "error", err.Error())
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
	return nil
}

// claim takes the key for this request, or answers from the earlier one.
func (k *Keeper) claim(r *http.Request, rk store.Key, fp string) error {
	now := k.clock.Now()
	rec := record{Key: rk, Fingerprint: fp, State: stateRunning, LockedUntil: now.Add(LockTTL).Unix(),
		ExpiresAt: now.Add(Retention).Unix(), TTL: now.Add(Retention).Unix()}
	av, err := store.Marshal(rec)
	if err != nil {
		return err
	}
	// TTL deletion lags by up to days, so an expired record counts as absent.
	_, err = k.store.DB.PutItem(r.Context(), &dynamodb.PutItemInput{
		TableName:                 &k.store.Table,
		Item:                      av,
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR expiresAt < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
	})
	if err = store.MapErr(err); !errors.Is(err, errs.ErrConflict) {
		return err
	}

	var old record
	res, err := k.store.DB.GetItem(r.Context(), &dynamodb.GetItemInput{TableName: &k.store.Table, Key: rk.KeyAV(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("idempotency: read record: %w", err)
	}
	if err := attributevalue.UnmarshalMap(res.Item, &old); err != nil || res.Item == nil {
		return fmt.Errorf("idempotency: decode record: %v", err)
	}
	if old.Fingerprint != fp {
		return &errs.Unprocessable{Message: "This Idempotency-Key was already used with a different request; use a new key for a new request."}
	}
	switch old.State {
	case stateDone:
		return &replay{old}
	case stateSecret:
		return errs.NewConflict("The first response to this Idempotency-Key carried a secret and is never replayed; use a new key.")
	}
	if old.LockedUntil > now.Unix() {
		return errs.NewConflict("A request with this Idempotency-Key is still being processed; retry later.")
	}
	// The first request died while holding the key: take it over, once.
	_, err = k.store.DB.UpdateItem(r.Context(), &dynamodb.UpdateItemInput{
		TableName:                 &k.store.Table,
		Key:                       rk.KeyAV(),
		UpdateExpression:          aws.String("SET lockedUntil = :until"),
		ConditionExpression:       aws.String("#s = :running AND lockedUntil = :old"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":until": num(now.Add(LockTTL).Unix()), ":running": str(stateRunning), ":old": num(old.LockedUntil)},
	})
	if errors.Is(store.MapErr(err), errs.ErrConflict) {
		return errs.NewConflict("A request with this Idempotency-Key is still being processed; retry later.")
	}
	return store.MapErr(err)
}

func (k *Keeper) finish(ctx context.Context, rk store.Key, state string, rec *recorder) error {
	set := "SET #s = :state"
	names := map[string]string{"#s": "state"}
	vals := map[string]types.AttributeValue{":state": str(state)}
	if rec != nil {
		set += ", #st = :status"
		names["#st"] = "status"
		vals[":status"] = num(int64(rec.status))
		// DynamoDB refuses empty binary values: an empty body is simply absent.
		if ct := rec.header.Get("Content-Type"); ct != "" {
			set += ", contentType = :ct"
			vals[":ct"] = str(ct)
		}
		if rec.body.Len() > 0 {
			set += ", body = :body"
			vals[":body"] = &types.AttributeValueMemberB{Value: rec.body.Bytes()}
		}
	}
	_, err := k.store.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &k.store.Table,
		Key:                       rk.KeyAV(),
		UpdateExpression:          aws.String(set),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	})
	return err
}

// replay is the stored first response, returned through the error path so
// claim's callers answer with it.
type replay struct{ rec record }

func (r *replay) Error() string { return "idempotency: replay" }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// recorder buffers the handler's response so it can be stored before it is sent.
type recorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
