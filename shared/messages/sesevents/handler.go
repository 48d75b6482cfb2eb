package sesevents

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
)

// Limits of what an event puts on a timeline.
const (
	maxDiagnostic = 500 // a bounce's or delay's diagnosticCode
	maxSMTP       = 300 // a delivery's smtpResponse
	maxReason     = 300 // a rejection's or rendering failure's reason
)

// Unsubscriber unsubscribes a contact (contacts.Service).
type Unsubscriber interface {
	Patch(ctx context.Context, orgID, id string, p contacts.Patch) (*contacts.Item, error)
}

var _ Unsubscriber = (*contacts.Service)(nil)

// Handler records SES's events on the sends they are about.
type Handler struct {
	ledger   *sends.Ledger
	contacts Unsubscriber
}

// NewHandler returns a handler that records on st and unsubscribes through c.
func NewHandler(st *store.Store, c Unsubscriber) *Handler {
	return &Handler{ledger: &sends.Ledger{Store: st}, contacts: c}
}

// Handle records one SES event record (the detail of an EventBridge event).
// It returns an error only when trying again may succeed (the table is
// unavailable): Lambda then retries the event. A malformed record, one that
// names no send or a send that does not exist, and an event recorded
// before are logged and dropped.
func (h *Handler) Handle(ctx context.Context, detail []byte) error {
	var rec Record
	if err := json.Unmarshal(detail, &rec); err != nil {
		slog.WarnContext(ctx, "ses-events: malformed event dropped", "error", err.Error())
		return nil
	}
	orgID, sendID := rec.Mail.tag(TagOrg), rec.Mail.tag(TagSend)
	log := slog.With("eventType", rec.EventType, "sesMessageId", rec.Mail.MessageID, "orgId", orgID, "sendId", sendID)
	if orgID == "" || sendID == "" {
		log.InfoContext(ctx, "ses-events: event without Sendwell's tags dropped")
		return nil
	}
	ev, ok, err := mapEvent(&rec, detail)
	if err != nil {
		log.WarnContext(ctx, "ses-events: malformed event dropped", "error", err.Error())
		return nil
	}
	if !ok {
		log.DebugContext(ctx, "ses-events: event type not recorded")
		return nil
	}
	it, err := h.ledger.Get(ctx, orgID, sendID)
	if errors.Is(err, errs.ErrNotFound) {
		log.WarnContext(ctx, "ses-events: event about an unknown send dropped")
		return nil
	}
	if err != nil {
		return fmt.Errorf("ses-events: read send: %w", err)
	}
	if rec.EventType == TypeSend {
		// The worker records sent itself; SES's Send event only tells what
		// happened to a send whose worker died between its claim and SES's
		// answer (unknown), and counts it as sent then, once.
		if it.Status != sends.Unknown {
			return nil
		}
		ev.SESMessageID = rec.Mail.MessageID
	}
	if err := h.addSuppression(&it, &rec, &ev); err != nil {
		return err
	}
	err = h.ledger.Record(ctx, &it, ev)
	switch {
	case errors.Is(err, sends.ErrDuplicate):
		log.InfoContext(ctx, "ses-events: event already recorded")
	case err != nil && errs.Retryable(err):
		return fmt.Errorf("ses-events: record %s: %w", rec.EventType, err)
	case err != nil:
		log.ErrorContext(ctx, "ses-events: event not recorded", "error", err.Error())
		return nil
	default:
		log.InfoContext(ctx, "ses-events: event recorded", "type", ev.Type, "status", it.Status)
	}
	// After the record (or its duplicate, so a retried event finishes the
	// job): a complaint unsubscribes the send's contact.
	if rec.EventType == TypeComplaint && it.ContactID != "" {
		return h.unsubscribe(ctx, log, orgID, it.ContactID)
	}
	return nil
}

// addSuppression adds to ev the suppression entry its event causes: a
// permanent bounce or a complaint suppresses the send's address.
func (h *Handler) addSuppression(it *sends.Item, rec *Record, ev *sends.Event) error {
	reason := ""
	switch {
	case rec.EventType == TypeBounce && rec.Bounce.BounceType == BouncePermanent:
		reason = sends.ReasonHardBounce
	case rec.EventType == TypeComplaint:
		reason = sends.ReasonComplaint
	default:
		return nil
	}
	w, err := sends.NewSuppression(it.OrgID, it.To, reason, it.ID, ev.At).Write()
	if err != nil {
		return err
	}
	ev.Extra = append(ev.Extra, w)
	return nil
}

func (h *Handler) unsubscribe(ctx context.Context, log *slog.Logger, orgID, contactID string) error {
	_, err := h.contacts.Patch(ctx, orgID, contactID, contacts.Patch{Subscribed: httpx.Optional[bool]{Set: true, Value: false}})
	switch {
	case err == nil:
		log.InfoContext(ctx, "ses-events: contact unsubscribed after a complaint", "contactId", contactID)
	case errors.Is(err, errs.ErrNotFound):
		log.InfoContext(ctx, "ses-events: complained contact already deleted", "contactId", contactID)
	case errs.Retryable(err):
		return fmt.Errorf("ses-events: unsubscribe contact: %w", err)
	default:
		log.ErrorContext(ctx, "ses-events: contact not unsubscribed", "contactId", contactID, "error", err.Error())
	}
	return nil
}

