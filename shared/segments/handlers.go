package segments

import (
	"net/http"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Cursor scopes of the segments lists.
const (
	listScope    = "segments"
	membersScope = "segment-members|"
)

// Handlers serves the segments routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the segments handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the segments routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("POST /api/segments", httpx.Tenant, h.create)
	rt.Handle("GET /api/segments", httpx.Tenant, h.list)
	rt.Handle("POST /api/segments/preview", httpx.Tenant, h.preview)
	rt.Handle("GET /api/segments/{id}", httpx.Tenant, h.get)
	rt.Handle("PATCH /api/segments/{id}", httpx.Tenant, h.patch)
	rt.Handle("DELETE /api/segments/{id}", httpx.Tenant, h.delete)
	rt.Handle("GET /api/segments/{id}/contacts", httpx.Tenant, h.members)
	// Served through a broader pattern, shared with tracking's events: it
	// overlaps GET /api/contacts/imports/{id} (see httpx.Router.HandleVia).
	rt.HandleVia("GET /api/contacts/{id}/segments", contactSegmentsVia, httpx.Tenant, h.contactSegments)
}

func (h *Handlers) create(w http.ResponseWriter, r *http.Request) error {
	var req CreateRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	s, err := h.svc.Create(r.Context(), tenant.OrgID(r.Context()), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, s)
	return nil
}

func (h *Handlers) list(w http.ResponseWriter, r *http.Request) error {
	org := tenant.OrgID(r.Context())
	pp, err := h.cursors.ParsePage(r, org, listScope)
	if err != nil {
		return err
	}
	data, next, err := h.svc.List(r.Context(), org, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Segment]{Data: data, NextCursor: h.cursors.Encode(org, listScope, next)})
	return nil
}

func (h *Handlers) get(w http.ResponseWriter, r *http.Request) error {
	s, err := h.svc.Get(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s)
	return nil
}

func (h *Handlers) patch(w http.ResponseWriter, r *http.Request) error {
	var req PatchRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	s, err := h.svc.Patch(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s)
	return nil
}

func (h *Handlers) delete(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.Delete(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) members(w http.ResponseWriter, r *http.Request) error {
	org, id := tenant.OrgID(r.Context()), r.PathValue("id")
	scope := membersScope + id
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	data, next, err := h.svc.Members(r.Context(), org, id, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Member]{Data: data, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}

// contactSegmentsVia is the mux pattern GET /api/contacts/{id}/segments is
// served through.
const contactSegmentsVia = "GET /api/contacts/{id}/{sub}"

func (h *Handlers) contactSegments(w http.ResponseWriter, r *http.Request) error {
	if r.PathValue("sub") != "segments" {
		return httpx.NoRoute(r)
	}
	data, err := h.svc.ContactSegments(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, MembershipList{Data: data})
	return nil
}

// MembershipList is the body of GET /api/contacts/{id}/segments.
type MembershipList struct {
	Data []Membership `json:"data"`
}

func (h *Handlers) preview(w http.ResponseWriter, r *http.Request) error {
	var req PreviewRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	p, err := h.svc.Preview(r.Context(), tenant.OrgID(r.Context()), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, p)
	return nil
}
