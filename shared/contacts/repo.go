package contacts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// This file is the one place the contacts group speaks DynamoDB. A contact
// is three kinds of item in its tenant's partitions: the contact itself
// (store.ContactKey), the lookup that makes its email unique and finds it
// (store.ContactEmailKey), and one entry per tag (store.ContactTagKey).
// Every write of a contact is conditional: on its absence for a create, on
// the version it was read at otherwise.

// emailItem is the per-tenant email → contact lookup.
type emailItem struct {
	store.Key
	ContactID string `dynamodbav:"contactId"`
}

// tagItem is a contact's membership of a tag: keys only.
type tagItem struct {
	store.Key
	ContactID string `dynamodbav:"contactId"`
}

// The repository's answers when a condition fails. Both are conflicts: the
// service reads again and decides.
var (
	// errStale: the contact is not as the write expected (it exists where a
	// create expected none, or is at another version, or is gone).
	errStale = errs.NewConflict("The contact was changed by a concurrent request; retry.")
	// errLookupTaken: the email's lookup is not as the write expected (the
	// email belongs to another contact, or an orphaned lookup was adopted
	// or repaired by someone else).
	errLookupTaken = errs.NewConflict("A contact with this email already exists.")
)

// Attribute names the repository's conditions test.
const (
	attrVersion   = store.AttrVersion
	attrContactID = "contactId"
)

// purgeChunk is how many event keys the purge deletes between two looks at
// its deadline (four BatchWriteItems).
const purgeChunk = 4 * store.BatchWriteMax

// repo reads and writes the contacts group's items.
type repo struct{ st *store.Store }

// get reads a contact; errs.ErrNotFound when it does not exist. A
// consistent read sees every write acknowledged before it.
func (r *repo) get(ctx context.Context, orgID, id string, consistent bool) (*Item, error) {
	var it Item
	read := r.st.Get
	if consistent {
		read = r.st.GetConsistent
	}
	if err := read(ctx, store.ContactKey(orgID, id), &it); err != nil {
		return nil, err
	}
	return &it, nil
}

// lookup reads the contact id an email's lookup names; errs.ErrNotFound when
// the email has no lookup.
func (r *repo) lookup(ctx context.Context, orgID, email string) (string, error) {
	var l emailItem
	if err := r.st.Get(ctx, store.ContactEmailKey(orgID, email), &l); err != nil {
		return "", err
	}
	return l.ContactID, nil
}

// byEmails reads the lookups of emails, then the contacts they name, one
// BatchGetItem each (per hundred). found holds the emails whose lookup
// leads to a contact of that email; claimed every email that has a lookup.
func (r *repo) byEmails(ctx context.Context, orgID string, emails []string) (found map[string]*Item, claimed map[string]bool, err error) {
	keys := make([]store.Key, len(emails))
	for i, e := range emails {
		keys[i] = store.ContactEmailKey(orgID, e)
	}
	var lookups []emailItem
	if err := r.batchGet(ctx, keys, &lookups); err != nil {
		return nil, nil, err
	}
	keys = keys[:0]
	for _, l := range lookups {
		keys = append(keys, store.ContactKey(orgID, l.ContactID))
	}
	var items []Item
	if err := r.batchGet(ctx, keys, &items); err != nil {
		return nil, nil, err
	}
	byID := make(map[string]*Item, len(items))
	for i := range items {
		byID[items[i].ID] = &items[i]
	}
	found, claimed = make(map[string]*Item, len(items)), make(map[string]bool, len(lookups))
	for _, l := range lookups {
		e := store.EmailFromContactEmailSK(l.SK)
		claimed[e] = true
		if it := byID[l.ContactID]; it != nil && it.Email == e {
			found[e] = it
		}
	}
	return found, claimed, nil
}

func (r *repo) batchGet(ctx context.Context, keys []store.Key, out any) error {
	raw, err := r.st.BatchGet(ctx, keys)
	if err != nil {
		return err
	}
	if err := attributevalue.UnmarshalListOfMaps(raw, out); err != nil {
		return fmt.Errorf("contacts: decode: %w", err)
	}
	return nil
}

