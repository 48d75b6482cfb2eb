// Package idempotency makes a POST safe to retry: the same Idempotency-Key
// with the same request replays the first response for 24 hours.
package idempotency

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

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

// Keeper stores idempotency records, each in a partition of its own apart
// from the tenant's main one.
type Keeper struct {
	repo  repo
	clock clock.Clock
}

// New returns a Keeper.
func New(s *store.Store, clk clock.Clock) *Keeper { return &Keeper{repo: repo{s}, clock: clk} }

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
	held, err := k.claim(r.Context(), store.IdempotencyKey(orgID, key), fingerprint(r, body))
	if err != nil {
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
		err = k.repo.release(saveCtx, held.Key, held.Owner)
	case forbidden.Load() || rec.body.Len() > maxStoredBody:
		err = k.finish(saveCtx, held, stateSecret, nil)
	default:
		err = k.finish(saveCtx, held, stateDone, rec)
	}
	switch {
	case errors.Is(err, errs.ErrConflict):
		// This request outlived its lock and another took the key over: the
		// record is that request's now, and stays as it leaves it.
		slog.WarnContext(r.Context(), "idempotency: the lock lapsed and was taken over; this response is not recorded")
	case err != nil:
		slog.ErrorContext(r.Context(), "idempotency: could not record the response", "error", err.Error())
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
	return nil
}

// fingerprint identifies a request: its method, path, query string (its
// parameters in a canonical order) and body.
func fingerprint(r *http.Request, body []byte) string {
	line := r.Method + " " + r.URL.Path
	if raw := r.URL.RawQuery; raw != "" {
		q, err := url.ParseQuery(raw)
		if err == nil {
			raw = q.Encode()
		}
		line += "?" + raw
	}
	sum := sha256.Sum256(append([]byte(line+"\n"), body...))
	return hex.EncodeToString(sum[:])
}

var errBusy = errs.NewConflict("A request with this Idempotency-Key is still being processed; retry later.")

// claim takes the key for this request and returns the record it holds, or
// answers from the earlier request (a *replay, a 409 or a 422).
func (k *Keeper) claim(ctx context.Context, rk store.Key, fp string) (record, error) {
	for attempt := 1; ; attempt++ {
		now := k.clock.Now()
		mine := record{Key: rk, Fingerprint: fp, State: stateRunning, Owner: rand.Text(), LockedUntil: now.Add(LockTTL).Unix(),
			ExpiresAt: now.Add(Retention).Unix(), TTL: now.Add(Retention).Unix()}
		err := k.repo.create(ctx, mine, now.Unix())
		if !errors.Is(err, errs.ErrConflict) {
			return mine, err
		}
		old, err := k.repo.get(ctx, rk)
		if errors.Is(err, errs.ErrNotFound) {
			// Gone between the put and the read: deleted by TTL, or released
			// by a request that failed. Claim it again, once.
			if attempt < 2 {
				continue
			}
			return record{}, errs.NewUnavailable(1, errors.New("idempotency: the record vanished twice while being claimed"))
		}
		if err != nil {
			return record{}, err
		}
		if old.Owner == mine.Owner {
			// Our own write: it was applied, its answer lost, and the SDK's
			// retry of it met its condition. The key is ours.
			return mine, nil
		}
		if old.Fingerprint != fp {
			return record{}, &errs.Unprocessable{Message: "This Idempotency-Key was already used with a different request; use a new key for a new request."}
		}
		switch old.State {
		case stateDone:
			return record{}, &replay{old}
		case stateSecret:
			return record{}, errs.NewConflict("The first response to this Idempotency-Key carried a secret and is never replayed; use a new key.")
		}
		if old.LockedUntil > now.Unix() {
			return record{}, errBusy
		}
		// The request holding the key died (or stalls) past its lock: take
		// the key over, unless another request has just done so.
		taken := old
		taken.Owner, taken.LockedUntil = mine.Owner, mine.LockedUntil
		err = k.repo.replace(ctx, taken, old.Owner)
		if errors.Is(err, errs.ErrConflict) {
			return record{}, errBusy
		}
		return taken, err
	}
}

// finish stores the outcome of the request holding held: errs.ErrConflict
// when it no longer holds it.
func (k *Keeper) finish(ctx context.Context, held record, state string, rec *recorder) error {
	done := held
	done.State = state
	if rec != nil {
		done.Status = rec.status
		done.ContentType = rec.header.Get("Content-Type")
		// DynamoDB refuses empty binary values: an empty body is simply absent.
		if rec.body.Len() > 0 {
			done.Body = rec.body.Bytes()
		}
	}
	return k.repo.replace(ctx, done, held.Owner)
}

// replay is the stored first response, returned through the error path so
// claim's callers answer with it.
type replay struct{ rec record }

func (r *replay) Error() string { return "idempotency: replay" }

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
