package templates

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/render"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/templates/stored"
	"github.com/sendwell/sendwell/shared/tenant"
)

// PreviewUnsubscribeURL is what {{ unsubscribeUrl }} shows in a preview:
// a real link is made per recipient when sending.
const PreviewUnsubscribeURL = "https://example.invalid/unsubscribe-preview"

// putAttempts is how often a PUT reads the head and writes its version when
// concurrent PUTs keep winning the race for the next version number.
const putAttempts = 4

var errNotFound = errs.NewNotFound("No template with this id exists in the organisation.")

// Service is the templates domain.
type Service struct {
	repo   *repo
	clock  clock.Clock
	engine *render.Engine
	// mjml compiles MJML (CompileMJML; tests may count or replace it).
	mjml func(ctx context.Context, src string) (string, []Warning, error)
}

// NewService returns the templates service over st.
func NewService(st *store.Store, clk clock.Clock) *Service {
	return &Service{repo: &repo{st: st}, clock: clk, engine: render.NewEngine(), mjml: CompileMJML}
}

// Put creates (created true) or changes the template id of orgID. An input
// whose hash equals the latest version's answers that version, read only:
// nothing is compiled or written. Otherwise the input is compiled once and
// written as the next version; when a concurrent PUT took that number
// first, the head is read again and the version written after it.
//
// The campaign (campaignId) is not content: versions are content, so it is
// not in the hash and no version carries it. A PUT is the whole template,
// so an absent or null campaignId takes the template out of its campaign.
// A PUT whose content is unchanged but whose campaign differs updates the
// head only (its campaign and updatedAt, on the version read): 200, the
// same version, nothing compiled. A campaign the head does not already
// name is checked to exist in the organisation (one GetItem; 422 naming
// campaignId). As for sequences and broadcasts, a campaign deleted between
// that check and the write leaves a campaignId that names no campaign.
func (s *Service) Put(ctx context.Context, orgID, id string, in Input) (t Template, created bool, err error) {
	if !ValidID(id) {
		return Template{}, false, errs.Invalid("id", "The 'id' in the path must be 1 to %d lower-case letters, digits, '_' and '-', starting with a letter or digit, such as welcome-email.", MaxIDLen)
	}
	hash, campaign := in.Hash(), in.Campaign()
	var c *Content
	checked := false
	for attempt := 0; attempt < putAttempts; attempt++ {
		old, err := s.repo.head(ctx, orgID, id, true)
		if err != nil && !errors.Is(err, errs.ErrNotFound) {
			return Template{}, false, err
		}
		if old != nil && old.Hash == hash && old.CampaignID == campaign {
			t, err := old.API()
			return t, false, err
		}
		if campaign != "" && !checked && (old == nil || old.CampaignID != campaign) {
			if err := s.checkCampaign(ctx, orgID, campaign); err != nil {
				return Template{}, false, err
			}
			checked = true
		}
		if old != nil && old.Hash == hash {
			h, err := s.moveToCampaign(ctx, old, campaign)
			if errors.Is(err, errStale) {
				continue
			}
			if err != nil {
				return Template{}, false, err
			}
			t, err := h.API()
			return t, false, err
		}
		if c == nil {
			if c, err = s.compile(ctx, in, hash); err != nil {
				return Template{}, false, err
			}
		}
		h, prune := s.next(ctx, orgID, id, old, c)
		h.CampaignID = campaign
		err = s.repo.write(ctx, old, h, prune)
		if errors.Is(err, errStale) || errors.Is(err, errVersionTaken) {
			continue
		}
		if err != nil {
			return Template{}, false, err
		}
		t, err := h.API()
		return t, old == nil, err
	}
	return Template{}, false, errStale
}

// checkCampaign checks that the organisation has the campaign (one GetItem
// of its key): 422 naming campaignId otherwise.
func (s *Service) checkCampaign(ctx context.Context, orgID, campaignID string) error {
	ok, err := s.repo.campaignExists(ctx, orgID, campaignID)
	if err != nil {
		return err
	}
	if !ok {
		return &errs.Unprocessable{Message: fmt.Sprintf("The 'campaignId' field names campaign %s, which this organisation does not have.", campaignID)}
	}
	return nil
}