// create writes a new contact with its lookup and tag entries in one
// transaction, and counts it on the tenant's contact counter. The contact
// must not exist (errStale). With lookupWas nil the email must be free;
// otherwise its lookup must still name *lookupWas (an orphaned lookup being
// adopted or repaired); else errLookupTaken. errQuotaFull when the tenant
// already has quota contacts.
func (r *repo) create(ctx context.Context, it *Item, lookupWas *string, quota int) error {
	it.Version = 1
	contact, err := put(it, "attribute_not_exists(PK)", nil, nil)
	if err != nil {
		return err
	}
	cond, names, vals := "attribute_not_exists(PK)", map[string]string(nil), map[string]types.AttributeValue(nil)
	if lookupWas != nil {
		names = map[string]string{"#cid": attrContactID}
		if *lookupWas == "" {
			cond = "attribute_exists(PK) AND attribute_not_exists(#cid)"
		} else {
			cond = "#cid = :was"
			vals = map[string]types.AttributeValue{":was": &types.AttributeValueMemberS{Value: *lookupWas}}
		}
	}
	lookup, err := put(emailItem{Key: store.ContactEmailKey(it.OrgID, it.Email), ContactID: it.ID}, cond, names, vals)
	if err != nil {
		return err
	}
	ops := []types.TransactWriteItem{contact, lookup, countOp(it.OrgID, 1, quota)}
	tags, err := tagOps(nil, it)
	if err != nil {
		return err
	}
	return r.transact(ctx, append(ops, tags...), 1, 2)
}

// update replaces old (as read) by it, the next version, with the lookups
// and tag entries that change, in one transaction: errStale when the
// contact is no longer at old's version, errLookupTaken when its new email
// is taken.
func (r *repo) update(ctx context.Context, old, it *Item) error {
	it.Version = old.Version + 1
	cond, names, vals := versionIs(old.Version)
	contact, err := put(it, cond, names, vals)
	if err != nil {
		return err
	}
	ops := []types.TransactWriteItem{contact}
	emailAt := -1
	if old.Email != it.Email {
		lookup, err := put(emailItem{Key: store.ContactEmailKey(it.OrgID, it.Email), ContactID: it.ID}, "attribute_not_exists(PK)", nil, nil)
		if err != nil {
			return err
		}
		emailAt = len(ops)
		ops = append(ops, lookup, types.TransactWriteItem{Delete: &types.Delete{Key: store.ContactEmailKey(old.OrgID, old.Email).KeyAV()}})
	}
	tags, err := tagOps(old, it)
	if err != nil {
		return err
	}
	ops = append(ops, tags...)
	if len(ops) > maxTxItems {
		return &errs.Unprocessable{Message: fmt.Sprintf("This change adds and removes too many tags at once (it would write %d records; the limit is %d): split it in two.", len(ops), maxTxItems)}
	}
	return r.transact(ctx, ops, emailAt, -1)
}

// remove deletes a contact as read (it), with its lookup and tag entries, in
// one transaction conditioned on the version read: errStale when it changed
// or went meanwhile, so a concurrent change of its email or tags cannot
// leave their items behind. The same transaction counts the contact off the
// tenant's counter.
func (r *repo) remove(ctx context.Context, it *Item) error {
	cond, names, vals := versionIs(it.Version)
	ops := []types.TransactWriteItem{
		{Delete: &types.Delete{Key: it.Key.KeyAV(), ConditionExpression: &cond, ExpressionAttributeNames: names, ExpressionAttributeValues: vals}},
		{Delete: &types.Delete{Key: store.ContactEmailKey(it.OrgID, it.Email).KeyAV()}},
		countOp(it.OrgID, -1, 0),
	}
	for _, t := range it.Tags {
		ops = append(ops, types.TransactWriteItem{Delete: &types.Delete{Key: store.ContactTagKey(it.OrgID, t, it.ID).KeyAV()}})
	}
	return r.transact(ctx, ops, -1, -1)
}

// transact runs ops and names a failed condition: errStale for the contact
// (item 0), errLookupTaken for the lookup at lookupAt, errQuotaFull for the
// contact counter at countAt (-1: none). Transactions lost to concurrent
// ones (store.TxConflict) and every other failure come back as the store
// maps them.
func (r *repo) transact(ctx context.Context, ops []types.TransactWriteItem, lookupAt, countAt int) error {
	err := r.st.Transact(ctx, ops)
	var tx *store.TxCanceled
	switch {
	case !errors.As(err, &tx):
		return err
	case tx.FailedAt(0):
		return errStale
	case lookupAt >= 0 && tx.FailedAt(lookupAt):
		return errLookupTaken
	case countAt >= 0 && tx.FailedAt(countAt):
		return errQuotaFull
	}
	return err
}

