// Package sesevents is the ses-events function: SES's event publishing
// (Send, Delivery, Bounce, Complaint, Reject, DeliveryDelay, Rendering
// Failure), delivered by EventBridge, recorded on the sends' timelines
// through the ledger, with the suppressions and unsubscriptions they cause.
package sesevents

import "time"

// SES's event types (the record's eventType).
const (
	TypeSend             = "Send"
	TypeDelivery         = "Delivery"
	TypeBounce           = "Bounce"
	TypeComplaint        = "Complaint"
	TypeReject           = "Reject"
	TypeDeliveryDelay    = "DeliveryDelay"
	TypeRenderingFailure = "Rendering Failure"
	TypeOpen             = "Open"
	TypeClick            = "Click"
	TypeSubscription     = "Subscription"
)

// SES's bounce types.
const (
	BouncePermanent    = "Permanent"
	BounceTransient    = "Transient"
	BounceUndetermined = "Undetermined"
)

// The email tags the send worker sets on every email: they name the send
// an event is about, so no lookup by SES's message id is needed.
const (
	TagOrg  = "sendwell_org"
	TagSend = "sendwell_send"
)

// DetailTypes maps each event type to the detail-type EventBridge gives it
// (the rule in template.yaml matches these; the local mailbox simulator
// names its events with them).
var DetailTypes = map[string]string{
	TypeSend:             "Email Sent",
	TypeDelivery:         "Email Delivered",
	TypeBounce:           "Email Bounced",
	TypeComplaint:        "Email Complaint Received",
	TypeReject:           "Email Rejected",
	TypeDeliveryDelay:    "Email Delivery Delayed",
	TypeRenderingFailure: "Email Rendering Failed",
	TypeOpen:             "Email Opened",
	TypeClick:            "Email Clicked",
	TypeSubscription:     "Email Subscribed",
}

// Record is an SES event record: the detail of an EventBridge event from
// source aws.ses. Exactly one of the event objects is set, as eventType
// says. Only the fields Sendwell reads or the local simulator writes are
// declared.
type Record struct {
	EventType     string         `json:"eventType"`
	Mail          Mail           `json:"mail"`
	Send          *struct{}      `json:"send,omitempty"`
	Delivery      *Delivery      `json:"delivery,omitempty"`
	Bounce        *Bounce        `json:"bounce,omitempty"`
	Complaint     *Complaint     `json:"complaint,omitempty"`
	Reject        *Reject        `json:"reject,omitempty"`
	DeliveryDelay *DeliveryDelay `json:"deliveryDelay,omitempty"`
	Failure       *Failure       `json:"failure,omitempty"`
}

// Mail is the email an event is about.
type Mail struct {
	Timestamp        time.Time           `json:"timestamp"`
	MessageID        string              `json:"messageId"`
	Source           string              `json:"source,omitempty"`
	SendingAccountID string              `json:"sendingAccountId,omitempty"`
	Destination      []string            `json:"destination"`
	HeadersTruncated bool                `json:"headersTruncated"`
	Headers          []Header            `json:"headers,omitempty"`
	CommonHeaders    *CommonHeaders      `json:"commonHeaders,omitempty"`
	Tags             map[string][]string `json:"tags"`
}

// Header is one header of the email.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CommonHeaders are the email's usual headers, decoded.
type CommonHeaders struct {
	From      []string `json:"from,omitempty"`
	To        []string `json:"to,omitempty"`
	ReplyTo   []string `json:"replyTo,omitempty"`
	MessageID string   `json:"messageId,omitempty"`
	Subject   string   `json:"subject,omitempty"`
}

// Delivery is a Delivery event's object.
type Delivery struct {
	Timestamp            time.Time `json:"timestamp"`
	ProcessingTimeMillis int64     `json:"processingTimeMillis"`
	Recipients           []string  `json:"recipients"`
	SMTPResponse         string    `json:"smtpResponse"`
	ReportingMTA         string    `json:"reportingMTA,omitempty"`
	RemoteMtaIP          string    `json:"remoteMtaIp,omitempty"`
}

// Bounce is a Bounce event's object.
type Bounce struct {
	BounceType        string             `json:"bounceType"`
	BounceSubType     string             `json:"bounceSubType"`
	BouncedRecipients []BouncedRecipient `json:"bouncedRecipients"`
	Timestamp         time.Time          `json:"timestamp"`
	FeedbackID        string             `json:"feedbackId"`
	ReportingMTA      string             `json:"reportingMTA,omitempty"`
	RemoteMtaIP       string             `json:"remoteMtaIp,omitempty"`
}

// BouncedRecipient is one recipient of a bounce.
type BouncedRecipient struct {
	EmailAddress   string `json:"emailAddress"`
	Action         string `json:"action,omitempty"`
	Status         string `json:"status,omitempty"`
	DiagnosticCode string `json:"diagnosticCode,omitempty"`
}

// Complaint is a Complaint event's object.
type Complaint struct {
	ComplainedRecipients  []Recipient `json:"complainedRecipients"`
	Timestamp             time.Time   `json:"timestamp"`
	FeedbackID            string      `json:"feedbackId"`
	ComplaintSubType      *string     `json:"complaintSubType"`
	UserAgent             string      `json:"userAgent,omitempty"`
	ComplaintFeedbackType string      `json:"complaintFeedbackType,omitempty"`
	ArrivalDate           *time.Time  `json:"arrivalDate,omitempty"`
}

// Recipient is one recipient named by an event.
type Recipient struct {
	EmailAddress string `json:"emailAddress"`
}

// Reject is a Reject event's object.
type Reject struct {
	Reason string `json:"reason"`
}

// DeliveryDelay is a DeliveryDelay event's object.
type DeliveryDelay struct {
	Timestamp         time.Time          `json:"timestamp"`
	DelayType         string             `json:"delayType"`
	ExpirationTime    *time.Time         `json:"expirationTime,omitempty"`
	DelayedRecipients []BouncedRecipient `json:"delayedRecipients"`
	ReportingMTA      string             `json:"reportingMTA,omitempty"`
}

// Failure is a Rendering Failure event's object.
type Failure struct {
	ErrorMessage string `json:"errorMessage"`
	TemplateName string `json:"templateName,omitempty"`
}

// tag is the first value of one of the mail's tags.
func (m *Mail) tag(name string) string {
	if v := m.Tags[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
