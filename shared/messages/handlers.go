package messages

import (
	"net/http"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/tenant"
	"github.com/sendwell/sendwell/shared/validate"
)

// Handlers serves the messages routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the messages handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the messages routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("POST /api/send", httpx.Tenant, h.send)
	rt.Handle("POST /api/send/batch", httpx.Tenant, h.batch)
	rt.Handle("GET /api/sends", httpx.Tenant, h.list)
	rt.Handle("GET /api/sends/{id}", httpx.Tenant, h.get)
	rt.Handle("GET /api/scheduled", httpx.Tenant, h.scheduled)
	rt.Handle("PATCH /api/scheduled/{id}", httpx.Tenant, h.reschedule)
	rt.Handle("DELETE /api/scheduled/{id}", httpx.Tenant, h.cancel)
	rt.Handle("GET /api/suppressions", httpx.Tenant, h.suppressions)
	rt.Handle("POST /api/suppressions", httpx.Tenant, h.suppress)
	rt.Handle("GET /api/suppressions/{email}", httpx.Tenant, h.suppression)
	rt.Handle("DELETE /api/suppressions/{email}", httpx.Tenant, h.unsuppress)
	rt.Handle("POST /api/templates/{id}/test", httpx.Tenant, h.test)
}

func (h *Handlers) send(w http.ResponseWriter, r *http.Request) error {
	var in SendRequest
	if err := httpx.Decode(r, &in); err != nil {
		return err
	}
	s, err := h.svc.Send(r.Context(), tenant.OrgID(r.Context()), in)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, s)
	return nil
}

// BatchResult is what happened to one message of a batch.
type BatchResult struct {
	Index  int                `json:"index"`
	ID     *string            `json:"id"`
	Status string             `json:"status"` // queued, scheduled or error
	Error  *httpx.ErrorDetail `json:"error"`
}

// batch serves POST /api/send/batch: each message is validated and written
// on its own, and answered in its own result.
func (h *Handlers) batch(w http.ResponseWriter, r *http.Request) error {
	items, err := httpx.DecodeBatch[SendRequest](r, "messages", MaxBatch)
	if err != nil {
		return err
	}
	org := tenant.OrgID(r.Context())
	out := make([]BatchResult, len(items))
	for i, it := range items {
		out[i].Index = i
		err := it.Err
		if err == nil {
			var s Send
			if s, err = h.svc.Send(r.Context(), org, it.Value); err == nil {
				out[i].ID, out[i].Status = &s.ID, s.Status
				continue
			}
		}
		out[i].Status, out[i].Error = "error", httpx.BatchItemError(r.Context(), i, err)
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.BatchResponse[BatchResult]{Data: out})
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

// list serves GET /api/sends: a cursor is bound to its filters.
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
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Send]{Data: items, NextCursor: h.cursors.Encode(org, f.Scope(), next)})
	return nil
}

func (h *Handlers) scheduled(w http.ResponseWriter, r *http.Request) error {
	org := tenant.OrgID(r.Context())
	pp, err := h.cursors.ParsePage(r, org, "scheduled")
	if err != nil {
		return err
	}
	items, next, err := h.svc.Scheduled(r.Context(), org, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Send]{Data: items, NextCursor: h.cursors.Encode(org, "scheduled", next)})
	return nil
}

func (h *Handlers) reschedule(w http.ResponseWriter, r *http.Request) error {
	var in RescheduleRequest
	if err := httpx.Decode(r, &in); err != nil {
		return err
	}
	s, err := h.svc.Reschedule(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), in.at)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s)
	return nil
}

// cancel serves DELETE /api/scheduled/{id}: 200 with the cancelled send
// (it is kept, with its timeline).
func (h *Handlers) cancel(w http.ResponseWriter, r *http.Request) error {
	s, err := h.svc.Cancel(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s)
	return nil
}

// suppressions serves GET /api/suppressions[?reason=…].
func (h *Handlers) suppressions(w http.ResponseWriter, r *http.Request) error {
	org := tenant.OrgID(r.Context())
	reason := r.URL.Query().Get("reason")
	if reason != "" && !validReason(reason) {
		return errs.Invalid("reason", "The 'reason' parameter must be one of hard_bounce, complaint, unsubscribed, manual.")
	}
	scope := "suppressions|" + reason
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	items, next, err := h.svc.Suppressions(r.Context(), org, reason, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[sends.Suppression]{Data: items, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}

func validReason(reason string) bool {
	for _, r := range sends.Reasons() {
		if r == reason {
			return true
		}
	}
	return false
}

func (h *Handlers) suppress(w http.ResponseWriter, r *http.Request) error {
	var in SuppressRequest
	if err := httpx.Decode(r, &in); err != nil {
		return err
	}
	s, created, err := h.svc.Suppress(r.Context(), tenant.OrgID(r.Context()), in.Email)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, s)
	return nil
}

func (h *Handlers) suppression(w http.ResponseWriter, r *http.Request) error {
	email, err := validate.Email("email", r.PathValue("email"))
	if err != nil {
		return err
	}
	s, err := h.svc.Suppression(r.Context(), tenant.OrgID(r.Context()), email)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s)
	return nil
}

func (h *Handlers) unsuppress(w http.ResponseWriter, r *http.Request) error {
	email, err := validate.Email("email", r.PathValue("email"))
	if err != nil {
		return err
	}
	if err := h.svc.Unsuppress(r.Context(), tenant.OrgID(r.Context()), email); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// test serves POST /api/templates/{id}/test: one send of the template's
// latest version, marked test.
func (h *Handlers) test(w http.ResponseWriter, r *http.Request) error {
	var in TestRequest
	if err := httpx.Decode(r, &in); err != nil {
		return err
	}
	if in.To == "" {
		return errs.Required("to")
	}
	s, err := h.svc.TestSend(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, s)
	return nil
}
