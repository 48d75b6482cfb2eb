package campaigns

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
)

var (
	errNoCampaign  = errs.NewNotFound("Campaign not found.")
	errNoBroadcast = errs.NewNotFound("Broadcast not found.")
	// errBusy: the item kept changing under a write.
	errBusy = errs.NewConflict("The resource was changed by a concurrent request; retry.")
)

// Service manages a tenant's campaigns and broadcasts. It writes only
// DynamoDB: the changes function turns a broadcast becoming sending into
// its fan-out's first page job, and the scheduler starts a scheduled one.
type Service struct {
	repo  repo
	clock clock.Clock
}

// NewService returns the campaigns and broadcasts service over the table.
func NewService(st *store.Store, clk clock.Clock) *Service {
	return &Service{repo: repo{st}, clock: clk}
}

// CreateCampaign adds an active campaign (1 PutItem).
func (s *Service) CreateCampaign(ctx context.Context, orgID string, req CampaignRequest) (Campaign, error) {
	now := s.clock.Now().UTC()
	c := &journey.Campaign{Type: journey.CampaignType, OrgID: orgID, ID: ids.New(ids.Campaign, now),
		Name: req.Name, Status: journey.CampaignActive, CreatedAt: now, UpdatedAt: now}
	c.Key = store.CampaignKey(orgID, c.ID)
	if req.Description != nil {
		c.Description = *req.Description
	}
	if err := s.repo.putCampaign(ctx, c, nil); err != nil {
		return Campaign{}, err
	}
	return campaignAPI(c), nil
}

// ListCampaigns reads one page of the tenant's campaigns, newest first,
// of one status when status is not "".
func (s *Service) ListCampaigns(ctx context.Context, orgID, status string, limit int, start map[string]string) ([]Campaign, map[string]string, error) {
	var items []journey.Campaign
	next, err := s.repo.page(ctx, orgID, store.CampaignPrefix(), map[string]string{attrStatus: status}, limit, start, &items)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Campaign, len(items))
	for i := range items {
		out[i] = campaignAPI(&items[i])
	}
	return out, next, nil
}

func (s *Service) campaign(ctx context.Context, orgID, id string) (*journey.Campaign, error) {
	if !ids.Valid(ids.Campaign, id) {
		return nil, errNoCampaign
	}
	c, err := s.repo.campaign(ctx, orgID, id)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, errNoCampaign
	}
	return c, err
}

// GetCampaign reads a campaign with its members and their stats: the
// tenant's sequences, broadcasts and templates are walked for those naming
// it (one Query per MB of each), then each member sequence's counters (one
// Query each), each member broadcast's checkpoint (one GetItem each) and
// the send counters of every sequence and broadcast source (one Query per
// counter shard and prefix). Templates are listed but add nothing to the
// stats: their sends are the sequences' and broadcasts' (or the API's),
// already counted there or no part of the campaign.
func (s *Service) GetCampaign(ctx context.Context, orgID, id string) (CampaignDetail, error) {
	c, err := s.campaign(ctx, orgID, id)
	if err != nil {
		return CampaignDetail{}, err
	}
	out := CampaignDetail{Campaign: campaignAPI(c)}
	seqs, err := s.repo.members(ctx, orgID, store.SequencePrefix(), id)
	if err != nil {
		return CampaignDetail{}, err
	}
	bcs, err := s.repo.members(ctx, orgID, store.BroadcastPrefix(), id)
	if err != nil {
		return CampaignDetail{}, err
	}
	tpls, err := s.repo.members(ctx, orgID, store.TemplatePrefix(), id)
	if err != nil {
		return CampaignDetail{}, err
	}
	out.SequenceIDs, out.BroadcastIDs = append([]string{}, seqs...), append([]string{}, bcs...)
	out.TemplateIDs = append([]string{}, tpls...)
	st := &out.Stats
	*st = CampaignStats{Sequences: len(seqs), Broadcasts: len(bcs), Steps: journey.Counters{}, Sends: journey.Counters{}}
	for _, seq := range seqs {
		cs, err := journey.SequenceCounters(ctx, s.repo.st, orgID, seq)
		if err != nil {
			return CampaignDetail{}, err
		}
		addSequence(st, cs)
	}
	for _, bid := range bcs {
		b, err := s.repo.broadcast(ctx, orgID, bid)
		if errors.Is(err, errs.ErrNotFound) {
			continue // deleted since the walk
		}
		if err != nil {
			return CampaignDetail{}, err
		}
		st.Recipients.Total += b.Total
		st.Recipients.Queued += b.Queued
		st.Recipients.Skipped += b.Skipped
	}
	sent, failed := 0, 0
	if len(seqs) > 0 {
		// Every sequence's steps' sources ("seq:<sequence>:<step>").
		counters, err := journey.SourceCounters(ctx, s.repo.st, orgID, "seq:")
		if err != nil {
			return CampaignDetail{}, err
		}
		for _, seq := range seqs {
			prefix := journey.SequenceSourcePrefix(seq)
			for src, cs := range counters {
				if strings.HasPrefix(src, prefix) {
					st.Sends.Add(cs)
				}
			}
		}
	}
	if len(bcs) > 0 {
		counters, err := journey.SourceCounters(ctx, s.repo.st, orgID, journey.BroadcastSource(""))
		if err != nil {
			return CampaignDetail{}, err
		}
		for _, bid := range bcs {
			cs := counters[journey.BroadcastSource(bid)]
			st.Sends.Add(cs)
			sent, failed = sent+cs[sends.CountSent], failed+cs[sends.CountFailed]
		}
	}
	st.Recipients.Sent, st.Recipients.Failed = &sent, &failed
	return out, nil
}

