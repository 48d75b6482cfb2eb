// Package mailbox is the local stack's stand-in for what SES does after it
// accepts an email, which moto does not do: it publishes the events SES's
// mailbox simulator addresses would produce (in SES's event record format,
// to the same ses-events handler), and it keeps each accepted email as a
// file (.eml with every header as sent, and .html), since moto keeps a
// Simple email without its headers.
package mailbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/messages/sesevents"
)

// Mailer sends an email through SES v2 (the *sesv2.Client, moto's locally).
type Mailer interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

var (
	_ Mailer = (*sesv2.Client)(nil)
	_ Mailer = (*Simulator)(nil)
)

// SimulatorDomain is the domain of SES's mailbox simulator addresses.
const SimulatorDomain = "simulator.amazonses.com"

// The simulator's outcomes, named after the address's local part.
const (
	Success         = "success"
	Bounce          = "bounce"
	Complaint       = "complaint"
	OutOfOffice     = "ooto"
	SuppressionList = "suppressionlist"
)

// accountID is the AWS account moto answers as.
const accountID = "123456789012"

// Simulator wraps a Mailer: every email the inner mailer accepts is written
// to dir and its SES events are fed to publish, synchronously (so a test
// sees them when SendEmail returns). A failure of either is logged, never
// returned: the email was sent.
type Simulator struct {
	inner   Mailer
	publish func(ctx context.Context, detail []byte) error
	dir     string
	clock   clock.Clock
}

// New returns a simulator over inner that publishes each event record (the
// detail of an EventBridge event) with publish and writes emails to dir
// (none when dir is empty).
func New(inner Mailer, publish func(ctx context.Context, detail []byte) error, dir string, clk clock.Clock) *Simulator {
	return &Simulator{inner: inner, publish: publish, dir: dir, clock: clk}
}

// Dir is the folder the emails are written to.
func (s *Simulator) Dir() string { return s.dir }

// SendEmail sends through the inner mailer and, when it accepts the email,
// writes it out and publishes its events.
func (s *Simulator) SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	out, err := s.inner.SendEmail(ctx, in, optFns...)
	if err != nil {
		return out, err
	}
	id := aws.ToString(out.MessageId)
	at := s.clock.Now().UTC()
	if s.dir != "" {
		if err := s.write(in, id, at); err != nil {
			slog.WarnContext(ctx, "mailbox: email not written", "sesMessageId", id, "error", err.Error())
		}
	}
	if s.publish == nil {
		return out, nil
	}
	for _, rec := range Events(in, id, at) {
		b, err := json.Marshal(rec)
		if err == nil {
			err = s.publish(ctx, b)
		}
		if err != nil {
			slog.WarnContext(ctx, "mailbox: event not published", "sesMessageId", id, "eventType", rec.EventType, "error", err.Error())
		}
	}
	return out, nil
}

// Outcome is what SES's mailbox simulator does with an email to addr:
// Success, Bounce, Complaint, OutOfOffice or SuppressionList. A label
// (bounce+x@…) is ignored, as SES ignores it; any address outside the
// simulator is delivered.
func Outcome(addr string) string {
	local, domain, ok := strings.Cut(strings.ToLower(strings.TrimSpace(addr)), "@")
	if !ok || domain != SimulatorDomain {
		return Success
	}
	local, _, _ = strings.Cut(local, "+")
	switch local {
	case Bounce, Complaint, OutOfOffice, SuppressionList:
		return local
	}
	return Success
}

