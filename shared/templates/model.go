// Package templates is the templates resource group: emails written once in
// MJML or HTML with Liquid variables, compiled on write, kept as immutable
// versions, and previewed for a contact. It is the one group that links
// mjml-go (see mjml.go).
package templates

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/templates/stored"
	"github.com/sendwell/sendwell/shared/validate"
)

// Limits of a template.
const (
	MaxIDLen          = 64
	MaxNameLen        = 200
	MaxSubjectLen     = 998 // RFC 5322's line limit
	MaxSourceBytes    = 200 << 10
	MaxTextBytes      = 200 << 10
	MaxPreviewTextLen = 500
	MaxAddressLen     = 320
	MaxSampleBytes    = 32 << 10
	MaxPreviewData    = 32 << 10

	// maxStoredBytes bounds the compressed content one item carries (the
	// head and each version carry it whole), leaving room under DynamoDB's
	// 400 KB item limit for the other attributes and their names.
	maxStoredBytes = 350 << 10
	// maxTxItems is DynamoDB's limit of items in one transaction.
	maxTxItems = 100
)

// Body kinds: what the template's source is written in.
const (
	KindMJML = "mjml"
	KindHTML = "html"
)

// ValidID reports whether id is a template id: ^[a-z0-9][a-z0-9_-]{0,63}$
// (validate.TemplateID, which the segment and sequence definitions share).
func ValidID(id string) bool { return validate.TemplateID(id) }

// Input is the body of PUT /api/templates/{id}: exactly one of MJML and HTML,
// and optionally the campaign the template belongs to.
type Input struct {
	Name        string          `json:"name"`
	Subject     string          `json:"subject"`
	MJML        *string         `json:"mjml"`
	HTML        *string         `json:"html"`
	Text        *string         `json:"text"`
	From        *string         `json:"from"`
	ReplyTo     *string         `json:"replyTo"`
	PreviewText *string         `json:"previewText"`
	SampleData  json.RawMessage `json:"sampleData"`
	// CampaignID is the campaign (cmp_…) the template belongs to; null or
	// absent: none. It is not content: Hash leaves it out (omitempty keeps
	// the hashes of templates written before it the same).
	CampaignID *string `json:"campaignId,omitempty"`
}

// Validate checks and normalises the input: names and subjects trimmed,
// empty optional fields dropped, sampleData in a canonical form (sorted
// keys, no spaces) so that the same template always hashes the same.
func (in *Input) Validate() error {
	if err := validate.Text("name", &in.Name, MaxNameLen); err != nil {
		return err
	}
	if err := validate.Text("subject", &in.Subject, MaxSubjectLen); err != nil {
		return err
	}
	if strings.ContainsAny(in.Subject, "\r\n") {
		return errs.Invalid("subject", "The 'subject' field must be one line.")
	}
	in.MJML, in.HTML, in.Text = dropEmpty(in.MJML), dropEmpty(in.HTML), dropEmpty(in.Text)
	switch {
	case in.MJML != nil && in.HTML != nil:
		return errs.Invalid("mjml", "Give the body in exactly one of 'mjml' and 'html', not both.")
	case in.MJML == nil && in.HTML == nil:
		return errs.Invalid("mjml", "Give the body in one of 'mjml' and 'html'.")
	}
	for _, f := range []struct {
		name string
		v    *string
		max  int
	}{{"mjml", in.MJML, MaxSourceBytes}, {"html", in.HTML, MaxSourceBytes}, {"text", in.Text, MaxTextBytes}} {
		if f.v != nil && len(*f.v) > f.max {
			return &errs.Unprocessable{Message: fmt.Sprintf("The '%s' field is larger than %d KB (%d bytes).", f.name, f.max>>10, f.max)}
		}
	}
	for _, f := range []struct {
		name string
		v    **string
	}{{"from", &in.From}, {"replyTo", &in.ReplyTo}} {
		a, err := address(f.name, *f.v)
		if err != nil {
			return err
		}
		*f.v = a
	}
	if in.PreviewText = trimEmpty(in.PreviewText); in.PreviewText != nil {
		if err := validate.MaxLen("previewText", *in.PreviewText, MaxPreviewTextLen); err != nil {
			return err
		}
	}
	sample, err := stored.CanonicalObject("sampleData", in.SampleData, MaxSampleBytes)
	if err != nil {
		return err
	}
	in.SampleData = sample
	if in.CampaignID != nil && !ids.Valid(ids.Campaign, *in.CampaignID) {
		return errs.Invalid("campaignId", "The 'campaignId' field must be a campaign's id (cmp_…), or null for none.")
	}
	return nil
}

