// Package httpx is the HTTP layer every function shares: the router with its
// JSON 404 and 405, the error envelope, strict JSON decoding and cursor pages.
package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/logx"
)

// HandlerFunc is a route handler. A returned error is written as the envelope.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Access is who may call a route.
type Access int

// Access levels.
const (
	Public   Access = iota // anyone
	Tenant                 // an API key or a user's JWT
	UserOnly               // a signed-in user's JWT only
)

// Router is one function's routes on a Go 1.22 pattern mux. Unknown paths
// answer 404 and known paths with another method 405, both in the envelope.
type Router struct {
	mux    *http.ServeMux
	guards map[Access][]Middleware
	routes []string
	clock  clock.Clock
	vias   map[string]*via // routes served through a shared mux pattern, by that pattern
}

// NewRouter returns a router whose routes of each access level run behind
// that level's guards (authentication, rate limiting, idempotency, …).
func NewRouter(guards map[Access][]Middleware, clk clock.Clock) *Router {
	rt := &Router{mux: http.NewServeMux(), guards: guards, clock: clk, vias: map[string]*via{}}
	rt.mux.Handle("/", http.HandlerFunc(rt.noRoute))
	return rt
}

// NoRoute is the 404 of a request no route serves.
func NoRoute(r *http.Request) error {
	return errs.NewNotFound(fmt.Sprintf("No route matches %s %s.", r.Method, r.URL.Path))
}

// probeMethods are the methods tried to tell a 405 from a 404.
var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// noRoute answers what no route matched: 405 with Allow when the path is
// known under other methods, 404 otherwise.
func (rt *Router) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range probeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := rt.mux.Handler(probe); pattern != "/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		WriteError(w, r, NoRoute(r))
		return
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	WriteJSON(w, http.StatusMethodNotAllowed, ErrorBody{ErrorDetail{
		Code:    CodeMethodNotAllowed,
		Message: fmt.Sprintf("Method %s is not allowed on %s; allowed: %s.", r.Method, r.URL.Path, strings.Join(allowed, ", ")),
	}})
}

// Handle adds a route: pattern is "METHOD /path/{param}".
func (rt *Router) Handle(pattern string, access Access, h HandlerFunc) {
	rt.HandleVia(pattern, pattern, access, h)
}

// HandleVia adds the route pattern, served through the broader muxPattern.
// Go's mux refuses two patterns that overlap with neither more specific
// (GET /api/contacts/imports/{id} and GET /api/contacts/{id}/events); the
// second is then served as GET /api/contacts/{id}/{sub} and h, which checks
// {sub}, answers only its own paths (NotFound otherwise).
func (rt *Router) HandleVia(pattern, muxPattern string, access Access, h HandlerFunc) {
	if !strings.Contains(pattern, " ") {
		panic("httpx: route pattern needs a method: " + pattern)
	}
	pattern, muxPattern = strings.TrimSpace(pattern), strings.TrimSpace(muxPattern)
	var handler http.Handler = Handler(h)
	guards := rt.guards[access]
	for i := len(guards) - 1; i >= 0; i-- {
		handler = guards[i](handler)
	}
	rt.routes = append(rt.routes, pattern)
	if muxPattern == pattern {
		rt.mux.Handle(muxPattern, handler)
		return
	}
	// Several groups may serve routes through one broader pattern (the
	// events and the segments of a contact): each request goes to the route
	// whose own pattern its path matches.
	v, ok := rt.vias[muxPattern]
	if !ok {
		v = &via{}
		rt.vias[muxPattern] = v
		rt.mux.Handle(muxPattern, v)
	}
	_, path, _ := strings.Cut(pattern, " ")
	v.routes = append(v.routes, viaRoute{segments: strings.Split(path, "/"), h: handler})
}

// via serves the routes that share one mux pattern.
type via struct{ routes []viaRoute }

type viaRoute struct {
	segments []string // the route's path, split at '/'; "{…}" matches any segment
	h        http.Handler
}

func (v *via) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(r.URL.Path, "/")
	for _, rt := range v.routes {
		if matchSegments(rt.segments, segs) {
			rt.h.ServeHTTP(w, r)
			return
		}
	}
	WriteError(w, r, NoRoute(r))
}

