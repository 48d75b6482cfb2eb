package automation

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Cursor scopes of the lists (a cursor resumes only the list, with the
// filters, it came from).
const (
	listScope               = "sequences"
	versionsScope           = "sequence-versions|"
	sequenceEnrollmentScope = "sequence-enrollments|"
	contactEnrollmentScope  = "contact-enrollments|"
)

// sequenceStatuses are the statuses the list filters by.
var sequenceStatuses = []string{journey.Draft, journey.Active, journey.Paused, journey.Archived}

// Handlers serves the sequences and enrollments routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the sequences handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the sequences and enrollments routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("GET /api/sequences", httpx.Tenant, h.list)
	rt.Handle("PUT /api/sequences/{id}", httpx.Tenant, h.put)
	rt.Handle("GET /api/sequences/{id}", httpx.Tenant, h.get)
	rt.Handle("DELETE /api/sequences/{id}", httpx.Tenant, h.delete)
	rt.Handle("GET /api/sequences/{id}/versions", httpx.Tenant, h.versions)
	rt.Handle("POST /api/sequences/{id}/activate", httpx.Tenant, h.transition(ActionActivate))
	rt.Handle("POST /api/sequences/{id}/pause", httpx.Tenant, h.transition(ActionPause))
	rt.Handle("POST /api/sequences/{id}/archive", httpx.Tenant, h.transition(ActionArchive))
	rt.Handle("POST /api/sequences/{id}/trigger", httpx.Tenant, h.trigger)
	rt.Handle("POST /api/sequences/{id}/simulate", httpx.Tenant, h.simulate)
	rt.Handle("GET /api/sequences/{id}/enrollments", httpx.Tenant, h.enrollments)
	rt.Handle("GET /api/enrollments/{id}", httpx.Tenant, h.enrollment)
	rt.Handle("DELETE /api/enrollments/{id}", httpx.Tenant, h.exitEnrollment)
	// Served through a broader pattern, shared with the contacts' events and
	// segments: it overlaps GET /api/contacts/imports/{id} (see
	// httpx.Router.HandleVia).
	rt.HandleVia("GET /api/contacts/{id}/enrollments", contactEnrollmentsVia, httpx.Tenant, h.contactEnrollments)
}

// contactEnrollmentsVia is the mux pattern GET /api/contacts/{id}/enrollments
// is served through.
const contactEnrollmentsVia = "GET /api/contacts/{id}/{sub}"

func (h *Handlers) put(w http.ResponseWriter, r *http.Request) error {
	var raw json.RawMessage
	if err := httpx.Decode(r, &raw); err != nil {
		return err
	}
	seq, created, err := h.svc.Put(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), raw)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, seq)
	return nil
}

func (h *Handlers) get(w http.ResponseWriter, r *http.Request) error {
	seq, err := h.svc.Get(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, seq)
	return nil
}

// list serves GET /api/sequences[?status=…][&campaignId=…].
func (h *Handlers) list(w http.ResponseWriter, r *http.Request) error {
	org := tenant.OrgID(r.Context())
	q := r.URL.Query()
	status, campaignID := q.Get("status"), q.Get("campaignId")
	if status != "" && !slices.Contains(sequenceStatuses, status) {
		return errs.Invalid("status", "The 'status' parameter must be one of draft, active, paused, archived.")
	}
	if campaignID != "" && !ids.Valid(ids.Campaign, campaignID) {
		return errs.Invalid("campaignId", "The 'campaignId' parameter must be a campaign id (cmp_…).")
	}
	scope := listScope + "|status=" + status + "|campaignId=" + campaignID
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	data, next, err := h.svc.List(r.Context(), org, status, campaignID, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Sequence]{Data: data, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}

func (h *Handlers) delete(w http.ResponseWriter, r *http.Request) error {
	force := false
	switch v := r.URL.Query()["force"]; {
	case len(v) == 0:
	case len(v) == 1 && (v[0] == "true" || v[0] == "false"):
		force = v[0] == "true"
	default:
		return errs.Invalid("force", "The 'force' parameter must be true or false.")
	}
	if err := h.svc.Delete(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) versions(w http.ResponseWriter, r *http.Request) error {
	org, id := tenant.OrgID(r.Context()), r.PathValue("id")
	scope := versionsScope + id
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	data, next, err := h.svc.Versions(r.Context(), org, id, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Version]{Data: data, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}

// transition serves the status actions; they take no body.
func (h *Handlers) transition(action string) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		seq, err := h.svc.Transition(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), action)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, seq)
		return nil
	}
}

// trigger serves the manual trigger: one contact (202 with its
// enrollment) or many (202 with each one's outcome).
func (h *Handlers) trigger(w http.ResponseWriter, r *http.Request) error {
	var req TriggerRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	org, id := tenant.OrgID(r.Context()), r.PathValue("id")
	if req.Contacts != nil {
		results, err := h.svc.TriggerMany(r.Context(), org, id, req.Contacts)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusAccepted, BulkTriggerResponse{Data: results})
		return nil
	}
	enr, err := h.svc.Trigger(r.Context(), org, id, req.TriggerTarget)
	var ne *NotEnrolledError
	if errors.As(err, &ne) {
		// The envelope, with the enrollment in the way.
		httpx.WriteJSON(w, http.StatusConflict, notEnrolledBody{Error: ResultError{Code: httpx.CodeConflict, Message: ne.Message, EnrollmentID: ne.EnrollmentID}})
		return nil
	}
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusAccepted, enr)
	return nil
}

// notEnrolledBody is the 409 of a trigger the sequence refused: the error
// envelope, whose error also names the enrollment in the way.
type notEnrolledBody struct {
	Error ResultError `json:"error"`
}

func (h *Handlers) simulate(w http.ResponseWriter, r *http.Request) error {
	var req SimulateRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	res, err := h.svc.Simulate(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

// enrollments serves GET /api/sequences/{id}/enrollments[?status=…].
func (h *Handlers) enrollments(w http.ResponseWriter, r *http.Request) error {
	org, id := tenant.OrgID(r.Context()), r.PathValue("id")
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(enrollmentStatuses, status) {
		return errs.Invalid("status", "The 'status' parameter must be one of active, completed, exited, failed.")
	}
	scope := sequenceEnrollmentScope + id + "|" + status
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	data, next, err := h.svc.Enrollments(r.Context(), org, id, status, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Enrollment]{Data: data, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}

func (h *Handlers) enrollment(w http.ResponseWriter, r *http.Request) error {
	enr, err := h.svc.Enrollment(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, enr)
	return nil
}

func (h *Handlers) exitEnrollment(w http.ResponseWriter, r *http.Request) error {
	enr, err := h.svc.ExitEnrollment(r.Context(), tenant.OrgID(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, enr)
	return nil
}

func (h *Handlers) contactEnrollments(w http.ResponseWriter, r *http.Request) error {
	if r.PathValue("sub") != "enrollments" {
		return httpx.NoRoute(r)
	}
	org, id := tenant.OrgID(r.Context()), r.PathValue("id")
	scope := contactEnrollmentScope + id
	pp, err := h.cursors.ParsePage(r, org, scope)
	if err != nil {
		return err
	}
	data, next, err := h.svc.ContactEnrollments(r.Context(), org, id, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Enrollment]{Data: data, NextCursor: h.cursors.Encode(org, scope, next)})
	return nil
}
