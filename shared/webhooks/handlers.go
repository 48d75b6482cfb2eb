package webhooks

import (
	"net/http"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Cursor scopes of the group's lists.
const (
	listScope       = "webhooks"
	deliveriesScope = "webhook-deliveries"
)

// Handlers serves the webhooks routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the webhooks handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the webhooks routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("GET /api/webhooks/event-types", httpx.Tenant, h.eventTypes)
	rt.Handle("POST /api/webhooks", httpx.Tenant, h.create)
	rt.Handle("GET /api/webhooks", httpx.Tenant, h.list)
	rt.Handle("GET /api/webhooks/{id}", httpx.Tenant, h.get)
	rt.Handle("PATCH /api/webhooks/{id}", httpx.Tenant, h.update)
	rt.Handle("DELETE /api/webhooks/{id}", httpx.Tenant, h.delete)
	rt.Handle("POST /api/webhooks/{id}/rotate-secret", httpx.Tenant, h.rotate)
	rt.Handle("POST /api/webhooks/{id}/test", httpx.Tenant, h.test)
	rt.Handle("GET /api/webhooks/{id}/deliveries", httpx.Tenant, h.deliveries)
	rt.Handle("GET /api/webhooks/{id}/deliveries/{deliveryId}", httpx.Tenant, h.delivery)
	rt.Handle("POST /api/webhooks/{id}/deliveries/{deliveryId}/replay", httpx.Tenant, h.replayOne)
	rt.Handle("POST /api/webhooks/{id}/replay", httpx.Tenant, h.replay)
}

func (h *Handlers) replayOne(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	d, err := h.svc.ReplayOne(r.Context(), p.OrgID, r.PathValue("id"), r.PathValue("deliveryId"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (h *Handlers) replay(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	var req ReplayRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	rp, err := h.svc.Replay(r.Context(), p.OrgID, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, rp)
	return nil
}

func (h *Handlers) eventTypes(w http.ResponseWriter, _ *http.Request) error {
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"data": Catalogue()})
	return nil
}

func (h *Handlers) create(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	var req CreateRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	wh, err := h.svc.Create(r.Context(), p, req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, wh)
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
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Webhook]{Data: data, NextCursor: h.cursors.Encode(p.OrgID, listScope, next)})
	return nil
}

func (h *Handlers) get(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	wh, err := h.svc.Get(r.Context(), p.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, wh)
	return nil
}

func (h *Handlers) update(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	var req UpdateRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	wh, err := h.svc.Update(r.Context(), p.OrgID, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, wh)
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

func (h *Handlers) rotate(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	wh, err := h.svc.RotateSecret(r.Context(), p.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, wh)
	return nil
}

func (h *Handlers) test(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	d, err := h.svc.Test(r.Context(), p.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (h *Handlers) deliveries(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	id := r.PathValue("id")
	scope := deliveriesScope + ":" + id
	pp, err := h.cursors.ParsePage(r, p.OrgID, scope)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	data, next, err := h.svc.Deliveries(r.Context(), p.OrgID, id, q.Get("status"), q.Get("type"), pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Delivery]{Data: data, NextCursor: h.cursors.Encode(p.OrgID, scope, next)})
	return nil
}

func (h *Handlers) delivery(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	d, err := h.svc.Delivery(r.Context(), p.OrgID, r.PathValue("id"), r.PathValue("deliveryId"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}