// Campaign is the campaign the input names, "" for none.
func (in *Input) Campaign() string {
	if in.CampaignID == nil {
		return ""
	}
	return *in.CampaignID
}

// Kind is what the body is written in.
func (in *Input) Kind() string {
	if in.MJML != nil {
		return KindMJML
	}
	return KindHTML
}

// Source is the body as written.
func (in *Input) Source() string {
	if in.MJML != nil {
		return *in.MJML
	}
	return *in.HTML
}

// Hash identifies the normalised input's content: the same template written
// again has the same hash, so an unchanged PUT is found without compiling.
// The campaign is not content (versions are content): it is left out.
func (in *Input) Hash() string {
	content := *in
	content.CampaignID = nil
	raw, _ := json.Marshal(content) // a struct of strings and canonical JSON: cannot fail
	sum := sha256.Sum256(append([]byte("template v1\n"), raw...))
	return hex.EncodeToString(sum[:])
}

func dropEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

func trimEmpty(s *string) *string {
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	if t == "" {
		return nil
	}
	return &t
}

// address checks an optional sender address ("news@acme.com" or
// "Acme <news@acme.com>"). Whether its domain may send is checked when
// sending.
func address(field string, s *string) (*string, error) {
	if s = trimEmpty(s); s == nil {
		return nil, nil
	}
	if len(*s) > MaxAddressLen {
		return nil, errs.Invalid(field, "The '%s' field must be at most %d characters long.", field, MaxAddressLen)
	}
	a, err := mail.ParseAddress(*s)
	if err != nil || !strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@'):], ".") {
		return nil, errs.Invalid(field, "The '%s' field must be an email address, such as news@example.com or \"Acme <news@example.com>\".", field)
	}
	return s, nil
}

// Warning is a problem MJML found in a template it still compiled.
type Warning = stored.Warning

// Body is a version's content as the API shows it, in a template and in a
// version alike.
type Body struct {
	Name        string          `json:"name"`
	Subject     string          `json:"subject"`
	HTML        string          `json:"html"`
	Text        string          `json:"text"`
	MJML        *string         `json:"mjml"`
	From        *string         `json:"from"`
	ReplyTo     *string         `json:"replyTo"`
	PreviewText *string         `json:"previewText"`
	SampleData  json.RawMessage `json:"sampleData"`
	Variables   []string        `json:"variables"`
	Warnings    []Warning       `json:"warnings"`
}

// Template is a template as the API shows it: its latest version, and the
// campaign it belongs to (null: none).
type Template struct {
	ID         string  `json:"id"`
	CampaignID *string `json:"campaignId"`
	Body
	Version          int       `json:"version"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
	VersionCreatedAt time.Time `json:"versionCreatedAt"`
}

// Summary is a template in a list: no bodies.
type Summary struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Subject    string    `json:"subject"`
	CampaignID *string   `json:"campaignId"`
	Version    int       `json:"version"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Version is one immutable version of a template, whole.
type Version struct {
	TemplateID string `json:"templateId"`
	Version    int    `json:"version"`
	Body
	CreatedAt time.Time `json:"createdAt"`
}

// VersionSummary is a version in a list: no bodies.
type VersionSummary struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	Subject   string    `json:"subject"`
	CreatedAt time.Time `json:"createdAt"`
}

// Rendered is a preview: the template rendered for some data and contact.
type Rendered struct {
	Subject string `json:"subject"`
	HTML    string `json:"html"`
	Text    string `json:"text"`
}

// PreviewInput is the body of POST /api/templates/{id}/preview; all optional.
type PreviewInput struct {
	Data      json.RawMessage `json:"data"`
	ContactID *string         `json:"contactId"`
	Version   *int            `json:"version"`
}

// Validate checks the preview's data and version.
func (p *PreviewInput) Validate() error {
	data, err := stored.CanonicalObject("data", p.Data, MaxPreviewData)
	if err != nil {
		return err
	}
	p.Data = data
	if p.Version != nil && *p.Version < 1 {
		return errs.Invalid("version", "The 'version' field must be a version number, from 1.")
	}
	if p.ContactID != nil && *p.ContactID == "" {
		p.ContactID = nil
	}
	return nil
}