// The contact counter.
//
// store.ContactCountKey holds how many contacts a tenant has (attribute
// attrContacts), so the plan's quota is one condition away. A single create
// or delete moves it in its own transaction. The batch path (no
// transactions) reserves room for its new contacts before writing them and
// gives back what it did not use after: a writer that dies in between
// leaves the counter too high, never too low, so a crash can cost a tenant
// room but never lets it past its plan. A missing counter is 0: the counter
// starts with this feature, and a tenant older than it would need a
// backfill (counting its contacts) to be exact.

// attrContacts is the counter's attribute.
const attrContacts = "contacts"

// errQuotaFull: the counter has no room for the contacts a write adds. The
// service names the quota (quotaReached).
var errQuotaFull = errors.New("contacts: plan quota reached")

// countOp is the transaction item that adds delta to the tenant's counter;
// a positive delta only while the counter stays within quota.
func countOp(orgID string, delta, quota int) types.TransactWriteItem {
	u := &types.Update{
		Key:                       store.ContactCountKey(orgID).KeyAV(),
		UpdateExpression:          aws.String("ADD #c :d"),
		ExpressionAttributeNames:  map[string]string{"#c": attrContacts},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": num(delta)},
	}
	if delta > 0 {
		u.ConditionExpression = aws.String("attribute_not_exists(#c) OR #c <= :room")
		u.ExpressionAttributeValues[":room"] = num(quota - delta)
	}
	return types.TransactWriteItem{Update: u}
}

// reserve counts n (0 < n <= quota) more contacts on the tenant's counter
// if they all fit within quota: errQuotaFull otherwise. One UpdateItem.
func (r *repo) reserve(ctx context.Context, orgID string, n, quota int) error {
	return r.addCount(ctx, countOp(orgID, n, quota).Update)
}

// release gives back n contacts reserved and not written.
func (r *repo) release(ctx context.Context, orgID string, n int) error {
	return r.addCount(ctx, countOp(orgID, -n, 0).Update)
}

func (r *repo) addCount(ctx context.Context, u *types.Update) error {
	_, err := r.st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &r.st.Table, Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
		ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
	})
	err = store.MapErr(err)
	if errors.Is(err, errs.ErrConflict) {
		return errQuotaFull
	}
	if err != nil {
		return fmt.Errorf("contacts: count contacts: %w", err)
	}
	return nil
}

// counted reads the tenant's counter, consistently (0 when it has none).
func (r *repo) counted(ctx context.Context, orgID string) (int, error) {
	var c struct {
		N int `dynamodbav:"contacts"`
	}
	err := r.st.GetConsistent(ctx, store.ContactCountKey(orgID), &c)
	if errors.Is(err, errs.ErrNotFound) {
		return 0, nil
	}
	return c.N, err
}

// orgPlan reads the name of the organisation's plan ("" when the
// organisation item is gone).
func (r *repo) orgPlan(ctx context.Context, orgID string) (string, error) {
	var org struct {
		Plan string `dynamodbav:"plan"`
	}
	err := r.st.Get(ctx, store.OrgKey(orgID), &org)
	if errors.Is(err, errs.ErrNotFound) {
		return "", nil
	}
	return org.Plan, err
}

func num(n int) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
}

