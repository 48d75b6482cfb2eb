package sends

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// Counters a send's events add to (per tenant per day and hour, and per
// template per day; see store.StatsDayKey).
const (
	CountSent          = "sent"
	CountDelivered     = "delivered"
	CountOpened        = "opened"
	CountOpenedUnique  = "openedUnique"
	CountClicked       = "clicked"
	CountClickedUnique = "clickedUnique"
	CountBounced       = "bounced"
	CountComplained    = "complained"
	CountUnsubscribed  = "unsubscribed"
	CountFailed        = "failed"
	CountUnknown       = "unknown"
)

// MaxListed is how many opens (and how many clicks) a send's timeline
// lists one by one; later ones are counted on the send only.
const MaxListed = 10

// recordAttempts is how many times Record reads the send again when
// another writer changed it in between.
const recordAttempts = 5

// Event is one thing that happened to a send, and what it changes.
type Event struct {
	Type   string         // the timeline's event type
	At     time.Time      // when it happened, from its source: a redelivered event has the same
	Key    string         // tells apart two events of one type at one time; the same event must have the same Key
	Detail map[string]any // shown on the timeline

	Status string   // the status it moves the send to when that ranks higher; "" for none
	Reason string   // the send's reason, with Status
	Count  []string // counters to add one to
	// Unique: a counter to add one to when the event is the send's first
	// open (Open) or first click (Click), judged on the send as read at
	// each attempt, so two first opens at once count one unique.
	Unique string

	SESMessageID string // SES's id of the email (the send worker's "sent")
	Open, Click  bool   // add one to the send's opens or clicks; listed on the timeline up to MaxListed

	// Extra writes that must happen with the event, or not at all (a
	// suppression entry, a contact's unsubscription).
	Extra []types.TransactWriteItem

	// When, if set, must hold of the send at each attempt: when another
	// writer changed the send in between and it no longer holds, Record
	// records nothing and answers ErrStale (a lapsed claim whose worker
	// recorded "sent" after all is not unknown).
	When func(*Item) bool
}

// ErrStale is what Record answers when the event's When no longer holds.
var ErrStale = errors.New("sends: the send changed; the event no longer applies")

// Ledger records what happens to sends. Each event is one transaction: its
// timeline item (put only if absent, which makes a redelivered event a
// no-op), the send's status and counts (guarded by the send's Rev), the
// counters, and the event's extra writes. So an event is counted exactly
// once, and a status never moves back.
type Ledger struct {
	Store *store.Store
}

// ErrDuplicate is what Record answers for an event it had already recorded.
var ErrDuplicate = errors.New("sends: event already recorded")

// Record records ev on the send it (read before, and updated in place on
// success). When another writer changed the send in between, it reads the
// send again and retries. It returns ErrDuplicate when the event was
// recorded before.
func (l *Ledger) Record(ctx context.Context, it *Item, ev Event) error {
	for attempt := 0; ; attempt++ {
		if ev.When != nil && !ev.When(it) {
			return ErrStale
		}
		ops, listed, err := l.ops(it, ev)
		if err != nil {
			return err
		}
		err = l.Store.Transact(ctx, ops)
		if err == nil {
			apply(it, ev)
			return nil
		}
		var tc *store.TxCanceled
		if !errors.As(err, &tc) {
			return err
		}
		if listed && tc.FailedAt(0) {
			return ErrDuplicate
		}
		sendAt := 0
		if listed {
			sendAt = 1
		}
		if !tc.FailedAt(sendAt) || attempt+1 >= recordAttempts {
			return err
		}
		fresh := Item{}
		if err := l.Store.GetConsistent(ctx, it.Key, &fresh); err != nil {
			return err
		}
		*it = fresh
	}
}

// ops are the transaction's writes; listed says whether the first is the
// timeline item.
func (l *Ledger) ops(it *Item, ev Event) ([]types.TransactWriteItem, bool, error) {
	var ops []types.TransactWriteItem
	listed := true
	switch {
	case ev.Open:
		listed = it.Opens < MaxListed
	case ev.Click:
		listed = it.Clicks < MaxListed
	}
	if listed {
		tl := TimelineItem{Key: store.Key{PK: it.PK, SK: store.TimelineSK(ev.At, ev.Type, ev.Key)}, Type: TimelineType,
			OrgID: it.OrgID, SendID: it.ID, EventType: ev.Type, At: ev.At.UTC()}
		if len(ev.Detail) > 0 {
			b, err := json.Marshal(ev.Detail)
			if err != nil {
				return nil, false, fmt.Errorf("sends: timeline detail: %w", err)
			}
			tl.Detail = string(b)
		}
		av, err := store.Marshal(tl)
		if err != nil {
			return nil, false, err
		}
		ops = append(ops, types.TransactWriteItem{Put: &types.Put{Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}})
	}
	ops = append(ops, sendUpdate(it, ev, listed))
	ops = append(ops, counterUpdates(it, ev)...)
	ops = append(ops, ev.Extra...)
	return ops, listed, nil
}

