package imports

import (
	"bytes"
	"io"
	"net/http"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Handlers serves the import routes.
type Handlers struct{ svc *Service }

// NewHandlers returns the import handlers.
func NewHandlers(svc *Service) *Handlers { return &Handlers{svc: svc} }

// Register adds the import routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("POST /api/contacts/imports", httpx.Tenant, h.create)
	rt.Handle("GET /api/contacts/imports/{id}", httpx.Tenant, h.get)
}

// CreateRequest is the (empty) body of POST /api/contacts/imports; a body is optional.
type CreateRequest struct{}

func (h *Handlers) create(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return httpx.DecodeBytes(nil, &CreateRequest{}) // the same error Decode gives
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := httpx.DecodeBytes(body, &CreateRequest{}); err != nil {
			return err
		}
	}
	imp, err := h.svc.Create(r.Context(), tenant.OrgID(r.Context()))
	if err != nil {
		return err
	}
	// The upload URL is a credential for an hour: a retry makes a new import.
	httpx.ForbidReplay(r.Context())
	httpx.WriteJSON(w, http.StatusCreated, imp)
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
