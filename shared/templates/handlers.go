package templates

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Handlers serves the templates routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the templates handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the templates routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("GET /api/templates", httpx.Tenant, h.list)
	rt.Handle("PUT /api/templates/{id}", httpx.Tenant, h.put)
	rt.Handle("GET /api/templates/{id}", httpx.Tenant, h.get)
	rt.Handle("DELETE /api/templates/{id}", httpx.Tenant, h.delete)
	rt.Handle("GET /api/templates/{id}/versions", httpx.Tenant, h.versions)
	rt.Handle("GET /api/templates/{id}/versions/{n}", httpx.Tenant, h.version)
	rt.Handle("POST /api/templates/{id}/preview", httpx.Tenant, h.preview)
}

func (h *Handlers) put(w http.ResponseWriter, r *http.Request) error {
	var in Input
	if err := httpx.Decode(r, &in); err != nil {
		return err
	}
	t, created, err := h.svc.Put(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, t)
	return nil
}

func (h *Handlers) get(w http.ResponseWriter, r *http.Request) error {
	t, err := h.svc.Get(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, t)
	return nil
}

func (h *Handlers) delete(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.Delete(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// list serves GET /api/templates[?search=prefix][&campaignId=cmp_…]: a
// cursor is bound to its search and campaign, so it only continues the list
// it came from.
func (h *Handlers) list(w http.ResponseWriter, r *http.Request) error {
	org := tenant.OrgID(r.Context())
	q := r.URL.Query()
	search := strings.ToLower(strings.TrimSpace(q.Get("search")))
	if len(search) > MaxNameLen {
		return errs.Invalid("search", "The 'search' parameter must be at most %d characters long.", MaxNameLen)
	}
	campaignID := q.Get("campaignId")
	if campaignID != "" && !ids.Valid(ids.Campaign, campaignID) {
		return errs.Invalid("campaignId", "The 'campaignId' parameter must be a campaign's id (cmp_…).")
	}
	scope := "templates"
	if search != "" {
		scope += "|search=" + search
	}
	if campaignID != "" {
		scope += "|campaignId=" + campaignID
	}
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	items, next, err := h.svc.List(r.Context(), org, search, campaignID, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Summary]{Data: items, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}

func (h *Handlers) versions(w http.ResponseWriter, r *http.Request) error {
	org, id := tenant.OrgID(r.Context()), r.PathValue("id")
	scope := "templateVersions|" + id
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	items, next, err := h.svc.Versions(r.Context(), org, id, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[VersionSummary]{Data: items, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}

func (h *Handlers) version(w http.ResponseWriter, r *http.Request) error {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		return errs.Invalid("n", "The version must be a whole number, from 1.")
	}
	v, err := h.svc.Version(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), n)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

// preview serves POST /api/templates/{id}/preview[?strict=true].
func (h *Handlers) preview(w http.ResponseWriter, r *http.Request) error {
	strict := false
	if v := r.URL.Query().Get("strict"); v != "" {
		if v != "true" && v != "false" {
			return errs.Invalid("strict", "The 'strict' parameter must be true or false.")
		}
		strict = v == "true"
	}
	var in PreviewInput
	if err := httpx.Decode(r, &in); err != nil {
		return err
	}
	out, err := h.svc.Preview(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), in, strict)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}
