package campaigns

import (
	"net/http"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Handlers serves the campaigns and broadcasts routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the campaigns and broadcasts handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("POST /api/campaigns", httpx.Tenant, h.createCampaign)
	rt.Handle("GET /api/campaigns", httpx.Tenant, h.listCampaigns)
	rt.Handle("GET /api/campaigns/{id}", httpx.Tenant, h.getCampaign)
	rt.Handle("PATCH /api/campaigns/{id}", httpx.Tenant, h.patchCampaign)
	rt.Handle("DELETE /api/campaigns/{id}", httpx.Tenant, h.deleteCampaign)

	rt.Handle("POST /api/broadcasts", httpx.Tenant, h.createBroadcast)
	rt.Handle("GET /api/broadcasts", httpx.Tenant, h.listBroadcasts)
	rt.Handle("GET /api/broadcasts/{id}", httpx.Tenant, h.getBroadcast)
	rt.Handle("PATCH /api/broadcasts/{id}", httpx.Tenant, h.patchBroadcast)
	rt.Handle("DELETE /api/broadcasts/{id}", httpx.Tenant, h.deleteBroadcast)
	rt.Handle("POST /api/broadcasts/{id}/send", httpx.Tenant, h.sendBroadcast)
	rt.Handle("POST /api/broadcasts/{id}/cancel", httpx.Tenant, h.cancelBroadcast)
}

func (h *Handlers) createCampaign(w http.ResponseWriter, r *http.Request) error {
	var req CampaignRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	c, err := h.svc.CreateCampaign(r.Context(), tenant.OrgID(r.Context()), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, c)
	return nil
}

func (h *Handlers) listCampaigns(w http.ResponseWriter, r *http.Request) error {
	org := tenant.OrgID(r.Context())
	status := r.URL.Query().Get("status")
	switch status {
	case "", journey.CampaignActive, journey.CampaignArchived:
	default:
		return errs.Invalid("status", "The 'status' parameter must be 'active' or 'archived'.")
	}
	scope := "campaigns|" + status
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	data, next, err := h.svc.ListCampaigns(r.Context(), org, status, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Campaign]{Data: data, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}

func (h *Handlers) getCampaign(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.GetCampaign(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (h *Handlers) patchCampaign(w http.ResponseWriter, r *http.Request) error {
	var p CampaignPatch
	if err := httpx.Decode(r, &p); err != nil {
		return err
	}
	c, err := h.svc.PatchCampaign(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (h *Handlers) deleteCampaign(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteCampaign(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) createBroadcast(w http.ResponseWriter, r *http.Request) error {
	var req BroadcastRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	b, err := h.svc.CreateBroadcast(r.Context(), tenant.OrgID(r.Context()), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, b)
	return nil
}

// broadcastStatuses are the values of GET /api/broadcasts?status=.
var broadcastStatuses = map[string]bool{journey.BcDraft: true, journey.BcScheduled: true, journey.BcSending: true,
	journey.BcSent: true, journey.BcCancelled: true}

func (h *Handlers) listBroadcasts(w http.ResponseWriter, r *http.Request) error {
	org := tenant.OrgID(r.Context())
	q := r.URL.Query()
	status, campaignID := q.Get("status"), q.Get("campaignId")
	if status != "" && !broadcastStatuses[status] {
		return errs.Invalid("status", "The 'status' parameter must be one of draft, scheduled, sending, sent, cancelled.")
	}
	if campaignID != "" && !ids.Valid(ids.Campaign, campaignID) {
		return errs.Invalid("campaignId", "The 'campaignId' parameter must be a campaign's id (cmp_…).")
	}
	scope := "broadcasts|" + status + "|" + campaignID
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	data, next, err := h.svc.ListBroadcasts(r.Context(), org, status, campaignID, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Broadcast]{Data: data, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}

func (h *Handlers) getBroadcast(w http.ResponseWriter, r *http.Request) error {
	b, err := h.svc.GetBroadcast(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, b)
	return nil
}

func (h *Handlers) patchBroadcast(w http.ResponseWriter, r *http.Request) error {
	var p BroadcastPatch
	if err := httpx.Decode(r, &p); err != nil {
		return err
	}
	b, err := h.svc.PatchBroadcast(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, b)
	return nil
}

func (h *Handlers) deleteBroadcast(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteBroadcast(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) sendBroadcast(w http.ResponseWriter, r *http.Request) error {
	b, err := h.svc.SendBroadcast(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, b)
	return nil
}

func (h *Handlers) cancelBroadcast(w http.ResponseWriter, r *http.Request) error {
	b, err := h.svc.CancelBroadcast(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, b)
	return nil
}
