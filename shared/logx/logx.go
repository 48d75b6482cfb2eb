// Package logx sets up structured JSON logging and carries the request id and
// tenant id in the context, so every log line of a request names both.
package logx

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	tenantIDKey
)

// requestScope holds the ids of one request. The tenant is learned after the
// request id (once auth has run), so it is filled in place.
type requestScope struct {
	mu       sync.Mutex
	tenantID string
}

// WithRequestID returns a context that logs requestId=id on every line.
func WithRequestID(ctx context.Context, id string) context.Context {
	ctx = context.WithValue(ctx, requestIDKey, id)
	return context.WithValue(ctx, tenantIDKey, &requestScope{})
}

// RequestID returns the request id stored by WithRequestID, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// SetTenant records the tenant of the request for the rest of its log lines.
func SetTenant(ctx context.Context, tenantID string) {
	if s, ok := ctx.Value(tenantIDKey).(*requestScope); ok {
		s.mu.Lock()
		s.tenantID = tenantID
		s.mu.Unlock()
	}
}

func tenant(ctx context.Context) string {
	if s, ok := ctx.Value(tenantIDKey).(*requestScope); ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.tenantID
	}
	return ""
}

// Handler wraps another slog.Handler and adds requestId and tenantId from the
// record's context.
type Handler struct{ next slog.Handler }

// NewHandler wraps next.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

// NewJSON returns a JSON logger writing to w with request and tenant ids.
func NewJSON(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(NewHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// Default is the logger for local runs: JSON on stderr.
func Default() *slog.Logger { return NewJSON(os.Stderr, slog.LevelInfo) }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("apiRequestId", id))
	}
	if t := tenant(ctx); t != "" {
		r.AddAttrs(slog.String("tenantId", t))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler { return &Handler{h.next.WithAttrs(as)} }

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler { return &Handler{h.next.WithGroup(name)} }

var _ slog.Handler = (*Handler)(nil)
