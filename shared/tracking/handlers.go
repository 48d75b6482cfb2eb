package tracking

import (
	"net/http"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Handlers serves the events routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the events handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the events routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("POST /api/events", httpx.Tenant, h.track)
	rt.Handle("POST /api/events/batch", httpx.Tenant, h.batch)
	// Served through a broader pattern: it overlaps GET /api/contacts/imports/{id}.
	rt.HandleVia("GET /api/contacts/{id}/events", "GET /api/contacts/{id}/{sub}", httpx.Tenant, h.list)
}

func (h *Handlers) track(w http.ResponseWriter, r *http.Request) error {
	var in Input
	if err := httpx.Decode(r, &in); err != nil {
		return err
	}
	it, err := h.svc.Track(r.Context(), tenant.OrgID(r.Context()), in)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, it.API())
	return nil
}

// BatchResult is one event's outcome.
type BatchResult struct {
	Index  int                `json:"index"`
	Status string             `json:"status"`
	Event  *Event             `json:"event"`
	Error  *httpx.ErrorDetail `json:"error"`
}

// Outcomes of one event of a batch.
const (
	StatusAccepted = "accepted"
	StatusError    = "error"
)

// batch records events ({"events": [...]}): each item is decoded,
// validated and tracked by itself, so one bad item fails only itself.
func (h *Handlers) batch(w http.ResponseWriter, r *http.Request) error {
	req, err := httpx.DecodeBatch[Input](r, "events", MaxBatch)
	if err != nil {
		return err
	}
	out := make([]BatchResult, len(req))
	for i, item := range req {
		out[i] = BatchResult{Index: i}
		var it *Item
		err := item.Err
		if err == nil {
			it, err = h.svc.Track(r.Context(), tenant.OrgID(r.Context()), item.Value)
		}
		if err != nil {
			out[i].Status, out[i].Error = StatusError, httpx.BatchItemError(r.Context(), i, err)
			continue
		}
		ev := it.API()
		out[i].Status, out[i].Event = StatusAccepted, &ev
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.BatchResponse[BatchResult]{Data: out})
	return nil
}

func (h *Handlers) list(w http.ResponseWriter, r *http.Request) error {
	if r.PathValue("sub") != "events" {
		return httpx.NoRoute(r)
	}
	org, contactID := tenant.OrgID(r.Context()), r.PathValue("id")
	name := r.URL.Query().Get("name")
	if name != "" && !validName(name) {
		return errs.Invalid("name", "The 'name' parameter must match ^[A-Za-z0-9_.:-]{1,100}$.")
	}
	scope := "events|" + contactID + "|" + name
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	items, next, err := h.svc.List(r.Context(), org, contactID, name, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	out := make([]Event, len(items))
	for i := range items {
		out[i] = items[i].API()
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Event]{Data: out, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}