// Events are the event records SES would publish for the email in, which
// it accepted as messageID at at: always Send, then what the first
// recipient's address makes happen.
func Events(in *sesv2.SendEmailInput, messageID string, at time.Time) []sesevents.Record {
	m := mailOf(in, messageID, at)
	to := ""
	if len(m.Destination) > 0 {
		to = m.Destination[0]
	}
	recs := []sesevents.Record{{EventType: sesevents.TypeSend, Mail: m, Send: &struct{}{}}}
	delivery := sesevents.Record{EventType: sesevents.TypeDelivery, Mail: m, Delivery: &sesevents.Delivery{
		Timestamp: at.Add(500 * time.Millisecond), ProcessingTimeMillis: 500, Recipients: m.Destination,
		SMTPResponse: "250 2.6.0 Message received", ReportingMTA: "a1-1.smtp-out.us-east-1.amazonses.com",
	}}
	switch Outcome(to) {
	case Bounce:
		recs = append(recs, bounce(m, to, at, "General", "smtp; 550 5.1.1 user unknown", "dsn; "+SimulatorDomain))
	case SuppressionList:
		recs = append(recs, bounce(m, to, at, "OnAccountSuppressionList",
			"Amazon SES did not send the message to this address because it is on the suppression list for your account.", "dns; amazonses.com"))
	case Complaint:
		arrival := at.Add(time.Second)
		recs = append(recs, delivery, sesevents.Record{EventType: sesevents.TypeComplaint, Mail: m, Complaint: &sesevents.Complaint{
			ComplainedRecipients: []sesevents.Recipient{{EmailAddress: to}}, Timestamp: arrival,
			FeedbackID: feedbackID(messageID, "complaint"), UserAgent: "Amazon SES Mailbox Simulator",
			ComplaintFeedbackType: "abuse", ArrivalDate: &arrival,
		}})
	default: // success, ooto (its auto-reply goes to the sender), any other address
		recs = append(recs, delivery)
	}
	return recs
}

func bounce(m sesevents.Mail, to string, at time.Time, subType, diagnostic, mta string) sesevents.Record {
	return sesevents.Record{EventType: sesevents.TypeBounce, Mail: m, Bounce: &sesevents.Bounce{
		BounceType: sesevents.BouncePermanent, BounceSubType: subType,
		BouncedRecipients: []sesevents.BouncedRecipient{{EmailAddress: to, Action: "failed", Status: "5.1.1", DiagnosticCode: diagnostic}},
		Timestamp:         at.Add(500 * time.Millisecond), FeedbackID: feedbackID(m.MessageID, "bounce"), ReportingMTA: mta,
	}}
}

// feedbackID is unique per email and kind, in SES's shape.
func feedbackID(messageID, kind string) string {
	sum := sha256.Sum256([]byte(messageID + "#" + kind))
	h := hex.EncodeToString(sum[:])
	return "0100" + h[:12] + "-" + h[12:20] + "-" + h[20:24] + "-" + h[24:28] + "-" + h[28:32] + "-" + h[32:44] + "-000000"
}

// mailOf is the event records' mail object: the email's headers and tags.
func mailOf(in *sesv2.SendEmailInput, messageID string, at time.Time) sesevents.Mail {
	var dest, to []string
	if d := in.Destination; d != nil {
		to = d.ToAddresses
		dest = append(append(append(dest, d.ToAddresses...), d.CcAddresses...), d.BccAddresses...)
	}
	from := aws.ToString(in.FromEmailAddress)
	m := sesevents.Mail{
		Timestamp: at, MessageID: messageID, Source: from, SendingAccountID: accountID, Destination: dest,
		Tags: map[string][]string{"ses:caller-identity": {"sendwell-local"}},
	}
	if _, domain, ok := strings.Cut(strings.TrimSuffix(from, ">"), "@"); ok {
		m.Tags["ses:from-domain"] = []string{strings.ToLower(domain)}
	}
	if cs := aws.ToString(in.ConfigurationSetName); cs != "" {
		m.Tags["ses:configuration-set"] = []string{cs}
	}
	for _, t := range in.EmailTags {
		m.Tags[aws.ToString(t.Name)] = append(m.Tags[aws.ToString(t.Name)], aws.ToString(t.Value))
	}
	ch := &sesevents.CommonHeaders{From: []string{from}, To: to, ReplyTo: in.ReplyToAddresses, MessageID: messageID}
	if in.Content != nil && in.Content.Simple != nil {
		ch.Subject = content(in.Content.Simple.Subject)
		for _, h := range headersOf(in, messageID, at) {
			m.Headers = append(m.Headers, sesevents.Header{Name: h[0], Value: h[1]})
		}
	}
	m.CommonHeaders = ch
	return m
}