// tagOps are the puts of the tag entries it gains over old (nil: none) and
// the deletes of those it loses.
func tagOps(old, it *Item) ([]types.TransactWriteItem, error) {
	var ops []types.TransactWriteItem
	for _, t := range added(old, it) {
		op, err := put(tagItem{Key: store.ContactTagKey(it.OrgID, t, it.ID), ContactID: it.ID}, "", nil, nil)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	if old != nil {
		for _, t := range added(it, old) {
			ops = append(ops, types.TransactWriteItem{Delete: &types.Delete{Key: store.ContactTagKey(it.OrgID, t, it.ID).KeyAV()}})
		}
	}
	return ops, nil
}

// added lists the tags of it that from (nil: none) lacks.
func added(from, it *Item) []string {
	var out []string
	for _, t := range it.Tags {
		if from == nil || !slices.Contains(from.Tags, t) {
			out = append(out, t)
		}
	}
	return out
}

// put is the transaction item that writes item on condition cond ("": none).
func put(item any, cond string, names map[string]string, vals map[string]types.AttributeValue) (types.TransactWriteItem, error) {
	av, err := store.Marshal(item)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	p := &types.Put{Item: av, ExpressionAttributeNames: names, ExpressionAttributeValues: vals}
	if cond != "" {
		p.ConditionExpression = &cond
	}
	return types.TransactWriteItem{Put: p}, nil
}

// versionIs is the condition that an item is still at version.
func versionIs(version int) (string, map[string]string, map[string]types.AttributeValue) {
	return "#v = :v", map[string]string{"#v": attrVersion},
		map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(version)}}
}

// claim takes it's email for it with its lookup: errLookupTaken when the
// email has a lookup already. The batch path claims first and writes the
// contact after (putNew), without a transaction.
func (r *repo) claim(ctx context.Context, it *Item) error {
	err := r.st.PutNew(ctx, emailItem{Key: store.ContactEmailKey(it.OrgID, it.Email), ContactID: it.ID})
	if errors.Is(err, errs.ErrConflict) {
		return errLookupTaken
	}
	return err
}

// putNew writes a new contact (version 1) alone: errStale when it exists.
func (r *repo) putNew(ctx context.Context, it *Item) error {
	it.Version = 1
	return stale(r.st.PutNew(ctx, it))
}

// putIfVersion writes it, the next version of old, alone: errStale when the
// contact is no longer at old's version.
func (r *repo) putIfVersion(ctx context.Context, old, it *Item) error {
	it.Version = old.Version + 1
	return stale(r.st.PutIfVersion(ctx, it, old.Version))
}

func stale(err error) error {
	if errors.Is(err, errs.ErrConflict) {
		return errStale
	}
	return err
}

// change is one contact's write in a batch: old as read (nil for a new
// contact) and it, what it becomes.
type change struct{ old, it *Item }

// putTags writes the tag entries the changes add, before the contacts
// themselves: an entry whose contact lacks the tag is skipped by the list,
// so a batch that fails half-way leaves nothing visible.
func (r *repo) putTags(ctx context.Context, changes []change) error {
	var entries []any
	for _, c := range changes {
		for _, t := range added(c.old, c.it) {
			entries = append(entries, tagItem{Key: store.ContactTagKey(c.it.OrgID, t, c.it.ID), ContactID: c.it.ID})
		}
	}
	return r.st.PutAll(ctx, entries)
}

// deleteTags deletes the tag entries the changes remove.
func (r *repo) deleteTags(ctx context.Context, changes []change) error {
	var keys []store.Key
	for _, c := range changes {
		if c.old != nil {
			for _, t := range added(c.it, c.old) {
				keys = append(keys, store.ContactTagKey(c.it.OrgID, t, c.it.ID))
			}
		}
	}
	return r.st.DeleteAll(ctx, keys)
}