// sendUpdate is the send item's change: Rev, the event count, the status
// when the event moves it, and the event's own fields; it fails when Rev
// changed since it was read.
func sendUpdate(it *Item, ev Event, listed bool) types.TransactWriteItem {
	u := newUpdate()
	u.set("rev", it.Rev+1)
	if listed {
		u.set("events", it.Events+1)
	}
	if moves(it.Status, ev.Status) {
		u.set("status", ev.Status)
		u.set("statusAt", ev.At.UTC())
		pk, sk := StatusIndexKeys(it.OrgID, it.ID, ev.Status, it.SendAt)
		u.set(store.AttrGSI5PK, pk)
		u.set(store.AttrGSI5SK, sk)
		if ev.Reason != "" {
			u.set("reason", ev.Reason)
		}
		if ev.Status != Scheduled {
			u.remove(store.AttrDuePK, store.AttrDueSK)
		}
		if ev.Status != Sending {
			u.remove("leaseUntil")
		}
	}
	if ev.SESMessageID != "" {
		u.set("sesMessageId", ev.SESMessageID)
		u.set("sentAt", ev.At.UTC())
	}
	if ev.Open {
		u.set("opens", it.Opens+1)
	}
	if ev.Click {
		u.set("clicks", it.Clicks+1)
	}
	u.vals[":rev"] = &types.AttributeValueMemberN{Value: strconv.Itoa(it.Rev)}
	return types.TransactWriteItem{Update: &types.Update{
		Key:                       it.KeyAV(),
		UpdateExpression:          aws.String(u.expr()),
		ConditionExpression:       aws.String("#rev = :rev"),
		ExpressionAttributeNames:  u.names,
		ExpressionAttributeValues: u.vals,
	}}
}

// moves says whether an event with status to moves a send from status from.
func moves(from, to string) bool { return to != "" && Rank(to) > Rank(from) }

// apply makes it what the transaction made of it.
func apply(it *Item, ev Event) {
	it.Rev++
	listed := !(ev.Open && it.Opens >= MaxListed) && !(ev.Click && it.Clicks >= MaxListed)
	if listed {
		it.Events++
	}
	if moves(it.Status, ev.Status) {
		it.Status, it.StatusAt = ev.Status, ev.At.UTC()
		it.GSI5PK, it.GSI5SK = StatusIndexKeys(it.OrgID, it.ID, ev.Status, it.SendAt)
		if ev.Reason != "" {
			it.Reason = ev.Reason
		}
		if ev.Status != Scheduled {
			it.DuePK, it.DueSK = "", ""
		}
		if ev.Status != Sending {
			it.LeaseUntil = nil
		}
	}
	if ev.SESMessageID != "" {
		at := ev.At.UTC()
		it.SESMessageID, it.SentAt = ev.SESMessageID, &at
	}
	if ev.Open {
		it.Opens++
	}
	if ev.Click {
		it.Clicks++
	}
}

// counterUpdates add one to each of ev's counters, for the tenant's day
// and hour, the template's day and the send's source (all time), in the
// send's counter shard.
func counterUpdates(it *Item, ev Event) []types.TransactWriteItem {
	counts := ev.Count
	if ev.Unique != "" && ((ev.Open && it.Opens == 0) || (ev.Click && it.Clicks == 0)) {
		counts = append(slices.Clip(counts), ev.Unique)
	}
	if len(counts) == 0 {
		return nil
	}
	shard := store.StatsShard(it.ID)
	keys := []store.Key{store.StatsDayKey(it.OrgID, shard, ev.At), store.StatsHourKey(it.OrgID, shard, ev.At)}
	if it.TemplateID != "" {
		keys = append(keys, store.StatsTemplateDayKey(it.OrgID, shard, it.TemplateID, ev.At))
	}
	if it.Source != "" {
		keys = append(keys, store.StatsSourceKey(it.OrgID, shard, it.Source))
	}
	var parts []string
	names := map[string]string{}
	for i, c := range counts {
		n := "#c" + strconv.Itoa(i)
		names[n] = c
		parts = append(parts, n+" :one")
	}
	out := make([]types.TransactWriteItem, 0, len(keys))
	for _, k := range keys {
		out = append(out, types.TransactWriteItem{Update: &types.Update{
			Key:                       k.KeyAV(),
			UpdateExpression:          aws.String("ADD " + strings.Join(parts, ", ")),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
		}})
	}
	return out
}

// update builds an UpdateExpression of SETs and REMOVEs.
type update struct {
	sets, removes []string
	names         map[string]string
	vals          map[string]types.AttributeValue
}

func newUpdate() *update {
	return &update{names: map[string]string{"#rev": "rev"}, vals: map[string]types.AttributeValue{}}
}

func (u *update) set(attr string, v any) {
	n := "#a" + strconv.Itoa(len(u.names))
	u.names[n] = attr
	av, err := attributevalue.Marshal(v)
	if err != nil { // the values set here are strings, numbers and times
		panic(fmt.Sprintf("sends: marshal %s: %v", attr, err))
	}
	u.vals[":v"+n[2:]] = av
	u.sets = append(u.sets, n+" = :v"+n[2:])
}

func (u *update) remove(attrs ...string) {
	for _, a := range attrs {
		n := "#a" + strconv.Itoa(len(u.names))
		u.names[n] = a
		u.removes = append(u.removes, n)
	}
}

func (u *update) expr() string {
	e := "SET " + strings.Join(u.sets, ", ")
	if len(u.removes) > 0 {
		e += " REMOVE " + strings.Join(u.removes, ", ")
	}
	return e
}

// Get reads a send of a tenant; errs.ErrNotFound when there is none.
func (l *Ledger) Get(ctx context.Context, orgID, sendID string) (Item, error) {
	var it Item
	err := l.Store.Get(ctx, store.SendKey(orgID, sendID), &it)
	if errors.Is(err, errs.ErrNotFound) {
		return Item{}, errs.NewNotFound("No send with this id.")
	}
	return it, err
}