// Content is one version's content as stored (shared/templates/stored:
// the send worker reads it too, without linking this package).
type Content = stored.Content

// body decompresses the content into what the API shows.
func body(c *Content) (Body, error) {
	source, err := stored.Gunzip(c.Source)
	if err != nil {
		return Body{}, err
	}
	b := Body{Name: c.Name, Subject: c.Subject, HTML: source, From: c.From, ReplyTo: c.ReplyTo, PreviewText: c.PreviewText,
		SampleData: rawOrNil(c.SampleData), Variables: nonNil(c.Variables), Warnings: nonNil(c.Warnings)}
	if c.Format == KindMJML {
		b.MJML = &source
		if b.HTML, err = stored.Gunzip(c.HTML); err != nil {
			return Body{}, err
		}
	}
	if b.Text, err = stored.Gunzip(c.Text); err != nil {
		return Body{}, err
	}
	return b, nil
}

// HeadItem is a template's head: the latest version's content and what
// the template itself is (created, updated, how many versions, the campaign
// it belongs to). The campaign is on the head only: it is not content, so
// versions do not carry it and changing it makes no version.
type HeadItem struct {
	store.Key
	GSI1PK  string `dynamodbav:"GSI1PK"`
	GSI1SK  string `dynamodbav:"GSI1SK"`
	GSI2PK  string `dynamodbav:"GSI2PK"`
	GSI2SK  string `dynamodbav:"GSI2SK"`
	Type    string `dynamodbav:"type"`
	OrgID   string `dynamodbav:"orgId"`
	ID      string `dynamodbav:"id"`
	Version int    `dynamodbav:"version"` // the latest version, and the head's optimistic lock
	Oldest  int    `dynamodbav:"oldest"`  // the oldest version kept
	// CampaignID is the campaign (store.CampaignKey) the template belongs
	// to; absent when none. Campaigns find their templates by it.
	CampaignID string `dynamodbav:"campaignId,omitempty"`
	Content
	CreatedAt time.Time `dynamodbav:"createdAt"`
	UpdatedAt time.Time `dynamodbav:"updatedAt"`
}

// VersionItem is one immutable version.
type VersionItem struct {
	store.Key
	Type       string `dynamodbav:"type"`
	OrgID      string `dynamodbav:"orgId"`
	TemplateID string `dynamodbav:"templateId"`
	Version    int    `dynamodbav:"version"`
	Content
}

// Item types (the stream consumer tells items apart by them).
const (
	HeadType    = "template"
	VersionType = "templateVersion"
)

func (h *HeadItem) setKeys() {
	h.Key = store.TemplateKey(h.OrgID, h.ID)
	h.Type = HeadType
	h.GSI1PK, h.GSI1SK = store.TemplatesByCreationPK(h.OrgID), store.TemplateCreatedSK(h.CreatedAt, h.ID)
	h.GSI2PK, h.GSI2SK = store.TemplatesByNamePK(h.OrgID), store.TemplateNameSK(strings.ToLower(h.Name), h.ID)
}

// API is the template as the API shows it.
func (h *HeadItem) API() (Template, error) {
	b, err := body(&h.Content)
	if err != nil {
		return Template{}, err
	}
	return Template{ID: h.ID, CampaignID: h.campaign(), Body: b, Version: h.Version, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt,
		VersionCreatedAt: h.Created}, nil
}

// campaign is the campaign the API shows: nil when none.
func (h *HeadItem) campaign() *string {
	if h.CampaignID == "" {
		return nil
	}
	c := h.CampaignID
	return &c
}

// Summary is the template as a list shows it.
func (h *HeadItem) Summary() Summary {
	return Summary{ID: h.ID, Name: h.Name, Subject: h.Subject, CampaignID: h.campaign(), Version: h.Version, CreatedAt: h.CreatedAt,
		UpdatedAt: h.UpdatedAt}
}

// API is the version as the API shows it.
func (v *VersionItem) API() (Version, error) {
	b, err := body(&v.Content)
	if err != nil {
		return Version{}, err
	}
	return Version{TemplateID: v.TemplateID, Version: v.Version, Body: b, CreatedAt: v.Created}, nil
}

// Summary is the version as a list shows it.
func (v *VersionItem) Summary() VersionSummary {
	return VersionSummary{Version: v.Version, Name: v.Name, Subject: v.Subject, CreatedAt: v.Created}
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
