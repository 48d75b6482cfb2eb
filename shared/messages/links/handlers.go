package links

import (
	"bytes"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/sends"
)

// Handlers serves the link routes.
type Handlers struct {
	svc *Service
}

// NewHandlers returns the link handlers.
func NewHandlers(svc *Service) *Handlers { return &Handlers{svc: svc} }

// Register adds the link routes to rt; anyone may call them: the token is
// the credential.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("GET "+sends.PathUnsubscribe+"{token}", httpx.Public, h.unsubscribePage)
	rt.Handle("POST "+sends.PathUnsubscribe+"{token}", httpx.Public, h.unsubscribe)
	rt.Handle("GET "+sends.PathOpen+"{token}", httpx.Public, h.open)
	rt.Handle("GET "+sends.PathClick+"{token}", httpx.Public, h.click)
}

// unsubscribePage asks before unsubscribing: a GET changes nothing, since
// link scanners and previews fetch every link of a message.
func (h *Handlers) unsubscribePage(w http.ResponseWriter, r *http.Request) error {
	l, err := h.svc.Verify(r.PathValue("token"), sends.LinkUnsubscribe)
	if err != nil {
		return err
	}
	p, err := h.svc.Page(r.Context(), l)
	if err != nil {
		return err
	}
	return writePage(w, confirmPage, p)
}

// unsubscribe is the RFC 8058 one-click POST (body
// "List-Unsubscribe=One-Click", sent by mail providers) and the page's
// button. The body is not required: the signed token says everything.
func (h *Handlers) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	l, err := h.svc.Verify(r.PathValue("token"), sends.LinkUnsubscribe)
	if err != nil {
		return err
	}
	changed, err := h.svc.Unsubscribe(r.Context(), l)
	if err != nil {
		return err
	}
	slog.InfoContext(r.Context(), "unsubscribe link", "orgId", l.OrgID, "sendId", l.SendID, "changed", changed)
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		return writePage(w, donePage, nil)
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]bool{"unsubscribed": true})
	return nil
}

// open answers the tracking pixel. Recording is best effort: the image is
// served whatever happens to the record.
func (h *Handlers) open(w http.ResponseWriter, r *http.Request) error {
	l, err := h.svc.Verify(r.PathValue("token"), sends.LinkOpen)
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet { // a HEAD is a probe, not an open
		if err := h.svc.Open(r.Context(), l, r.UserAgent()); err != nil {
			slog.WarnContext(r.Context(), "open not recorded", "orgId", l.OrgID, "sendId", l.SendID, "error", err.Error())
		}
	}
	w.Header().Set("Content-Type", "image/gif")
	w.Header().Set("Content-Length", strconv.Itoa(len(pixel)))
	w.Header().Set("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(pixel)
	return nil
}

// click records the click and redirects to the URL the token carries
// (never one from the request: no open redirect). Recording is best
// effort: the reader always reaches the link.
func (h *Handlers) click(w http.ResponseWriter, r *http.Request) error {
	l, err := h.svc.Verify(r.PathValue("token"), sends.LinkClick)
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		if err := h.svc.Click(r.Context(), l); err != nil {
			slog.WarnContext(r.Context(), "click not recorded", "orgId", l.OrgID, "sendId", l.SendID, "error", err.Error())
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Location", l.URL)
	w.WriteHeader(http.StatusFound)
	return nil
}

// pixel is a 1x1 transparent GIF (43 bytes).
var pixel = []byte{
	'G', 'I', 'F', '8', '9', 'a', 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, // header, 1x1, 2-colour table
	0x00, 0x00, 0x00, 0xff, 0xff, 0xff, // the colour table
	0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, // colour 0 is transparent
	0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, // the image: 1x1 at 0,0
	0x02, 0x02, 0x44, 0x01, 0x00, // its one pixel, LZW-coded
	0x3b, // end
}

// writePage writes an HTML page, locked down: no scripts, no external
// assets, no framing, and the token-bearing URL never sent as a referrer.
func writePage(w http.ResponseWriter, t *template.Template, data any) error {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
	return nil
}
