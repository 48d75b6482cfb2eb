package auth

import (
	"net/http"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Handlers serves the auth routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the auth handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the auth routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("POST /api/auth/signup", httpx.Public, h.signup)
	rt.Handle("POST /api/auth/login", httpx.Public, h.login)
	rt.Handle("POST /api/auth/refresh", httpx.UserOnly, h.refresh)
	rt.Handle("GET /api/users/me", httpx.Tenant, h.me)
	rt.Handle("POST /api/api-keys", httpx.UserOnly, h.createKey)
	rt.Handle("GET /api/api-keys", httpx.UserOnly, h.listKeys)
	rt.Handle("DELETE /api/api-keys/{id}", httpx.UserOnly, h.deleteKey)
}

func (h *Handlers) signup(w http.ResponseWriter, r *http.Request) error {
	var req SignupRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	s, err := h.svc.Signup(r.Context(), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, s)
	return nil
}

func (h *Handlers) login(w http.ResponseWriter, r *http.Request) error {
	var req LoginRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	req.Source = SourceAddress(r)
	s, err := h.svc.Login(r.Context(), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s)
	return nil
}

func (h *Handlers) refresh(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	s, err := h.svc.Refresh(r.Context(), p)
	if err != nil {
		return err
	}
	httpx.ForbidReplay(r.Context()) // a token is a secret
	httpx.WriteJSON(w, http.StatusOK, s)
	return nil
}

func (h *Handlers) me(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	me, err := h.svc.Me(r.Context(), p)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, me)
	return nil
}

func (h *Handlers) createKey(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	var req CreateKeyRequest
	if err := httpx.Decode(r, &req); err != nil {
		return err
	}
	k, err := h.svc.CreateKey(r.Context(), p, req)
	if err != nil {
		return err
	}
	// The answer carries the key: it must never be stored for an idempotent replay.
	httpx.ForbidReplay(r.Context())
	httpx.WriteJSON(w, http.StatusCreated, k)
	return nil
}

func (h *Handlers) listKeys(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	pp, err := h.cursors.ParsePage(r, p.OrgID, "api-keys")
	if err != nil {
		return err
	}
	keys, next, err := h.svc.ListKeys(r.Context(), p.OrgID, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[APIKey]{Data: keys, NextCursor: h.cursors.Encode(p.OrgID, "api-keys", next)})
	return nil
}

func (h *Handlers) deleteKey(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	if err := h.svc.DeleteKey(r.Context(), p.OrgID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