// addSequence adds a sequence's counters: the enrollment ones, and each
// step's (journey.StepCounter) summed by counter name.
func addSequence(st *CampaignStats, cs journey.Counters) {
	for k, v := range cs {
		if rest, ok := strings.CutPrefix(k, "s:"); ok {
			if i := strings.LastIndexByte(rest, ':'); i >= 0 {
				st.Steps[rest[i+1:]] += v
			}
			continue
		}
		switch k {
		case journey.StatEnrolled:
			st.Enrollments.Enrolled += v
		case journey.StatActive:
			st.Enrollments.Active += v
		case journey.StatCompleted:
			st.Enrollments.Completed += v
		case journey.StatExited:
			st.Enrollments.Exited += v
		case journey.StatFailed:
			st.Enrollments.Failed += v
		}
	}
}

// PatchCampaign changes a campaign's name, description or status; a patch
// that changes nothing writes nothing.
func (s *Service) PatchCampaign(ctx context.Context, orgID, id string, p CampaignPatch) (Campaign, error) {
	for range writeAttempts {
		old, err := s.campaign(ctx, orgID, id)
		if err != nil {
			return Campaign{}, err
		}
		c := *old
		if p.Name.Set {
			c.Name = p.Name.Value
		}
		if p.Description.Set {
			c.Description = ""
			if !p.Description.Null {
				c.Description = p.Description.Value
			}
		}
		if p.Status.Set {
			c.Status = p.Status.Value
		}
		if c.Name == old.Name && c.Description == old.Description && c.Status == old.Status {
			return campaignAPI(old), nil
		}
		c.UpdatedAt = s.clock.Now().UTC()
		if !c.UpdatedAt.After(old.UpdatedAt) {
			c.UpdatedAt = old.UpdatedAt.Add(1)
		}
		err = s.repo.putCampaign(ctx, &c, old)
		if errors.Is(err, errs.ErrConflict) {
			continue
		}
		if err != nil {
			return Campaign{}, err
		}
		return campaignAPI(&c), nil
	}
	return Campaign{}, errBusy
}

// DeleteCampaign deletes a campaign no sequence, broadcast or template
// names (409 otherwise, saying which). A member added between the check
// and the delete keeps its campaignId, which then names no campaign.
func (s *Service) DeleteCampaign(ctx context.Context, orgID, id string) error {
	c, err := s.campaign(ctx, orgID, id)
	if err != nil {
		return err
	}
	seqs, err := s.repo.members(ctx, orgID, store.SequencePrefix(), id)
	if err != nil {
		return err
	}
	bcs, err := s.repo.members(ctx, orgID, store.BroadcastPrefix(), id)
	if err != nil {
		return err
	}
	tpls, err := s.repo.members(ctx, orgID, store.TemplatePrefix(), id)
	if err != nil {
		return err
	}
	if len(seqs)+len(bcs)+len(tpls) > 0 {
		return errs.NewConflict(fmt.Sprintf("The campaign still groups %s; move or delete them first (or archive the campaign).",
			memberList(seqs, bcs, tpls)))
	}
	err = s.repo.deleteCampaign(ctx, c)
	if errors.Is(err, errs.ErrConflict) {
		return errBusy
	}
	return err
}

