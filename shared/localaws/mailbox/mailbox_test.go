package mailbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/messages/sesevents"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var now = time.Date(2026, 12, 1, 10, 0, 1, 0, time.UTC)

// fakeSES stands in for SES: it accepts every email (or fails with err)
// and keeps what it was given.
type fakeSES struct {
	mu  sync.Mutex
	err error
	got []*sesv2.SendEmailInput
}

func (f *fakeSES) SendEmail(_ context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.got = append(f.got, in)
	return &sesv2.SendEmailOutput{MessageId: aws.String("0100019a-fake-" + string(rune('a'+len(f.got))))}, nil
}

// published captures what the simulator publishes.
type published struct {
	mu   sync.Mutex
	recs []sesevents.Record
	raw  [][]byte
	err  error
}

func (p *published) publish(_ context.Context, detail []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var rec sesevents.Record
	if err := json.Unmarshal(detail, &rec); err != nil {
		return err
	}
	p.recs = append(p.recs, rec)
	p.raw = append(p.raw, detail)
	return p.err
}

func (p *published) types() []string {
	var out []string
	for _, r := range p.recs {
		out = append(out, r.EventType)
	}
	return out
}

func email(to string) *sesv2.SendEmailInput {
	return &sesv2.SendEmailInput{
		FromEmailAddress:     aws.String("Acme <hello@sendwell.local>"),
		Destination:          &types.Destination{ToAddresses: []string{to}},
		ReplyToAddresses:     []string{"support@sendwell.local"},
		ConfigurationSetName: aws.String("sendwell-local"),
		EmailTags: []types.MessageTag{
			{Name: aws.String("sendwell_org"), Value: aws.String("org_1")},
			{Name: aws.String("sendwell_send"), Value: aws.String("msg_01")},
		},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String("Your order has shipped — café"), Charset: aws.String("UTF-8")},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String("Hello Ada, order A-1001 is on its way. Unsubscribe: http://127.0.0.1:3000/u/tok")},
				Html: &types.Content{Data: aws.String(`<html><body><p>Hello Ada, order <b>A-1001</b> is on its way.</p><a href="http://127.0.0.1:3000/t/c/abc=def">track</a></body></html>`)},
			},
			Headers: []types.MessageHeader{
				{Name: aws.String("List-Unsubscribe"), Value: aws.String("<http://127.0.0.1:3000/u/tok>")},
				{Name: aws.String("List-Unsubscribe-Post"), Value: aws.String("List-Unsubscribe=One-Click")},
				{Name: aws.String("X-Campaign"), Value: aws.String("autumn")},
			},
		}},
	}
}

// Each simulator address yields SES's events for it, in order, each in
// SES's record format with the email's tags and SES's message id.
func TestSimulatorAddressesYieldSESEvents(t *testing.T) {
	cases := []struct {
		to      string
		events  []string
		subType string // of the bounce
	}{
		{"success@simulator.amazonses.com", []string{"Send", "Delivery"}, ""},
		{"bounce@simulator.amazonses.com", []string{"Send", "Bounce"}, "General"},
		{"Bounce+label-1@Simulator.AmazonSES.com", []string{"Send", "Bounce"}, "General"},
		{"complaint@simulator.amazonses.com", []string{"Send", "Delivery", "Complaint"}, ""},
		{"ooto@simulator.amazonses.com", []string{"Send", "Delivery"}, ""},
		{"suppressionlist@simulator.amazonses.com", []string{"Send", "Bounce"}, "OnAccountSuppressionList"},
		{"ada@example.com", []string{"Send", "Delivery"}, ""},
		{"other@simulator.amazonses.com", []string{"Send", "Delivery"}, ""},
	}
	for _, c := range cases {
		t.Run(c.to, func(t *testing.T) {
			ses := &fakeSES{}
			pub := &published{}
			sim := New(ses, pub.publish, "", clock.NewFake(now))
			out, err := sim.SendEmail(context.Background(), email(c.to))
			require.NoError(t, err)
			require.Len(t, ses.got, 1, "the inner mailer sent it")
			assert.Equal(t, c.events, pub.types())
			for i, r := range pub.recs {
				assert.Equal(t, aws.ToString(out.MessageId), r.Mail.MessageID)
				assert.Equal(t, now, r.Mail.Timestamp)
				assert.Equal(t, []string{c.to}, r.Mail.Destination)
				assert.Equal(t, []string{"org_1"}, r.Mail.Tags["sendwell_org"])
				assert.Equal(t, []string{"msg_01"}, r.Mail.Tags["sendwell_send"])
				assert.Equal(t, []string{"sendwell-local"}, r.Mail.Tags["ses:configuration-set"])
				assert.Contains(t, string(pub.raw[i]), `"eventType":"`+c.events[i]+`"`)
			}
			assert.NotNil(t, pub.recs[0].Send)
			assert.Contains(t, string(pub.raw[0]), `"send":{}`)
			last := pub.recs[len(pub.recs)-1]
			switch last.EventType {
			case "Bounce":
				require.NotNil(t, last.Bounce)
				assert.Equal(t, "Permanent", last.Bounce.BounceType)
				assert.Equal(t, c.subType, last.Bounce.BounceSubType)
				assert.NotEmpty(t, last.Bounce.FeedbackID)
				assert.True(t, last.Bounce.Timestamp.After(now))
				require.Len(t, last.Bounce.BouncedRecipients, 1)
				assert.Equal(t, c.to, last.Bounce.BouncedRecipients[0].EmailAddress)
			case "Complaint":
				require.NotNil(t, last.Complaint)
				assert.Equal(t, "abuse", last.Complaint.ComplaintFeedbackType)
				assert.NotEmpty(t, last.Complaint.FeedbackID)
				assert.True(t, last.Complaint.Timestamp.After(pub.recs[1].Delivery.Timestamp), "the complaint follows the delivery")
			case "Delivery":
				require.NotNil(t, last.Delivery)
				assert.Equal(t, []string{c.to}, last.Delivery.Recipients)
				assert.True(t, last.Delivery.Timestamp.After(now))
			}
		})
	}
}