// moveToCampaign sets the campaign of the head old ("" for none), keeping
// its version: one UpdateItem on the version read (errStale when another
// PUT made a version meanwhile).
func (s *Service) moveToCampaign(ctx context.Context, old *HeadItem, campaign string) (*HeadItem, error) {
	h := *old
	h.CampaignID = campaign
	h.UpdatedAt = s.clock.Now().UTC()
	if err := s.repo.setCampaign(ctx, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// next is the head after old (nil: none) with c as its new latest version,
// and the versions to delete to keep the plan's quota.
func (s *Service) next(ctx context.Context, orgID, id string, old *HeadItem, c *Content) (*HeadItem, []int) {
	now := s.clock.Now().UTC()
	h := &HeadItem{OrgID: orgID, ID: id, Version: 1, Oldest: 1, CreatedAt: now}
	if old != nil {
		h.Version, h.Oldest, h.CreatedAt = old.Version+1, max(old.Oldest, 1), old.CreatedAt
	}
	h.UpdatedAt = now
	h.Content = *c
	h.Created = now
	h.setKeys()
	keep := versionQuota(ctx)
	var prune []int
	for n := h.Oldest; n <= h.Version-keep; n++ {
		prune = append(prune, n)
	}
	h.Oldest = max(h.Oldest, h.Version-keep+1)
	return h, prune
}

// versionQuota is how many versions the caller's plan keeps of a template.
func versionQuota(ctx context.Context) int {
	plan := tenant.DefaultPlan
	if p, ok := tenant.From(ctx); ok && p.Plan != "" {
		plan = p.Plan
	}
	return max(tenant.PlanByName(plan).Quotas.TemplateVersion, 1)
}

// compile checks the Liquid of every part as written (so its errors name
// the lines the author wrote), compiles MJML to HTML, generates the text
// when none was given, finds the variables, and compresses the bodies;
// content too large for an item is a 422 naming the body's field.
func (s *Service) compile(ctx context.Context, in Input, hash string) (*Content, error) {
	source, kind := in.Source(), in.Kind()
	text := ""
	if in.Text != nil {
		text = *in.Text
	}
	if _, err := s.engine.Compile(render.Source{Subject: in.Subject, HTML: source, Text: text}); err != nil {
		return nil, err
	}
	html := source
	var warnings []Warning
	if kind == KindMJML {
		var err error
		if html, warnings, err = s.mjml(ctx, source); err != nil {
			return nil, err
		}
	}
	if in.Text == nil {
		text = render.HTMLToText(html)
	}
	tpl, err := s.engine.Compile(render.Source{Subject: in.Subject, HTML: html, Text: text})
	if err != nil {
		return nil, err
	}
	c := Content{Hash: hash, Name: in.Name, Subject: in.Subject, Format: kind, Source: stored.Gzip(source), Text: stored.Gzip(text),
		From: in.From, ReplyTo: in.ReplyTo, PreviewText: in.PreviewText, SampleData: string(in.SampleData),
		Variables: tpl.Variables(), Warnings: warnings}
	if kind == KindMJML {
		c.HTML = stored.Gzip(html)
	}
	if c.Size() > maxStoredBytes {
		return nil, &errs.Unprocessable{Message: fmt.Sprintf("The '%s' field compiles to a template too large to store: %d KB compressed, over the limit of %d KB.", kind, c.Size()>>10, maxStoredBytes>>10)}
	}
	return &c, nil
}

// Get returns a template (one read).
func (s *Service) Get(ctx context.Context, orgID, id string) (Template, error) {
	h, err := s.head(ctx, orgID, id)
	if err != nil {
		return Template{}, err
	}
	return h.API()
}

func (s *Service) head(ctx context.Context, orgID, id string) (*HeadItem, error) {
	if !ValidID(id) {
		return nil, errNotFound
	}
	h, err := s.repo.head(ctx, orgID, id, false)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, errNotFound
	}
	return h, err
}

// Delete deletes a template with all its versions.
func (s *Service) Delete(ctx context.Context, orgID, id string) error {
	if _, err := s.head(ctx, orgID, id); err != nil {
		return err
	}
	return s.repo.remove(ctx, orgID, id)
}

// List returns a page of templates: newest first, or with a (lower-case)
// name prefix in name order; only those of campaignID when it is not "".
func (s *Service) List(ctx context.Context, orgID, prefix, campaignID string, limit int, start map[string]string) ([]Summary, map[string]string, error) {
	items, next, err := s.repo.list(ctx, orgID, prefix, campaignID, limit, start)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Summary, len(items))
	for i := range items {
		out[i] = items[i].Summary()
	}
	return out, next, nil
}