// headersOf are a Simple email's headers as SES sends them: its own, then
// the custom ones.
func headersOf(in *sesv2.SendEmailInput, messageID string, at time.Time) [][2]string {
	s := in.Content.Simple
	hs := [][2]string{{"From", aws.ToString(in.FromEmailAddress)}}
	if d := in.Destination; d != nil {
		if len(d.ToAddresses) > 0 {
			hs = append(hs, [2]string{"To", strings.Join(d.ToAddresses, ", ")})
		}
		if len(d.CcAddresses) > 0 {
			hs = append(hs, [2]string{"Cc", strings.Join(d.CcAddresses, ", ")})
		}
	}
	if len(in.ReplyToAddresses) > 0 {
		hs = append(hs, [2]string{"Reply-To", strings.Join(in.ReplyToAddresses, ", ")})
	}
	hs = append(hs,
		[2]string{"Subject", mime.QEncoding.Encode("UTF-8", content(s.Subject))},
		[2]string{"Date", at.Format(time.RFC1123Z)},
		[2]string{"Message-ID", "<" + messageID + "@email.amazonses.com>"},
		[2]string{"MIME-Version", "1.0"},
	)
	for _, h := range s.Headers {
		hs = append(hs, [2]string{oneLine(aws.ToString(h.Name)), oneLine(aws.ToString(h.Value))})
	}
	return hs
}

func content(c *types.Content) string {
	if c == nil {
		return ""
	}
	return aws.ToString(c.Data)
}

// oneLine keeps a header on its line, whatever it was given.
func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// write saves the email as <time>-<send or message id>.eml (and .html).
func (s *Simulator) write(in *sesv2.SendEmailInput, messageID string, at time.Time) error {
	if in.Content == nil || (in.Content.Simple == nil && in.Content.Raw == nil) {
		return nil // a stored-template email: nothing of its body to show
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	name := messageID
	for _, t := range in.EmailTags {
		if aws.ToString(t.Name) == sesevents.TagSend && aws.ToString(t.Value) != "" {
			name = aws.ToString(t.Value)
		}
	}
	base := filepath.Join(s.dir, at.Format("20060102-150405")+"-"+safeName(name))
	if raw := in.Content.Raw; raw != nil {
		return os.WriteFile(base+".eml", raw.Data, 0o644)
	}
	eml, err := message(in, messageID, at)
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".eml", eml, 0o644); err != nil {
		return err
	}
	if b := in.Content.Simple.Body; b != nil && b.Html != nil {
		return os.WriteFile(base+".html", []byte(content(b.Html)), 0o644)
	}
	return nil
}

// message is a Simple email as RFC 5322 text: its headers, then a
// multipart/alternative body with the text and HTML parts, quoted-printable.
func message(in *sesv2.SendEmailInput, messageID string, at time.Time) ([]byte, error) {
	var buf bytes.Buffer
	for _, h := range headersOf(in, messageID, at) {
		fmt.Fprintf(&buf, "%s: %s\r\n", h[0], h[1])
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fmt.Fprintf(&buf, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", mw.Boundary())
	type part struct {
		typ string
		c   *types.Content
	}
	var parts []part
	if b := in.Content.Simple.Body; b != nil {
		parts = []part{{"text/plain", b.Text}, {"text/html", b.Html}}
	}
	for _, p := range parts {
		if p.c == nil {
			continue
		}
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ + "; charset=UTF-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(content(p.c))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	buf.Write(body.Bytes())
	return buf.Bytes(), nil
}

// safeName keeps a file name to letters, digits, '-' and '_'.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}