// The .eml holds every header as given (the RFC 8058 ones among them) and
// both parts; the .html holds the HTML body.
func TestEmailsAreWrittenWithEveryHeader(t *testing.T) {
	dir := t.TempDir()
	sim := New(&fakeSES{}, nil, dir, clock.NewFake(now))
	in := email("ada@example.com")
	_, err := sim.SendEmail(context.Background(), in)
	require.NoError(t, err)
	assert.Equal(t, dir, sim.Dir())

	base := filepath.Join(dir, "20261201-100001-msg_01")
	html, err := os.ReadFile(base + ".html")
	require.NoError(t, err)
	assert.Equal(t, aws.ToString(in.Content.Simple.Body.Html.Data), string(html))

	f, err := os.Open(base + ".eml")
	require.NoError(t, err)
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	require.NoError(t, err)
	h := msg.Header
	assert.Equal(t, "Acme <hello@sendwell.local>", h.Get("From"))
	assert.Equal(t, "ada@example.com", h.Get("To"))
	assert.Equal(t, "support@sendwell.local", h.Get("Reply-To"))
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, "Your order has shipped — café", subject)
	date, err := h.Date()
	require.NoError(t, err)
	assert.True(t, date.Equal(now))
	assert.Equal(t, "<0100019a-fake-b@email.amazonses.com>", h.Get("Message-ID"))
	assert.Equal(t, "<http://127.0.0.1:3000/u/tok>", h.Get("List-Unsubscribe"))
	assert.Equal(t, "List-Unsubscribe=One-Click", h.Get("List-Unsubscribe-Post"))
	assert.Equal(t, "autumn", h.Get("X-Campaign"))

	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	require.NoError(t, err)
	assert.Equal(t, "multipart/alternative", mt)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	got := map[string]string{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p) // the reader undoes the quoted-printable
		require.NoError(t, err)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		got[ct] = string(b)
	}
	assert.Equal(t, aws.ToString(in.Content.Simple.Body.Text.Data), got["text/plain"])
	assert.Equal(t, aws.ToString(in.Content.Simple.Body.Html.Data), got["text/html"])
}

// A refused email is neither written nor followed by events; a failing
// publish is logged and the send still succeeds, with every event tried.
func TestFailuresOnEitherSide(t *testing.T) {
	dir := t.TempDir()
	pub := &published{}
	refused := errors.New("MessageRejected")
	sim := New(&fakeSES{err: refused}, pub.publish, dir, clock.NewFake(now))
	_, err := sim.SendEmail(context.Background(), email("complaint@simulator.amazonses.com"))
	assert.ErrorIs(t, err, refused)
	assert.Empty(t, pub.recs)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)

	pub = &published{err: errors.New("handler down")}
	sim = New(&fakeSES{}, pub.publish, dir, clock.NewFake(now))
	out, err := sim.SendEmail(context.Background(), email("complaint@simulator.amazonses.com"))
	require.NoError(t, err)
	assert.NotEmpty(t, aws.ToString(out.MessageId))
	assert.Equal(t, []string{"Send", "Delivery", "Complaint"}, pub.types())
}

// Through moto: moto accepts the email from a domain identity, the files
// are written, and the events, fed to the real ses-events handler, follow
// the send to complained and suppress its address.
func TestThroughMotoAndSESEvents(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	client := sesv2.NewFromConfig(env.Config)
	_, err := client.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("sendwell.local")})
	require.NoError(t, err)

	clk := clock.NewFake(now)
	const to = "complaint@simulator.amazonses.com"
	send := sends.Item{OrgID: "org_1", ID: "msg_01", Status: sends.Sending, StatusAt: now, To: to, Kind: sends.Transactional, CreatedAt: now}
	send.SetKeys()
	require.NoError(t, env.Store.Put(ctx, send))
	h := sesevents.New(&platform.Deps{Store: env.Store, Clock: clk, AWS: env.Config})

	dir := t.TempDir()
	var types []string
	sim := New(client, func(ctx context.Context, detail []byte) error {
		var rec sesevents.Record
		require.NoError(t, json.Unmarshal(detail, &rec))
		types = append(types, rec.EventType)
		return h.Handle(ctx, detail)
	}, dir, clk)
	out, err := sim.SendEmail(ctx, email(to))
	require.NoError(t, err)
	id := aws.ToString(out.MessageId)
	require.NotEmpty(t, id, "moto's message id")
	assert.Equal(t, []string{"Send", "Delivery", "Complaint"}, types)

	eml, err := os.ReadFile(filepath.Join(dir, "20261201-100001-msg_01.eml"))
	require.NoError(t, err)
	assert.Contains(t, string(eml), "Message-ID: <"+id+"@email.amazonses.com>")
	assert.Contains(t, string(eml), "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
	_, err = os.Stat(filepath.Join(dir, "20261201-100001-msg_01.html"))
	assert.NoError(t, err)

	got, err := (&sends.Ledger{Store: env.Store}).Get(ctx, "org_1", "msg_01")
	require.NoError(t, err)
	assert.Equal(t, sends.Complained, got.Status)
	var supp sends.SuppressionItem
	require.NoError(t, env.Store.Get(ctx, sends.NewSuppression("org_1", to, "", "", now).Key, &supp))
	assert.Equal(t, sends.ReasonComplaint, supp.Reason)
	assert.True(t, strings.HasPrefix(supp.SendID, "msg_01"))
}
