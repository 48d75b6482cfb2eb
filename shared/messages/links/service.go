package links

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
)

// Service does what the links ask: it checks their tokens and records
// unsubscriptions, opens and clicks on the sends they name.
type Service struct {
	repo     repo
	ledger   *sends.Ledger
	contacts *contacts.Service
	signer   *sends.Signer
	clock    clock.Clock
}

// NewService returns the links service; signer checks the tokens.
func NewService(st *store.Store, signer *sends.Signer, clk clock.Clock) *Service {
	return &Service{repo: repo{st: st}, ledger: &sends.Ledger{Store: st}, contacts: contacts.NewService(st, clk), signer: signer, clock: clk}
}

// errBadLink is every token the service did not sign for this kind of
// link: forged, altered, truncated, or an open token used as a click.
var errBadLink = errs.Invalid("token", "This link is not valid: it was altered or not issued by Sendwell.")

// errNoSend is an unsubscribe link whose send (or tenant) is gone.
var errNoSend = errs.NewNotFound("This link's email no longer exists.")

// Verify is the link of token, which must be of kind.
func (s *Service) Verify(token, kind string) (sends.Link, error) {
	l, err := s.signer.Verify(token)
	if err != nil || l.Kind != kind {
		return sends.Link{}, errBadLink
	}
	return l, nil
}

// Page is what the unsubscribe page shows.
type Page struct {
	Org   string // the organisation's name
	Email string // the recipient's address, masked
}

// Page reads what the unsubscribe page of l shows: two reads.
func (s *Service) Page(ctx context.Context, l sends.Link) (Page, error) {
	it, err := s.ledger.Get(ctx, l.OrgID, l.SendID)
	if errors.Is(err, errs.ErrNotFound) {
		return Page{}, errNoSend
	}
	if err != nil {
		return Page{}, err
	}
	name, err := s.repo.orgName(ctx, l.OrgID)
	if errors.Is(err, errs.ErrNotFound) {
		return Page{}, errNoSend
	}
	if err != nil {
		return Page{}, err
	}
	return Page{Org: name, Email: mask(recipient(l, &it))}, nil
}

// recipient is the address a link was issued to (the send's, for a token
// that does not carry it).
func recipient(l sends.Link, it *sends.Item) string {
	if l.Email != "" {
		return strings.ToLower(strings.TrimSpace(l.Email))
	}
	return it.To
}

// Unsubscribe carries out an unsubscribe link: the contact it names is
// unsubscribed, or, without a contact (or when the contact was deleted),
// the bare address is suppressed with reason unsubscribed. The send's
// timeline and the unsubscribed counter record it only when this call
// changed something, so a second click, a mail provider's retry or the
// page's button after a one-click POST count nothing. It says whether it
// changed something.
func (s *Service) Unsubscribe(ctx context.Context, l sends.Link) (bool, error) {
	it, err := s.ledger.Get(ctx, l.OrgID, l.SendID)
	if errors.Is(err, errs.ErrNotFound) {
		return false, errNoSend
	}
	if err != nil {
		return false, err
	}
	contactID := l.ContactID
	if contactID == "" {
		contactID = it.ContactID
	}
	if contactID != "" {
		changed, err := s.unsubscribeContact(ctx, &it, contactID)
		if !errors.Is(err, errs.ErrNotFound) {
			return changed, err
		}
		// The contact was deleted: its address still gets no more mail.
	}
	return s.suppress(ctx, &it, recipient(l, &it))
}

