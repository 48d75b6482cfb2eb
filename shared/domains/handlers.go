package domains

import (
	"net/http"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/tenant"
)

// listScope names the domains list for its cursors.
const listScope = "domains"

// Handlers serves the domains routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the domains handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the domains routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("POST /api/domains", httpx.Tenant, h.create)
	rt.Handle("GET /api/domains", httpx.Tenant, h.list)
	rt.Handle("GET /api/domains/{id}", httpx.Tenant, h.get)
	rt.Handle("DELETE /api/domains/{id}", httpx.Tenant, h.delete)
	rt.Handle("POST /api/domains/{id}/verify", httpx.Tenant, h.verify)
}

func (h *Handlers) create(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	var req CreateRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	d, err := h.svc.Create(r.Context(), p.OrgID, req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, d)
	return nil
}

func (h *Handlers) list(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	pp, err := h.cursors.ParsePage(r, p.OrgID, listScope)
	if err != nil {
		return err
	}
	data, next, err := h.svc.List(r.Context(), p.OrgID, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Domain]{Data: data, NextCursor: h.cursors.Encode(p.OrgID, listScope, next)})
	return nil
}

func (h *Handlers) get(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	d, err := h.svc.Get(r.Context(), p.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (h *Handlers) delete(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	if err := h.svc.Delete(r.Context(), p.OrgID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) verify(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	d, err := h.svc.Verify(r.Context(), p.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}