// Versions returns a page of a template's versions, newest first. A
// template always has a version, so an empty first page means no template.
func (s *Service) Versions(ctx context.Context, orgID, id string, limit int, start map[string]string) ([]VersionSummary, map[string]string, error) {
	if !ValidID(id) {
		return nil, nil, errNotFound
	}
	items, next, err := s.repo.versions(ctx, orgID, id, limit, start)
	if err != nil {
		return nil, nil, err
	}
	if len(items) == 0 && start == nil {
		return nil, nil, errNotFound
	}
	out := make([]VersionSummary, len(items))
	for i := range items {
		out[i] = items[i].Summary()
	}
	return out, next, nil
}

// Version returns version n of a template, whole.
func (s *Service) Version(ctx context.Context, orgID, id string, n int) (Version, error) {
	v, err := s.version(ctx, orgID, id, n)
	if err != nil {
		return Version{}, err
	}
	return v.API()
}

func (s *Service) version(ctx context.Context, orgID, id string, n int) (*VersionItem, error) {
	if !ValidID(id) {
		return nil, errNotFound
	}
	v, err := s.repo.version(ctx, orgID, id, n)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, errs.NewNotFound("No such version of this template (it may have been deleted to keep the plan's quota of versions).")
	}
	return v, err
}

// Preview renders the template's latest version (or p.Version) with its
// sample data merged with p.Data, and the contact p.ContactID. With strict,
// a variable the template uses that the data lacks is a 422 naming it.
func (s *Service) Preview(ctx context.Context, orgID, id string, p PreviewInput, strict bool) (Rendered, error) {
	var (
		content *Content
		version int
	)
	if p.Version != nil {
		v, err := s.version(ctx, orgID, id, *p.Version)
		if err != nil {
			return Rendered{}, err
		}
		content, version = &v.Content, v.Version
	} else {
		h, err := s.head(ctx, orgID, id)
		if err != nil {
			return Rendered{}, err
		}
		content, version = &h.Content, h.Version
	}
	vars := render.Vars{Contact: map[string]any{}, UnsubscribeURL: PreviewUnsubscribeURL}
	if p.ContactID != nil {
		c, err := s.repo.contact(ctx, orgID, *p.ContactID)
		if errors.Is(err, errs.ErrNotFound) {
			return Rendered{}, errs.NewNotFound("No contact with this id exists in the organisation.")
		}
		if err != nil {
			return Rendered{}, err
		}
		vars.Contact = stored.ContactVars(c)
	}
	data, err := stored.MergedData(content.SampleData, p.Data)
	if err != nil {
		return Rendered{}, err
	}
	vars.Data = data
	b, err := body(content)
	if err != nil {
		return Rendered{}, err
	}
	tpl, err := s.engine.Cached(orgID+"/"+id+"/"+strconv.Itoa(version), render.Source{Subject: content.Subject, HTML: b.HTML, Text: b.Text})
	if err != nil {
		return Rendered{}, err
	}
	out, err := tpl.Render(ctx, vars, render.Options{Strict: strict})
	if err != nil {
		return Rendered{}, err
	}
	return Rendered{Subject: out.Subject, HTML: out.HTML, Text: out.Text}, nil
}
