package contacts

import (
	"net/http"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Handlers serves the contacts routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the contacts handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the contacts routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("POST /api/contacts", httpx.Tenant, h.create)
	rt.Handle("GET /api/contacts", httpx.Tenant, h.list)
	rt.Handle("POST /api/contacts/batch", httpx.Tenant, h.batch)
	rt.Handle("GET /api/contacts/{id}", httpx.Tenant, h.get)
	rt.Handle("PATCH /api/contacts/{id}", httpx.Tenant, h.patch)
	rt.Handle("DELETE /api/contacts/{id}", httpx.Tenant, h.delete)
}

func (h *Handlers) create(w http.ResponseWriter, r *http.Request) error {
	var in Input
	if err := httpx.Decode(r, &in); err != nil {
		return err
	}
	it, err := h.svc.Create(r.Context(), tenant.OrgID(r.Context()), in)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, it.API())
	return nil
}

func (h *Handlers) get(w http.ResponseWriter, r *http.Request) error {
	it, err := h.svc.Get(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, it.API())
	return nil
}

func (h *Handlers) patch(w http.ResponseWriter, r *http.Request) error {
	var p Patch
	if err := httpx.Decode(r, &p); err != nil {
		return err
	}
	it, err := h.svc.Patch(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, it.API())
	return nil
}

func (h *Handlers) delete(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.Delete(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) list(w http.ResponseWriter, r *http.Request) error {
	org := tenant.OrgID(r.Context())
	f, err := ParseFilter(r.URL.Query())
	if err != nil {
		return err
	}
	pp, err := h.cursors.ParsePage(r, org, f.Scope())
	if err != nil {
		return err
	}
	items, next, err := h.svc.List(r.Context(), org, f, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	out := make([]Contact, len(items))
	for i := range items {
		out[i] = items[i].API()
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Contact]{Data: out, NextCursor: h.cursors.Encode(org, f.Scope(), next)})
	return nil
}

// BatchResult is one item's outcome.
type BatchResult struct {
	Index  int                `json:"index"`
	ID     *string            `json:"id"`
	Email  *string            `json:"email"`
	Status string             `json:"status"`
	Error  *httpx.ErrorDetail `json:"error"`
}

// batch upserts contacts by email ({"contacts": [...]}): each item is
// decoded and validated by itself, so one bad item fails only itself.
func (h *Handlers) batch(w http.ResponseWriter, r *http.Request) error {
	req, err := httpx.DecodeBatch[Input](r, "contacts", MaxBatch)
	if err != nil {
		return err
	}
	items := make([]UpsertItem, len(req))
	for i, it := range req {
		items[i] = UpsertItem{Input: it.Value, Err: it.Err}
	}
	results := h.svc.Upsert(r.Context(), tenant.OrgID(r.Context()), items)
	out := make([]BatchResult, len(results))
	for i, res := range results {
		out[i] = BatchResult{Index: i, Status: res.Status}
		if res.Contact != nil {
			out[i].ID, out[i].Email = &res.Contact.ID, &res.Contact.Email
		} else if e := items[i].Input.Email; e != "" {
			out[i].Email = &e
		}
		if res.Err != nil {
			out[i].Error = httpx.BatchItemError(r.Context(), i, res.Err)
		}
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.BatchResponse[BatchResult]{Data: out})
	return nil
}