// memberList names a campaign's members for a 409: at most three of each.
func memberList(seqs, bcs, tpls []string) string {
	part := func(n int, one, many string, some []string) string {
		noun := many
		if n == 1 {
			noun = one
		}
		shown := some[:min(3, len(some))]
		s := fmt.Sprintf("%d %s (%s", n, noun, strings.Join(shown, ", "))
		if len(some) > len(shown) {
			s += ", …"
		}
		return s + ")"
	}
	var parts []string
	if len(seqs) > 0 {
		parts = append(parts, part(len(seqs), "sequence", "sequences", seqs))
	}
	if len(bcs) > 0 {
		parts = append(parts, part(len(bcs), "broadcast", "broadcasts", bcs))
	}
	if len(tpls) > 0 {
		parts = append(parts, part(len(tpls), "template", "templates", tpls))
	}
	switch len(parts) {
	case 0, 1, 2:
		return strings.Join(parts, " and ")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// writeAttempts is how often a write re-reads and tries again when another
// write came first.
const writeAttempts = 3

// CreateBroadcast checks the references (the segment, the template and
// the campaign, which must be active: 422 naming the field) and writes a
// draft: 2 GetItems and 1 PutItem, or a transaction with the campaign's
// check when it names one.
func (s *Service) CreateBroadcast(ctx context.Context, orgID string, req BroadcastRequest) (Broadcast, error) {
	now := s.clock.Now().UTC()
	b := &journey.Broadcast{Type: journey.BroadcastType, OrgID: orgID, ID: ids.New(ids.Broadcast, now), Name: req.Name,
		SegmentID: req.SegmentID, TemplateID: req.TemplateID, From: req.From, Data: string(req.Data), Status: journey.BcDraft,
		CreatedAt: now, UpdatedAt: now, Rev: 1}
	b.Key = store.BroadcastKey(orgID, b.ID)
	if req.CampaignID != nil {
		b.CampaignID = *req.CampaignID
	}
	if req.RatePerMinute != nil {
		b.RatePerMinute = *req.RatePerMinute
	}
	if req.sendAt != nil {
		if err := checkSendAt(*req.sendAt, now); err != nil {
			return Broadcast{}, err
		}
		b.SendAt = req.sendAt
	}
	if err := s.checkRefs(ctx, b, true, true); err != nil {
		return Broadcast{}, err
	}
	if err := s.repo.createBroadcast(ctx, b); errors.Is(err, errCampaignGone) {
		return Broadcast{}, campaignGone(b.CampaignID)
	} else if err != nil {
		return Broadcast{}, err
	}
	return broadcastAPI(b), nil
}

func campaignGone(id string) error {
	return &errs.Unprocessable{Message: fmt.Sprintf("The 'campaignId' field names campaign %s, which this organisation does not have or has archived.", id)}
}

func checkSendAt(at, now time.Time) error {
	if !at.After(now) {
		return errs.Invalid("sendAt", "The 'sendAt' field must be in the future.")
	}
	if at.After(now.Add(MaxSendAhead)) {
		return errs.Invalid("sendAt", "The 'sendAt' field must be at most %d days ahead.", int(MaxSendAhead.Hours()/24))
	}
	return nil
}

// checkRefs checks that the segment (unless "all") and the template of b
// exist, reading each only when asked.
func (s *Service) checkRefs(ctx context.Context, b *journey.Broadcast, segment, template bool) error {
	if segment && b.SegmentID != AudienceAll {
		if _, err := s.repo.segment(ctx, b.OrgID, b.SegmentID); errors.Is(err, errs.ErrNotFound) {
			return &errs.Unprocessable{Message: fmt.Sprintf("The 'segmentId' field names segment %s, which this organisation does not have.", b.SegmentID)}
		} else if err != nil {
			return err
		}
	}
	if template {
		ok, err := s.repo.exists(ctx, store.TemplateKey(b.OrgID, b.TemplateID))
		if err != nil {
			return err
		}
		if !ok {
			return &errs.Unprocessable{Message: fmt.Sprintf("The 'templateId' field names template %s, which this organisation does not have.", b.TemplateID)}
		}
	}
	return nil
}

// ListBroadcasts reads one page of the tenant's broadcasts, newest first,
// filtered by status and campaign when they are not "".
func (s *Service) ListBroadcasts(ctx context.Context, orgID, status, campaignID string, limit int, start map[string]string) ([]Broadcast, map[string]string, error) {
	var items []journey.Broadcast
	next, err := s.repo.page(ctx, orgID, store.BroadcastPrefix(), map[string]string{attrStatus: status, attrCampaignID: campaignID}, limit, start, &items)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Broadcast, len(items))
	for i := range items {
		out[i] = broadcastAPI(&items[i])
	}
	return out, next, nil
}

func (s *Service) broadcast(ctx context.Context, orgID, id string) (*journey.Broadcast, error) {
	if !ids.Valid(ids.Broadcast, id) {
		return nil, errNoBroadcast
	}
	b, err := s.repo.broadcast(ctx, orgID, id)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, errNoBroadcast
	}
	return b, err
}