func matchSegments(pattern, path []string) bool {
	if len(pattern) != len(path) {
		return false
	}
	for i, p := range pattern {
		if !strings.HasPrefix(p, "{") && p != path[i] {
			return false
		}
	}
	return true
}

// Routes lists the patterns registered, such as "GET /api/contacts".
func (rt *Router) Routes() []string { return slices.Clone(rt.routes) }

// Handler turns a HandlerFunc into an http.Handler that writes its error.
func Handler(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, r, err)
		}
	})
}

// ServeHTTP serves a request: it gives it a request id (X-Request-Id), caps
// its body at 1 MB (a larger body is read to its end, up to MaxDrainBytes,
// before the 413 goes out), logs it, and turns a panic into a 500.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := rt.clock.Now()
	id := requestID(r.Context(), rt.clock.Now())
	ctx := logx.WithRequestID(r.Context(), id)
	r = r.WithContext(ctx)
	w.Header().Set("X-Request-Id", id)
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			WriteError(sw, r, fmt.Errorf("httpx: panic: %v", p))
		}
		slog.InfoContext(ctx, "request", "method", r.Method, "path", rt.loggedPath(r), "status", sw.status,
			"durationMs", rt.clock.Now().Sub(start).Milliseconds())
	}()
	if r.ContentLength > MaxBodyBytes {
		drainBody(sw, r.Body, r.ContentLength)
		WriteError(sw, r, errTooLarge)
		return
	}
	r.Body = &cappedBody{ReadCloser: http.MaxBytesReader(sw, r.Body, MaxBodyBytes), raw: r.Body, w: sw}
	rt.mux.ServeHTTP(sw, r)
}

// loggedPath is the path a request's log line shows: the route's pattern
// when the path carries an email address or a signed link token (which
// holds the recipient), so no address reaches the logs.
func (rt *Router) loggedPath(r *http.Request) string {
	if !strings.HasPrefix(r.URL.Path, "/u/") && !strings.HasPrefix(r.URL.Path, "/t/") && !strings.Contains(r.URL.Path, "@") {
		return r.URL.Path
	}
	if _, pattern := rt.mux.Handler(r); pattern != "" {
		if _, path, ok := strings.Cut(pattern, " "); ok {
			return path
		}
		return pattern
	}
	return "(redacted)"
}

// MaxDrainBytes is how much of an oversized body is read and thrown away
// before the 413 is answered (API Gateway's own limit, 10 MB).
const MaxDrainBytes = 10 << 20

// drainBody reads and discards what is left of an oversized body, so the
// client, which is still sending it, reads the 413 instead of a connection
// reset: API Gateway buffers the whole body before answering, and clients
// such as Python's urllib and requests write the whole body before reading.
// A body longer than MaxDrainBytes is not read: the answer closes the
// connection instead. size is the declared length, or -1 when unknown.
func drainBody(w http.ResponseWriter, body io.Reader, size int64) {
	if size > MaxDrainBytes {
		w.Header().Set("Connection", "close")
		return
	}
	if n, _ := io.CopyN(io.Discard, body, MaxDrainBytes+1); n > MaxDrainBytes {
		w.Header().Set("Connection", "close")
	}
}

// cappedBody is a request body capped at MaxBodyBytes. When a handler reads
// past the cap it drains the rest of the raw body (see drainBody) before
// returning the *http.MaxBytesError, which the handler answers with a 413.
type cappedBody struct {
	io.ReadCloser // the http.MaxBytesReader over raw
	raw           io.Reader
	w             http.ResponseWriter
	drained       bool
}

func (b *cappedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if err != nil && !b.drained && errors.As(err, &mbe) {
		b.drained = true
		drainBody(b.w, b.raw, -1)
	}
	return n, err
}

// requestID reuses API Gateway's request id, so our logs and its access logs
// correlate, and makes one up elsewhere.
func requestID(ctx context.Context, now time.Time) string {
	if gw, ok := core.GetAPIGatewayV2ContextFromContext(ctx); ok && gw.RequestID != "" {
		return gw.RequestID
	}
	return ids.New(ids.Request, now)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
