package webhooks_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/domains"
	"github.com/sendwell/sendwell/shared/imports"
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/tracking"
	"github.com/sendwell/sendwell/shared/webhooks"
)

// catEntry is one type of the catalogue and the data of its example.
type catEntry struct {
	typ, description string
	data             any
}

// Orderings a receiver can rely on, said once for the descriptions.
const (
	catOrderContact = " Order a contact's events by data.updatedAt, then by the payload's createdAt."
	catOrderSend    = " A send's status only moves forward, in the order of the sends API's status list, so a receiver ignores an event whose data.status its copy of the send has already passed."
)

// catFromTypes is every type of the catalogue, with sample data built from
// the API's own types: catalogue.json must hold exactly these.
func catFromTypes() []catEntry {
	send := "Fires when a send's status becomes %s: %s; data is the send as GET /api/sends/{id} shows it (without its timeline)." + catOrderSend
	return []catEntry{
		{changes.ContactCreated, "Fires when a contact is created, through the API or an import; data is the contact as the contacts API shows it." + catOrderContact,
			catContact(false)},
		{changes.ContactUpdated, "Fires when a contact changes (its address, names, properties, tags or subscription); data is the contact after the change." + catOrderContact,
			catContact(false)},
		{changes.ContactUnsubscribed, "Fires, alongside contact.updated, when a subscribed contact is unsubscribed through the API, an unsubscribe link or a spam complaint; data is the contact after the change, with unsubscribedAt set." + catOrderContact,
			catContact(true)},
		{changes.ContactDeleted, "Fires when a contact is deleted; data is the contact as it was just before, and the payload's createdAt is when it was deleted.",
			catContact(false)},
		{changes.EventTracked, "Fires when an event a contact performed is recorded (POST /api/events); data is the event as the API shows it, and its timestamp is when it happened, which may be before events delivered earlier.",
			(&tracking.Item{ID: "evt_01KKNTWNG8VMTF0MKQ6K0T36F5", ContactID: catContactID, Name: "checkout.completed",
				Properties: map[string]any{"orderId": "ord_10482", "total": 89.5, "currency": "EUR"},
				Timestamp:  catTime("2026-03-14T09:29:57Z")}).API()},
		{"import.completed", "Fires once when a contact import has processed its whole file (status completed); data is the import with its final counts and the first row errors.",
			catImport()},
		{"email.sent", fmt.Sprintf(send, sends.Sent, "Amazon SES accepted it for delivery"), catSend(sends.Sent, "", 0, 0)},
		{changes.EmailDelivered, fmt.Sprintf(send, sends.Delivered, "the recipient's mail server accepted it"), catSend(sends.Delivered, "", 0, 0)},
		{"email.delivery_delayed", fmt.Sprintf(send, sends.DeliveryDelayed, "the recipient's mail server has not accepted it yet, and SES keeps trying"),
			catSend(sends.DeliveryDelayed, "", 0, 0)},
		{changes.EmailBounced, fmt.Sprintf(send, sends.Bounced, "the recipient's mail server refused it for good (a permanent bounce; reason says which kind)"),
			catSend(sends.Bounced, "permanent bounce (General)", 0, 0)},
		{"email.complained", fmt.Sprintf(send, sends.Complained, "the recipient marked it as spam"), catSend(sends.Complained, "", 1, 0)},
		{changes.EmailOpened, fmt.Sprintf(send, sends.Opened, "its first tracked open (an open after a click changes nothing)"), catSend(sends.Opened, "", 1, 0)},
		{changes.EmailClicked, fmt.Sprintf(send, sends.Clicked, "its first tracked click"), catSend(sends.Clicked, "", 1, 1)},
		{"email.failed", fmt.Sprintf(send, sends.Failed, "it could not be sent and will not be retried (reason says why)"),
			catSend(sends.Failed, "the from domain is not a verified domain of the organisation", 0, 0)},
		{changes.SegmentEntered, "Fires when a contact enters a segment; data names the segment and the contact, and at is when the contact entered. Order a contact's segment events by data.at.",
			changes.Membership{SegmentID: catSegmentID, ContactID: catContactID, At: catTime("2026-03-14T09:29:58Z")}},
		{changes.SegmentExited, "Fires when a contact leaves a segment, because it no longer matches or the contact or the segment was deleted; data names the segment and the contact, and at is when the contact left. Order a contact's segment events by data.at.",
			changes.Membership{SegmentID: catSegmentID, ContactID: catContactID, At: catTime("2026-03-14T09:29:58Z")}},
		{changes.SequenceStep, "Fires when a contact's enrollment takes a sequence's webhook step; data names the sequence, its version, the enrollment, the contact and the step, with the step's data as the sequence defines it, and at is when the step was taken. A step fires once per enrollment, however often its message is delivered.",
			changes.StepEvent{SequenceID: "welcome", Version: 2, EnrollmentID: "enr_01KKNTWP3Q6E9T0R6S3B8W1V4X", ContactID: catContactID,
				StepID: "notify-sales", At: catTime("2026-03-14T09:30:02Z"), Data: json.RawMessage(`{"channel":"sales","reason":"trial started"}`)}},
		{"domain.verified", "Fires when a sending domain becomes verified, so mail can be sent from it; data is the domain as the domains API shows it, with its DNS records.",
			catDomain()},
		{webhooks.TestPing, "Sent only by POST /api/webhooks/{id}/test, never to a subscription that does not name it; data names the endpoint, to check its URL and signature verification.",
			webhooks.PingData{WebhookID: "wh_01KJMDEB80Q4E84Y6DTAJKXSW9", Message: "A test delivery from Sendwell."}},
	}
}