// GetBroadcast reads a broadcast with its progress and the send counters
// of its sends: 1 GetItem and one Query per counter shard.
func (s *Service) GetBroadcast(ctx context.Context, orgID, id string) (Broadcast, error) {
	b, err := s.broadcast(ctx, orgID, id)
	if err != nil {
		return Broadcast{}, err
	}
	out := broadcastAPI(b)
	counters, err := journey.SourceCounters(ctx, s.repo.st, orgID, journey.BroadcastSource(id))
	if err != nil {
		return Broadcast{}, err
	}
	cs := counters[journey.BroadcastSource(id)]
	if cs == nil {
		cs = journey.Counters{}
	}
	sent, failed := cs[sends.CountSent], cs[sends.CountFailed]
	out.Progress.Sent, out.Progress.Failed, out.Counters = &sent, &failed, cs
	return out, nil
}

// PatchBroadcast changes a draft (409 once it is not one), checking the
// references it changes.
func (s *Service) PatchBroadcast(ctx context.Context, orgID, id string, p BroadcastPatch) (Broadcast, error) {
	for range writeAttempts {
		old, err := s.broadcast(ctx, orgID, id)
		if err != nil {
			return Broadcast{}, err
		}
		if old.Status != journey.BcDraft {
			return Broadcast{}, notDraft(old.Status, "changed")
		}
		b := *old
		apply(&b, p)
		now := s.clock.Now().UTC()
		if p.SendAt.Set && b.SendAt != nil {
			if err := checkSendAt(*b.SendAt, now); err != nil {
				return Broadcast{}, err
			}
		}
		if err := s.checkRefs(ctx, &b, b.SegmentID != old.SegmentID, b.TemplateID != old.TemplateID); err != nil {
			return Broadcast{}, err
		}
		b.UpdatedAt, b.Rev = now, old.Rev+1
		err = s.repo.replaceDraft(ctx, &b, old.Rev, b.CampaignID != old.CampaignID)
		switch {
		case errors.Is(err, errCampaignGone):
			return Broadcast{}, campaignGone(b.CampaignID)
		case errors.Is(err, errs.ErrConflict):
			continue
		case err != nil:
			return Broadcast{}, err
		}
		return broadcastAPI(&b), nil
	}
	return Broadcast{}, errBusy
}

func apply(b *journey.Broadcast, p BroadcastPatch) {
	if p.Name.Set {
		b.Name = p.Name.Value
	}
	if p.CampaignID.Set {
		b.CampaignID = p.CampaignID.Value
	}
	if p.SegmentID.Set {
		b.SegmentID = p.SegmentID.Value
	}
	if p.TemplateID.Set {
		b.TemplateID = p.TemplateID.Value
	}
	if p.From.Set {
		b.From = p.From.Value
	}
	if p.Data.Set {
		b.Data = ""
		if !p.Data.Null {
			b.Data = string(p.Data.Value)
		}
	}
	if p.SendAt.Set {
		b.SendAt = p.sendAt
	}
	if p.RatePerMinute.Set {
		b.RatePerMinute = 0
		if !p.RatePerMinute.Null {
			b.RatePerMinute = p.RatePerMinute.Value
		}
	}
}

func notDraft(status, verb string) error {
	return errs.NewConflict(fmt.Sprintf("The broadcast is %s: only a draft can be %s.", status, verb))
}

// DeleteBroadcast deletes a draft or a finished broadcast (sent or
// cancelled); a scheduled or sending one is a 409 (cancel it first). Its
// sends stay.
func (s *Service) DeleteBroadcast(ctx context.Context, orgID, id string) error {
	for range writeAttempts {
		b, err := s.broadcast(ctx, orgID, id)
		if err != nil {
			return err
		}
		switch b.Status {
		case journey.BcScheduled, journey.BcSending:
			return errs.NewConflict(fmt.Sprintf("The broadcast is %s: cancel it before deleting it.", b.Status))
		}
		err = s.repo.deleteBroadcast(ctx, b)
		if errors.Is(err, errs.ErrConflict) {
			continue
		}
		return err
	}
	return errBusy
}