// list reads a page of contacts. Every filter is one Query over a key or a
// sparse index, reading at most limit+1 entries:
//   - none: the tenant's partition, newest first;
//   - subscribed: GSI1 (contacts by subscription state), newest first;
//   - email: GSI2 (contacts by email), a prefix, in email order;
//   - tag: the tag's partition of contact keys, newest first, then one
//     BatchGetItem for the contacts themselves.
func (r *repo) list(ctx context.Context, orgID string, f Filter, limit int, start map[string]string) ([]Item, map[string]string, error) {
	in := &dynamodb.QueryInput{ScanIndexForward: aws.Bool(false)}
	pk, pkAttr, skAttr := store.OrgPK(orgID), store.AttrPK, store.AttrSK
	keyAttrs := []string{store.AttrPK, store.AttrSK}
	switch {
	case f.Tag != "":
		pk = store.ContactTagPK(orgID, f.Tag)
	case f.Subscribed != nil:
		in.IndexName = aws.String(store.IndexGSI1)
		pk, pkAttr, skAttr = store.SubscribedPK(orgID, *f.Subscribed), store.AttrGSI1PK, store.AttrGSI1SK
		keyAttrs = append(keyAttrs, pkAttr, skAttr)
	case f.EmailPrefix != "":
		in.IndexName = aws.String(store.IndexGSI2)
		in.ScanIndexForward = aws.Bool(true)
		keyAttrs = append(keyAttrs, store.AttrGSI2PK, store.AttrGSI2SK)
		in.KeyConditionExpression = aws.String(store.AttrGSI2PK + " = :pk AND begins_with(" + store.AttrGSI2SK + ", :prefix)")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":pk":     &types.AttributeValueMemberS{Value: store.EmailIndexPK(orgID)},
			":prefix": &types.AttributeValueMemberS{Value: f.EmailPrefix},
		}
	}
	if in.KeyConditionExpression == nil {
		lo, hi := createdRange(f)
		in.KeyConditionExpression = aws.String(pkAttr + " = :pk AND " + skAttr + " BETWEEN :lo AND :hi")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk},
			":lo": &types.AttributeValueMemberS{Value: lo},
			":hi": &types.AttributeValueMemberS{Value: hi},
		}
	}
	page, err := r.st.QueryPage(ctx, in, limit, start, keyAttrs)
	if err != nil {
		return nil, nil, err
	}
	if f.Tag != "" {
		items, err := r.byTagEntries(ctx, orgID, f.Tag, page.Items)
		return items, page.Next, err
	}
	var items []Item
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("contacts: decode: %w", err)
	}
	return items, page.Next, nil
}

// byTagEntries reads the contacts a page of tag entries points at, in order.
func (r *repo) byTagEntries(ctx context.Context, orgID, tag string, entries []map[string]types.AttributeValue) ([]Item, error) {
	var tags []tagItem
	if err := attributevalue.UnmarshalListOfMaps(entries, &tags); err != nil {
		return nil, fmt.Errorf("contacts: decode tag entries: %w", err)
	}
	keys := make([]store.Key, len(tags))
	for i, t := range tags {
		keys[i] = store.ContactKey(orgID, t.ContactID)
	}
	var got []Item
	if err := r.batchGet(ctx, keys, &got); err != nil {
		return nil, err
	}
	byID := make(map[string]Item, len(got))
	for _, it := range got {
		byID[it.ID] = it
	}
	out := make([]Item, 0, len(tags))
	for _, t := range tags {
		// An entry a batch wrote before its contact, or left when it failed
		// half-way, names a contact without the tag: skipped.
		if it, ok := byID[t.ContactID]; ok && slices.Contains(it.Tags, tag) {
			out = append(out, it)
		}
	}
	return out, nil
}

// createdRange bounds contact sort keys by creation time: ids are ULIDs, whose
// first 48 bits are the creation time in milliseconds.
func createdRange(f Filter) (lo, hi string) {
	lo, hi = store.ContactSK(""), store.ContactSK("~")
	if f.CreatedAfter != nil {
		var id ulid.ULID
		_ = id.SetTime(uint64(max(f.CreatedAfter.UnixMilli(), 0)))
		lo = store.ContactSK("cnt_" + id.String())
	}
	if f.CreatedBefore != nil {
		id := ulid.ULID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		_ = id.SetTime(uint64(max(f.CreatedBefore.UnixMilli()-1, 0)))
		hi = store.ContactSK("cnt_" + id.String())
	}
	return lo, hi
}

// errOutOfTime stops a purge at its deadline.
var errOutOfTime = errors.New("contacts: purge out of time")

// deleteEvents deletes a contact's events a page of keys at a time, in
// chunks of purgeChunk; after each chunk it asks more whether to go on
// (so every call makes progress). finished is false when more said no. Every chunk
// it deletes is gone for good, so running it again goes on where it stopped.
func (r *repo) deleteEvents(ctx context.Context, orgID, contactID string, more func() bool) (finished bool, err error) {
	err = r.st.QueryKeys(ctx, store.EventsPK(orgID, contactID), store.EventPrefix(), func(keys []store.Key) error {
		for _, chunk := range store.Chunks(keys, purgeChunk) {
			if err := r.st.DeleteAll(ctx, chunk); err != nil {
				return err
			}
			if !more() {
				return errOutOfTime
			}
		}
		return nil
	})
	if errors.Is(err, errOutOfTime) {
		return false, nil
	}
	return err == nil, err
}