// mapEvent is the ledger event of an SES record; ok is false for the
// types Sendwell does not record (opens and clicks are tracked first-party).
func mapEvent(rec *Record, detail []byte) (ev sends.Event, ok bool, err error) {
	ev = sends.Event{At: rec.Mail.Timestamp, Key: hashKey(detail), Detail: map[string]any{}}
	missing := func(obj string) (sends.Event, bool, error) {
		return sends.Event{}, false, fmt.Errorf("a %s event without its %q object", rec.EventType, obj)
	}
	switch rec.EventType {
	case TypeSend:
		ev.Type, ev.Status, ev.Count = sends.Sent, sends.Sent, []string{sends.CountSent}
		ev.Detail["source"] = "ses"
	case TypeDelivery:
		d := rec.Delivery
		if d == nil {
			return missing("delivery")
		}
		ev.Type, ev.Status, ev.Count = sends.Delivered, sends.Delivered, []string{sends.CountDelivered}
		ev.At = orMail(d.Timestamp, rec)
		ev.Detail["processingTimeMillis"] = d.ProcessingTimeMillis
		putText(ev.Detail, "smtpResponse", d.SMTPResponse, maxSMTP)
		putText(ev.Detail, "reportingMTA", d.ReportingMTA, maxSMTP)
	case TypeBounce:
		b := rec.Bounce
		if b == nil {
			return missing("bounce")
		}
		ev.At = orMail(b.Timestamp, rec)
		ev.Key = keyOr(b.FeedbackID, ev.Key)
		ev.Detail["bounceType"] = b.BounceType
		putText(ev.Detail, "bounceSubType", b.BounceSubType, maxReason)
		if len(b.BouncedRecipients) > 0 {
			r := b.BouncedRecipients[0]
			putText(ev.Detail, "action", r.Action, maxReason)
			putText(ev.Detail, "status", r.Status, maxReason)
			putText(ev.Detail, "diagnosticCode", r.DiagnosticCode, maxDiagnostic)
		}
		if b.BounceType == BouncePermanent {
			ev.Type, ev.Status, ev.Count = sends.Bounced, sends.Bounced, []string{sends.CountBounced}
			ev.Reason = "permanent bounce (" + clip(b.BounceSubType, maxReason) + ")"
		} else {
			// Transient and undetermined bounces: SES keeps trying, or
			// cannot tell; the timeline shows them, nothing else changes.
			ev.Type = sends.EventSoftBounce
		}
	case TypeComplaint:
		c := rec.Complaint
		if c == nil {
			return missing("complaint")
		}
		ev.Type, ev.Status, ev.Count = sends.Complained, sends.Complained, []string{sends.CountComplained}
		ev.At = orMail(c.Timestamp, rec)
		ev.Key = keyOr(c.FeedbackID, ev.Key)
		putText(ev.Detail, "complaintFeedbackType", c.ComplaintFeedbackType, maxReason)
		if c.ComplaintSubType != nil {
			putText(ev.Detail, "complaintSubType", *c.ComplaintSubType, maxReason)
		}
	case TypeReject:
		r := rec.Reject
		if r == nil {
			return missing("reject")
		}
		ev.Type, ev.Status, ev.Count = sends.Rejected, sends.Rejected, []string{sends.CountFailed}
		ev.Reason = "rejected by SES: " + clip(r.Reason, maxReason)
		putText(ev.Detail, "reason", r.Reason, maxReason)
	case TypeDeliveryDelay:
		d := rec.DeliveryDelay
		if d == nil {
			return missing("deliveryDelay")
		}
		ev.Type, ev.Status = sends.DeliveryDelayed, sends.DeliveryDelayed
		ev.At = orMail(d.Timestamp, rec)
		putText(ev.Detail, "delayType", d.DelayType, maxReason)
		if d.ExpirationTime != nil {
			ev.Detail["expirationTime"] = d.ExpirationTime.UTC()
		}
		if len(d.DelayedRecipients) > 0 {
			r := d.DelayedRecipients[0]
			putText(ev.Detail, "status", r.Status, maxReason)
			putText(ev.Detail, "diagnosticCode", r.DiagnosticCode, maxDiagnostic)
		}
	case TypeRenderingFailure:
		f := rec.Failure
		if f == nil {
			return missing("failure")
		}
		ev.Type, ev.Status, ev.Count = sends.EventRenderFailure, sends.Failed, []string{sends.CountFailed}
		ev.Reason = "SES could not render the email: " + clip(f.ErrorMessage, maxReason)
		putText(ev.Detail, "errorMessage", f.ErrorMessage, maxReason)
	default:
		return sends.Event{}, false, nil
	}
	if ev.At.IsZero() {
		return sends.Event{}, false, errors.New("an event without a timestamp")
	}
	if len(ev.Detail) == 0 {
		ev.Detail = nil
	}
	return ev, true, nil
}

// hashKey tells an event apart when SES gives it no feedback id: the same
// record delivered twice has the same key.
func hashKey(detail []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, detail) != nil {
		buf.Reset()
		buf.Write(detail)
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:8])
}

func keyOr(k, fallback string) string {
	if k = strings.TrimSpace(k); k == "" || len(k) > 200 {
		return fallback
	}
	return k
}

// orMail is t, or the mail's timestamp when the event has none.
func orMail(t time.Time, rec *Record) time.Time {
	if t.IsZero() {
		return rec.Mail.Timestamp
	}
	return t
}

func putText(m map[string]any, k, v string, max int) {
	if v = strings.TrimSpace(v); v != "" {
		m[k] = clip(v, max)
	}
}

// clip cuts s to at most max bytes, on a rune boundary.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