// unsubscribeContact unsubscribes the contact and records it on the send.
// The event's time is the contact's unsubscribedAt, so two requests racing
// record the same event, which the ledger keeps once.
func (s *Service) unsubscribeContact(ctx context.Context, it *sends.Item, contactID string) (bool, error) {
	c, err := s.contacts.Get(ctx, it.OrgID, contactID)
	if err != nil {
		return false, err
	}
	if !c.Subscribed {
		return false, nil
	}
	c, err = s.contacts.Patch(ctx, it.OrgID, contactID, contacts.Patch{Subscribed: httpx.Optional[bool]{Set: true, Value: false}})
	if err != nil {
		return false, err
	}
	at := s.clock.Now()
	if c.UnsubscribedAt != nil {
		at = *c.UnsubscribedAt
	}
	err = s.ledger.Record(ctx, it, sends.Event{Type: sends.EventUnsubscribed, At: at, Key: "contact",
		Detail: map[string]any{"contactId": contactID}, Count: []string{sends.CountUnsubscribed}})
	if errors.Is(err, sends.ErrDuplicate) {
		return false, nil
	}
	return err == nil, err
}

// suppress adds the address to the suppression list, in the same
// transaction as the send's event. An address already there (for any
// reason: a hard bounce stays a hard bounce) is left alone and nothing is
// recorded.
func (s *Service) suppress(ctx context.Context, it *sends.Item, email string) (bool, error) {
	now := s.clock.Now()
	put, err := sends.NewSuppression(it.OrgID, email, sends.ReasonUnsubscribed, it.ID, now).Write()
	if err != nil {
		return false, err
	}
	put.Put.ConditionExpression = aws.String("attribute_not_exists(PK)")
	err = s.ledger.Record(ctx, it, sends.Event{Type: sends.EventUnsubscribed, At: now, Key: "address",
		Detail: map[string]any{"suppressed": true}, Count: []string{sends.CountUnsubscribed}, Extra: []types.TransactWriteItem{put}})
	var tc *store.TxCanceled
	if errors.As(err, &tc) {
		// Cancelled on the suppression entry: it was there already.
		if already, rerr := s.repo.suppressed(ctx, it.OrgID, email); rerr == nil && already {
			return false, nil
		}
	}
	if errors.Is(err, sends.ErrDuplicate) {
		return false, nil
	}
	return err == nil, err
}

// Open records an open of the send l names. Opens from a mail privacy
// proxy are recorded with detail {machine: true, proxy}. Every open adds
// to the send's opens and the opened counter; the first open of a send,
// machine or not, adds to openedUnique too: a send has one opens count, and
// an Apple-preloaded send counts as opened as it does at every provider
// (its timeline's machine flag tells them apart). A send that no longer
// exists records nothing.
func (s *Service) Open(ctx context.Context, l sends.Link, userAgent string) error {
	it, ok, err := s.send(ctx, l)
	if !ok {
		return err
	}
	ev := sends.Event{Type: sends.Opened, At: s.clock.Now(), Key: eventKey(), Status: sends.Opened, Open: true,
		Count: []string{sends.CountOpened}, Unique: sends.CountOpenedUnique}
	if p := mailProxy(userAgent); p != "" {
		ev.Detail = map[string]any{"machine": true, "proxy": p}
	}
	return s.ledger.Record(ctx, &it, ev)
}

// Click records a click on the link's URL. A send that no longer exists
// records nothing (the redirect still happens).
func (s *Service) Click(ctx context.Context, l sends.Link) error {
	it, ok, err := s.send(ctx, l)
	if !ok {
		return err
	}
	ev := sends.Event{Type: sends.Clicked, At: s.clock.Now(), Key: eventKey(), Status: sends.Clicked, Click: true,
		Count: []string{sends.CountClicked}, Unique: sends.CountClickedUnique, Detail: map[string]any{"url": l.URL}}
	return s.ledger.Record(ctx, &it, ev)
}

// send reads the send of a tracking link; ok is false when there is
// nothing to record (no such send: it was deleted) or the read failed.
func (s *Service) send(ctx context.Context, l sends.Link) (sends.Item, bool, error) {
	it, err := s.ledger.Get(ctx, l.OrgID, l.SendID)
	if errors.Is(err, errs.ErrNotFound) {
		slog.InfoContext(ctx, "tracking link of an unknown send", "orgId", l.OrgID, "sendId", l.SendID, "kind", l.Kind)
		return it, false, nil
	}
	return it, err == nil, err
}

// eventKey tells apart two opens (or clicks) of one send in the same
// instant: each request is its own event.
func eventKey() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
