package contacts

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// Filter narrows the contact list. At most one of Tag, Subscribed and
// EmailPrefix; the created range goes with any but EmailPrefix.
type Filter struct {
	Tag           string
	Subscribed    *bool
	EmailPrefix   string
	CreatedAfter  *time.Time // at or after
	CreatedBefore *time.Time // strictly before
}

// ParseFilter reads the list's filters from a query string.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	f.Tag = strings.TrimSpace(q.Get("tag"))
	if len(f.Tag) > MaxTagLen {
		return f, errs.Invalid("tag", "The 'tag' parameter must be at most %d characters long.", MaxTagLen)
	}
	if v := q.Get("subscribed"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil || (v != "true" && v != "false") {
			return f, errs.Invalid("subscribed", "The 'subscribed' parameter must be true or false.")
		}
		f.Subscribed = &b
	}
	f.EmailPrefix = strings.ToLower(strings.TrimSpace(q.Get("email")))
	if len(f.EmailPrefix) > 254 {
		return f, errs.Invalid("email", "The 'email' parameter must be at most 254 characters long.")
	}
	for name, dst := range map[string]**time.Time{"createdAfter": &f.CreatedAfter, "createdBefore": &f.CreatedBefore} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, errs.Invalid(name, "The '%s' parameter must be an RFC 3339 timestamp, such as 2026-01-31T09:00:00Z.", name)
			}
			*dst = &t
		}
	}
	n := 0
	for _, set := range []bool{f.Tag != "", f.Subscribed != nil, f.EmailPrefix != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return f, errs.Invalid("tag", "Filter by at most one of 'tag', 'subscribed' and 'email'.")
	}
	if f.EmailPrefix != "" && (f.CreatedAfter != nil || f.CreatedBefore != nil) {
		return f, errs.Invalid("email", "The 'email' filter cannot be combined with 'createdAfter' or 'createdBefore'.")
	}
	return f, nil
}

// Scope names the list a cursor belongs to: the same filters, the same list.
func (f Filter) Scope() string {
	s := "contacts"
	if f.Tag != "" {
		s += "|tag=" + f.Tag
	}
	if f.Subscribed != nil {
		s += fmt.Sprintf("|subscribed=%t", *f.Subscribed)
	}
	if f.EmailPrefix != "" {
		s += "|email=" + f.EmailPrefix
	}
	if f.CreatedAfter != nil {
		s += "|after=" + f.CreatedAfter.UTC().Format(time.RFC3339Nano)
	}
	if f.CreatedBefore != nil {
		s += "|before=" + f.CreatedBefore.UTC().Format(time.RFC3339Nano)
	}
	return s
}

// List returns a page of contacts. Every filter is one Query over a key or
// a sparse index, reading at most limit+1 entries:
//   - none: the tenant's partition, newest first;
//   - subscribed: GSI1 (contacts by subscription state), newest first;
//   - email: GSI2 (contacts by email), a prefix, in email order;
//   - tag: the tag's partition of contact keys, newest first, then one
//     BatchGetItem for the contacts themselves.
func (s *Service) List(ctx context.Context, orgID string, f Filter, limit int, start map[string]string) ([]Item, map[string]string, error) {
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
		in.KeyConditionExpression = aws.String("GSI2PK = :pk AND begins_with(GSI2SK, :prefix)")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":pk":     &types.AttributeValueMemberS{Value: store.EmailIndexPK(orgID)},
			":prefix": &types.AttributeValueMemberS{Value: f.EmailPrefix},
		}
	}
	if in.KeyConditionExpression == nil {
		lo, hi := createdRange(f)
		in.KeyConditionExpression = aws.String(fmt.Sprintf("%s = :pk AND %s BETWEEN :lo AND :hi", pkAttr, skAttr))
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk},
			":lo": &types.AttributeValueMemberS{Value: lo},
			":hi": &types.AttributeValueMemberS{Value: hi},
		}
	}
	page, err := s.store.QueryPage(ctx, in, limit, start, keyAttrs)
	if err != nil {
		return nil, nil, err
	}
	if f.Tag != "" {
		items, err := s.byTagEntries(ctx, orgID, f.Tag, page.Items)
		return items, page.Next, err
	}
	var items []Item
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("contacts: decode: %w", err)
	}
	return items, page.Next, nil
}

// byTagEntries reads the contacts a page of tag entries points at, in order.
func (s *Service) byTagEntries(ctx context.Context, orgID, tag string, entries []map[string]types.AttributeValue) ([]Item, error) {
	var tags []tagItem
	if err := attributevalue.UnmarshalListOfMaps(entries, &tags); err != nil {
		return nil, fmt.Errorf("contacts: decode tag entries: %w", err)
	}
	keys := make([]store.Key, len(tags))
	for i, t := range tags {
		keys[i] = store.ContactKey(orgID, t.ContactID)
	}
	raw, err := s.store.BatchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	var got []Item
	if err := attributevalue.UnmarshalListOfMaps(raw, &got); err != nil {
		return nil, fmt.Errorf("contacts: decode: %w", err)
	}
	byID := make(map[string]Item, len(got))
	for _, it := range got {
		byID[it.ID] = it
	}
	out := make([]Item, 0, len(tags))
	for _, t := range tags {
		// An entry left by a batch writer that died half-way is skipped.
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