// SendBroadcast starts a draft: at once (sending, from now: the stream
// queues its first page) when it has no sendAt or its sendAt has come, or
// at its sendAt (scheduled, with Due keys the scheduler reads). It checks
// again that the segment exists and is built, that the template exists and
// that the sender's domain is verified (422s), so a broadcast does not
// start only to skip everyone.
func (s *Service) SendBroadcast(ctx context.Context, orgID, id string) (Broadcast, error) {
	for range writeAttempts {
		old, err := s.broadcast(ctx, orgID, id)
		if err != nil {
			return Broadcast{}, err
		}
		if old.Status != journey.BcDraft {
			return Broadcast{}, notDraft(old.Status, "sent")
		}
		if err := s.ready(ctx, old); err != nil {
			return Broadcast{}, err
		}
		now := s.clock.Now().UTC()
		b := *old
		b.UpdatedAt, b.Rev = now, old.Rev+1
		b.Cursor, b.Pages, b.Done, b.Total, b.Queued, b.Skipped = "", 0, false, 0, 0, 0
		if b.SendAt != nil && b.SendAt.After(now) {
			b.Status = journey.BcScheduled
			b.DuePK, b.DueSK = store.DuePK(*b.SendAt, store.DueShard(b.ID)), store.DueSK(*b.SendAt, b.ID)
		} else {
			b.Status, b.StartedAt = journey.BcSending, &now
		}
		err = s.repo.replaceDraft(ctx, &b, old.Rev, false)
		if errors.Is(err, errs.ErrConflict) {
			continue
		}
		if err != nil {
			return Broadcast{}, err
		}
		return broadcastAPI(&b), nil
	}
	return Broadcast{}, errBusy
}

// ready checks what a broadcast needs to start.
func (s *Service) ready(ctx context.Context, b *journey.Broadcast) error {
	if b.SegmentID != AudienceAll {
		seg, err := s.repo.segment(ctx, b.OrgID, b.SegmentID)
		if errors.Is(err, errs.ErrNotFound) {
			return &errs.Unprocessable{Message: fmt.Sprintf("The broadcast's segment %s no longer exists: PATCH its 'segmentId'.", b.SegmentID)}
		}
		if err != nil {
			return err
		}
		if seg.Status != "" && seg.Status != "ready" {
			return errs.NewConflict(fmt.Sprintf("The segment %s is still being built; send the broadcast once it is ready.", b.SegmentID))
		}
	}
	if err := s.checkRefs(ctx, b, false, true); err != nil {
		return err
	}
	domain, err := fromDomain(b.From)
	if err != nil {
		return errs.Invalid("from", "The broadcast's 'from' is not an email address.")
	}
	ok, err := s.repo.domainVerified(ctx, b.OrgID, domain)
	if err != nil {
		return err
	}
	if !ok {
		return &errs.Unprocessable{Message: fmt.Sprintf("The 'from' field's domain %s is not a verified sending domain of the organisation: add it with POST /api/domains and verify it.", domain)}
	}
	return nil
}

// CancelBroadcast stops a scheduled or sending broadcast: it becomes
// cancelled at once, and the fan-out stops before its next page (a page
// running now finishes its sends and counts them). Sends already made stay
// (cancel a queued send with DELETE /api/scheduled/{id} or let it go).
func (s *Service) CancelBroadcast(ctx context.Context, orgID, id string) (Broadcast, error) {
	if !ids.Valid(ids.Broadcast, id) {
		return Broadcast{}, errNoBroadcast
	}
	err := s.repo.cancelBroadcast(ctx, orgID, id, s.clock.Now().UTC())
	if err != nil && !errors.Is(err, errs.ErrConflict) {
		return Broadcast{}, err
	}
	b, gerr := s.broadcast(ctx, orgID, id)
	if gerr != nil {
		return Broadcast{}, gerr
	}
	if err != nil {
		return Broadcast{}, errs.NewConflict(fmt.Sprintf("The broadcast is %s: only a scheduled or sending broadcast can be cancelled.", b.Status))
	}
	return broadcastAPI(b), nil
}