// Sample values of the examples.
const (
	catContactID = "cnt_01KGFKWWE07N48AVVX159Z8WWJ"
	catSegmentID = "seg_01KKC4DKM857Q58R0RDYQDCDZ4"
)

// catTime parses a fixed sample time.
func catTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(fmt.Sprintf("webhooks: sample time %q: %v", s, err))
	}
	return t
}

func catPtr[T any](v T) *T { return &v }

// catContact is the sample contact, unsubscribed or not.
func catContact(unsubscribed bool) contacts.Contact {
	it := contacts.Item{ID: catContactID, Email: "ada@example.com", FirstName: catPtr("Ada"), LastName: catPtr("Lovelace"),
		Properties: map[string]any{"plan": "pro", "company": "Analytical Engines Ltd", "seats": 12},
		Tags:       []string{"beta", "newsletter"}, Subscribed: true,
		CreatedAt: catTime("2026-02-02T16:45:12Z"), UpdatedAt: catTime("2026-03-14T09:29:58Z")}
	if unsubscribed {
		it.Subscribed, it.UnsubscribedAt = false, catPtr(it.UpdatedAt)
	}
	return it.API()
}

// catImport is the sample import, completed.
func catImport() imports.Import {
	it := imports.Item{ID: "imp_01KKNRRCY02HK7NGWM9ZMHRVJ2", Status: imports.StatusCompleted, Total: 1250, Processed: 1250,
		Created: 1180, Updated: 68, Failed: 2,
		Errors: []imports.RowError{
			{Line: 17, Email: "ada@@example.com", Message: "The 'email' field must be a valid email address."},
			{Line: 904, Message: "The 'email' field is required."},
		},
		CreatedAt: catTime("2026-03-14T08:52:40Z"), StartedAt: catPtr(catTime("2026-03-14T08:53:02Z")),
		CompletedAt: catPtr(catTime("2026-03-14T09:29:59Z"))}
	return it.API()
}

// catSend is the sample send in status (reason for the statuses that
// have one), opened and clicked as often as said.
func catSend(status, reason string, opens, clicks int) messages.Send {
	s := messages.Send{ID: "msg_01KKNSVWNR847QB912N2ACB5CK", Status: status, StatusAt: catTime("2026-03-14T09:29:58Z"),
		To: "ada@example.com", ContactID: catPtr(catContactID), TemplateID: catPtr("welcome"),
		Headers: map[string]string{}, Tags: map[string]string{"campaign": "onboarding"}, Type: sends.Transactional,
		Tracking: messages.TrackingOut{Opens: true, Clicks: true}, CreatedAt: catTime("2026-03-14T09:12:03Z"),
		Opens: opens, Clicks: clicks}
	if reason != "" {
		s.Reason = &reason
	}
	if status != sends.Failed {
		s.SentAt = catPtr(catTime("2026-03-14T09:12:04Z"))
		s.SESMessageID = catPtr("0100019a1b2c3d4e-5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c-000000")
	}
	return s
}

// catDomain is the sample domain, verified.
func catDomain() domains.Domain {
	d := domains.Domain{ID: "dom_01KEH7R5R05E3EQV0JBXR7G0MS", Name: "example.com", Status: domains.StatusVerified,
		MailFromDomain: "mail.example.com", CreatedAt: catTime("2026-01-09T11:20:00Z"),
		LastCheckedAt: catPtr(catTime("2026-03-14T09:29:59Z"))}
	for _, token := range []string{"4u3cbbsqtbzl7kjq6o2wr5d2gkxhetvq", "qz7bnl2hcy5rj3wfx6kpe4dmvo2tsa7g", "m6xk2p4rw7tnd3jq5hcb8vfl2ezgyo4s"} {
		d.Records = append(d.Records, domains.Record{Type: "CNAME", Name: token + "._domainkey.example.com",
			Value: token + ".dkim.amazonses.com", Purpose: domains.PurposeDKIM, Status: domains.StatusVerified})
	}
	d.Records = append(d.Records,
		domains.Record{Type: "MX", Name: "mail.example.com", Value: "feedback-smtp.eu-west-1.amazonses.com", Priority: catPtr(10),
			Purpose: domains.PurposeMailFromMX, Status: domains.StatusVerified},
		domains.Record{Type: "TXT", Name: "mail.example.com", Value: "v=spf1 include:amazonses.com ~all",
			Purpose: domains.PurposeMailFromSPF, Status: domains.StatusVerified},
		domains.Record{Type: "TXT", Name: "_dmarc.example.com", Value: "v=DMARC1; p=none; rua=mailto:dmarc@example.com",
			Purpose: domains.PurposeDMARC, Status: domains.StatusUnchecked, Recommended: true},
	)
	return d
}

// catalogue.json, which the group embeds so it links no other group, is
// the API's own types marshalled: rebuilt here from those types, every
// description and every example's data are the same. Regenerate the file
// from catFromTypes when a resource changes shape.
func TestCatalogueJSONIsTheAPIsTypes(t *testing.T) {
	byType := map[string]webhooks.EventType{}
	for _, e := range webhooks.Catalogue() {
		byType[e.Type] = e
	}
	want := catFromTypes()
	require.Len(t, byType, len(want))
	for _, e := range want {
		got, ok := byType[e.typ]
		require.True(t, ok, e.typ)
		assert.Equal(t, e.description, got.Description, e.typ)
		data, err := json.Marshal(e.data)
		require.NoError(t, err)
		var example struct {
			Data json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(got.Example, &example))
		assert.JSONEq(t, string(data), string(example.Data), e.typ)
	}
}
