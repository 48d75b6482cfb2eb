package campaigns

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/templates/stored"
	"github.com/sendwell/sendwell/shared/validate"
)

// Limits of campaigns and broadcasts.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 2000
	MaxFromLen        = 320
	// MaxRatePerMinute is the largest ratePerMinute a broadcast accepts;
	// the fan-out never goes faster than fanout.MaxSendsPerSecond whatever
	// it says.
	MaxRatePerMinute = 60000
	// MaxSendAhead is how far ahead a broadcast's sendAt may be, as for a
	// scheduled send.
	MaxSendAhead = sends.MaxScheduleAhead
)

// AudienceAll is the segmentId of a broadcast to every contact.
const AudienceAll = journey.AudienceAll

// segmentPrefix is the prefix of segment ids ("seg_…").
const segmentPrefix = "seg"

// Campaign is a campaign as the API shows it.
type Campaign struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description *string   `json:"description"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// CampaignDetail is the body of GET /api/campaigns/{id}: the campaign, its
// members (the sequences, broadcasts and templates whose campaignId names
// it) and the stats of its sequences and broadcasts added up. Templates add
// none: their sends in the campaign are its sequences' and broadcasts',
// already counted, so no send is counted twice.
type CampaignDetail struct {
	Campaign
	SequenceIDs  []string      `json:"sequenceIds"`
	BroadcastIDs []string      `json:"broadcastIds"`
	TemplateIDs  []string      `json:"templateIds"`
	Stats        CampaignStats `json:"stats"`
}

// CampaignStats add up a campaign's members: its sequences' enrollment
// counters and step counters, its broadcasts' progress, and the send
// counters (sent, delivered, opened, clicked, bounced, …) of all their sends.
type CampaignStats struct {
	Sequences   int `json:"sequences"`
	Broadcasts  int `json:"broadcasts"`
	Enrollments struct {
		Enrolled  int `json:"enrolled"`
		Active    int `json:"active"`
		Completed int `json:"completed"`
		Exited    int `json:"exited"`
		Failed    int `json:"failed"`
	} `json:"enrollments"`
	// Steps sums every step's entered, sent, skipped and failed.
	Steps journey.Counters `json:"steps"`
	// Recipients sums the broadcasts' progress.
	Recipients Progress `json:"recipients"`
	// Sends sums the send counters of the sequences' steps and the broadcasts.
	Sends journey.Counters `json:"sends"`
}

// CampaignRequest is the body of POST /api/campaigns.
type CampaignRequest struct {
	Name        string  `json:"name"`
	Description *string `json:"description"`
}

// Validate checks the name and description.
func (r *CampaignRequest) Validate() error {
	if err := validate.Text("name", &r.Name, MaxNameLen); err != nil {
		return err
	}
	var err error
	r.Description, err = description(r.Description)
	return err
}

// CampaignPatch is the body of PATCH /api/campaigns/{id}.
type CampaignPatch struct {
	Name        httpx.Optional[string] `json:"name"`
	Description httpx.Optional[string] `json:"description"`
	Status      httpx.Optional[string] `json:"status"`
}

// Validate checks the fields sent.
func (p *CampaignPatch) Validate() error {
	if p.Name.Set {
		if p.Name.Null {
			return errs.Invalid("name", "The 'name' field cannot be null.")
		}
		if err := validate.Text("name", &p.Name.Value, MaxNameLen); err != nil {
			return err
		}
	}
	if p.Description.Set && !p.Description.Null {
		d, err := description(&p.Description.Value)
		if err != nil {
			return err
		}
		if d == nil {
			p.Description.Null = true
		}
	}
	if p.Status.Set {
		switch {
		case p.Status.Null:
			return errs.Invalid("status", "The 'status' field cannot be null.")
		case p.Status.Value != journey.CampaignActive && p.Status.Value != journey.CampaignArchived:
			return errs.Invalid("status", "The 'status' field must be 'active' or 'archived'.")
		}
	}
	return nil
}

// description trims a description; an empty one is none.
func description(d *string) (*string, error) {
	if d == nil {
		return nil, nil
	}
	s := strings.TrimSpace(*d)
	if s == "" {
		return nil, nil
	}
	if err := validate.MaxLen("description", s, MaxDescriptionLen); err != nil {
		return nil, err
	}
	return &s, nil
}

func campaignAPI(c *journey.Campaign) Campaign {
	out := Campaign{ID: c.ID, Name: c.Name, Status: c.Status, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if c.Description != "" {
		d := c.Description
		out.Description = &d
	}
	return out
}

// Broadcast is a broadcast as the API shows it. Counters (all the send
// counters of its sends) and Progress's sent and failed are read by GET
// /api/broadcasts/{id} only.
type Broadcast struct {
	ID            string           `json:"id"`
	Name          string           `json:"name"`
	CampaignID    *string          `json:"campaignId"`
	SegmentID     string           `json:"segmentId"`
	TemplateID    string           `json:"templateId"`
	From          string           `json:"from"`
	Data          json.RawMessage  `json:"data"`
	SendAt        *time.Time       `json:"sendAt"`
	RatePerMinute *int             `json:"ratePerMinute"`
	Status        string           `json:"status"`
	CreatedAt     time.Time        `json:"createdAt"`
	UpdatedAt     time.Time        `json:"updatedAt"`
	StartedAt     *time.Time       `json:"startedAt"`
	FinishedAt    *time.Time       `json:"finishedAt"`
	Progress      Progress         `json:"progress"`
	Counters      journey.Counters `json:"counters,omitempty"`
}

// Progress is how far a broadcast went: Total audience members walked,
// Queued sends made, Skipped members (unsubscribed, suppressed, deleted),
// and of the sends, Sent (accepted by SES) and Failed.
type Progress struct {
	Total   int  `json:"total"`
	Queued  int  `json:"queued"`
	Sent    *int `json:"sent,omitempty"`
	Failed  *int `json:"failed,omitempty"`
	Skipped int  `json:"skipped"`
}

func broadcastAPI(b *journey.Broadcast) Broadcast {
	out := Broadcast{ID: b.ID, Name: b.Name, SegmentID: b.SegmentID, TemplateID: b.TemplateID, From: b.From,
		Data: json.RawMessage("null"), SendAt: b.SendAt, Status: b.Status, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt,
		StartedAt: b.StartedAt, FinishedAt: b.FinishedAt,
		Progress: Progress{Total: b.Total, Queued: b.Queued, Skipped: b.Skipped}}
	if b.CampaignID != "" {
		c := b.CampaignID
		out.CampaignID = &c
	}
	if b.Data != "" {
		out.Data = json.RawMessage(b.Data)
	}
	if b.RatePerMinute > 0 {
		r := b.RatePerMinute
		out.RatePerMinute = &r
	}
	return out
}

// BroadcastRequest is the body of POST /api/broadcasts.
type BroadcastRequest struct {
	Name          string          `json:"name"`
	CampaignID    *string         `json:"campaignId"`
	SegmentID     string          `json:"segmentId"`
	TemplateID    string          `json:"templateId"`
	From          string          `json:"from"`
	Data          json.RawMessage `json:"data"`
	SendAt        *string         `json:"sendAt"`
	RatePerMinute *int            `json:"ratePerMinute"`

	sendAt *time.Time // parsed by Validate
}

// Validate checks everything that needs no read; the references (segment,
// template, campaign) are the service's.
func (r *BroadcastRequest) Validate() error {
	if err := validate.Text("name", &r.Name, MaxNameLen); err != nil {
		return err
	}
	if r.CampaignID != nil {
		if err := checkCampaignID(*r.CampaignID); err != nil {
			return err
		}
	}
	if err := checkSegmentID(&r.SegmentID); err != nil {
		return err
	}
	if err := checkTemplateID(&r.TemplateID); err != nil {
		return err
	}
	if err := checkFrom(&r.From); err != nil {
		return err
	}
	data, err := stored.CanonicalObject("data", r.Data, sends.MaxDataBytes)
	if err != nil {
		return err
	}
	r.Data = data
	if r.sendAt, err = parseSendAt(r.SendAt); err != nil {
		return err
	}
	return checkRate(r.RatePerMinute)
}

// BroadcastPatch is the body of PATCH /api/broadcasts/{id} (a draft's).
type BroadcastPatch struct {
	Name          httpx.Optional[string]          `json:"name"`
	CampaignID    httpx.Optional[string]          `json:"campaignId"`
	SegmentID     httpx.Optional[string]          `json:"segmentId"`
	TemplateID    httpx.Optional[string]          `json:"templateId"`
	From          httpx.Optional[string]          `json:"from"`
	Data          httpx.Optional[json.RawMessage] `json:"data"`
	SendAt        httpx.Optional[string]          `json:"sendAt"`
	RatePerMinute httpx.Optional[int]             `json:"ratePerMinute"`

	sendAt *time.Time
}

// Validate checks the fields sent; null clears the optional ones.
func (p *BroadcastPatch) Validate() error {
	for _, f := range []struct {
		name string
		null bool
	}{{"name", p.Name.Null}, {"segmentId", p.SegmentID.Null}, {"templateId", p.TemplateID.Null}, {"from", p.From.Null}} {
		if f.null {
			return errs.Invalid(f.name, "The '%s' field cannot be null.", f.name)
		}
	}
	if p.Name.Set {
		if err := validate.Text("name", &p.Name.Value, MaxNameLen); err != nil {
			return err
		}
	}
	if p.CampaignID.Set && !p.CampaignID.Null {
		if err := checkCampaignID(p.CampaignID.Value); err != nil {
			return err
		}
	}
	if p.SegmentID.Set {
		if err := checkSegmentID(&p.SegmentID.Value); err != nil {
			return err
		}
	}
	if p.TemplateID.Set {
		if err := checkTemplateID(&p.TemplateID.Value); err != nil {
			return err
		}
	}
	if p.From.Set {
		if err := checkFrom(&p.From.Value); err != nil {
			return err
		}
	}
	if p.Data.Set && !p.Data.Null {
		data, err := stored.CanonicalObject("data", p.Data.Value, sends.MaxDataBytes)
		if err != nil {
			return err
		}
		p.Data.Value = data
		p.Data.Null = data == nil
	}
	if p.SendAt.Set && !p.SendAt.Null {
		var err error
		if p.sendAt, err = parseSendAt(&p.SendAt.Value); err != nil {
			return err
		}
	}
	if p.RatePerMinute.Set && !p.RatePerMinute.Null {
		return checkRate(&p.RatePerMinute.Value)
	}
	return nil
}

func checkCampaignID(id string) error {
	if !ids.Valid(ids.Campaign, id) {
		return errs.Invalid("campaignId", "The 'campaignId' field must be a campaign's id (cmp_…).")
	}
	return nil
}

func checkSegmentID(id *string) error {
	*id = strings.TrimSpace(*id)
	switch {
	case *id == "":
		return errs.Required("segmentId")
	case *id == AudienceAll, ids.Valid(segmentPrefix, *id):
		return nil
	}
	return errs.Invalid("segmentId", "The 'segmentId' field must be a segment's id (seg_…) or \"all\".")
}

func checkTemplateID(id *string) error {
	*id = strings.TrimSpace(*id)
	if *id == "" {
		return errs.Required("templateId")
	}
	if !validate.TemplateID(*id) {
		return errs.Invalid("templateId", "The 'templateId' field must be a template's id.")
	}
	return nil
}

func checkFrom(from *string) error {
	*from = strings.TrimSpace(*from)
	if *from == "" {
		return errs.Required("from")
	}
	bad := errs.Invalid("from", "The 'from' field must be an email address of at most %d characters, such as news@example.com or \"Acme <news@example.com>\".", MaxFromLen)
	if len(*from) > MaxFromLen || strings.ContainsAny(*from, "\r\n") {
		return bad
	}
	if _, err := fromDomain(*from); err != nil {
		return bad
	}
	return nil
}

// fromDomain is the lower-cased domain of a sender address
// (journey.SenderDomain).
func fromDomain(from string) (string, error) { return journey.SenderDomain(from) }

func parseSendAt(s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		return nil, errs.Invalid("sendAt", "The 'sendAt' field must be an RFC 3339 timestamp, such as 2026-01-31T09:00:00Z.")
	}
	t = t.UTC().Truncate(time.Second)
	return &t, nil
}

func checkRate(r *int) error {
	if r != nil && (*r < 1 || *r > MaxRatePerMinute) {
		return errs.Invalid("ratePerMinute", "The 'ratePerMinute' field must be a whole number from 1 to %d.", MaxRatePerMinute)
	}
	return nil
}
