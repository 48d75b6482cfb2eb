package messages

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
)

// This file is the one place the messages group speaks DynamoDB. A send is
// accepted with one transaction: the send item (its own partition, with the
// index keys every list uses), the tenant's monthly usage counter (ADD on
// the condition that the plan's quota is not reached) and one keys-only
// item per tag. Reschedule and cancel are one transaction each: the send's
// change, conditional on its status and Rev, and its timeline item.

// UsageEmailsAttr is the usage counter's attribute of emails accepted in
// the month (store.UsageKey); GET /api/users/me reads the same attribute.
const UsageEmailsAttr = "emails"

// usageTTL keeps a month's usage item about a year.
const usageTTL = 400 * 24 * time.Hour

// errQuota: the usage counter's condition failed.
var errQuota = errors.New("messages: monthly email quota reached")

// errExists is a send whose id is taken (SendAs made it before).
var errExists = errors.New("messages: a send with this id exists")

// errChanged: the send changed since it was read.
var errChanged = errors.New("messages: send changed meanwhile")

// repo reads and writes the messages group's items.
type repo struct{ st *store.Store }

// contactItem is the part of a contact a send needs.
type contactItem struct {
	ID         string `dynamodbav:"id"`
	Email      string `dynamodbav:"email"`
	Subscribed bool   `dynamodbav:"subscribed"`
}

// emailLookup is the contacts group's email → contact lookup.
type emailLookup struct {
	store.Key
	ContactID string `dynamodbav:"contactId"`
}

// domainClaim and domainItem are the parts of the domains group's items the
// from check reads.
type domainClaim struct {
	OrgID    string `dynamodbav:"orgId"`
	DomainID string `dynamodbav:"domainId"`
}

type domainItem struct {
	Status string `dynamodbav:"status"`
}

// byEmail reads, in one BatchGetItem, the suppression entry of an address
// and the contact lookup of that address: nil and "" for what is absent.
func (r *repo) byEmail(ctx context.Context, orgID, email string) (*sends.SuppressionItem, string, error) {
	supKey, lookupKey := store.SuppressionKey(orgID, email), store.ContactEmailKey(orgID, email)
	got, err := r.st.BatchGet(ctx, []store.Key{supKey, lookupKey})
	if err != nil {
		return nil, "", err
	}
	var (
		sup       *sends.SuppressionItem
		contactID string
	)
	for _, av := range got {
		var k store.Key
		if err := attributevalue.UnmarshalMap(av, &k); err != nil {
			return nil, "", fmt.Errorf("messages: decode key: %w", err)
		}
		switch k {
		case supKey:
			sup = &sends.SuppressionItem{}
			if err := attributevalue.UnmarshalMap(av, sup); err != nil {
				return nil, "", fmt.Errorf("messages: decode suppression: %w", err)
			}
		case lookupKey:
			var l emailLookup
			if err := attributevalue.UnmarshalMap(av, &l); err != nil {
				return nil, "", fmt.Errorf("messages: decode contact lookup: %w", err)
			}
			contactID = l.ContactID
		}
	}
	return sup, contactID, nil
}

// contact reads a contact of the tenant; errs.ErrNotFound when absent.
func (r *repo) contact(ctx context.Context, orgID, id string) (*contactItem, error) {
	var c contactItem
	if err := r.st.Get(ctx, store.ContactKey(orgID, id), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// suppression reads the entry of an address; errs.ErrNotFound when absent.
func (r *repo) suppression(ctx context.Context, orgID, email string) (*sends.SuppressionItem, error) {
	var s sends.SuppressionItem
	if err := r.st.Get(ctx, store.SuppressionKey(orgID, email), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// domainVerified says whether domain is a verified sending domain of the
// tenant: its global claim names the tenant, and the tenant's domain item
// is verified.
func (r *repo) domainVerified(ctx context.Context, orgID, domain string) (bool, error) {
	var c domainClaim
	err := r.st.Get(ctx, store.DomainClaimKey(domain), &c)
	if errors.Is(err, errs.ErrNotFound) || err == nil && c.OrgID != orgID {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var d domainItem
	err = r.st.Get(ctx, store.DomainKey(orgID, c.DomainID), &d)
	if errors.Is(err, errs.ErrNotFound) {
		return false, nil
	}
	return err == nil && d.Status == "verified", err
}

// create writes an accepted send: the send item on its absence, the month's
// usage counter (errQuota when the plan's quota is reached) and its tags.
func (r *repo) create(ctx context.Context, it *sends.Item, quota int) error {
	av, err := store.Marshal(it)
	if err != nil {
		return err
	}
	usage := store.UsageKey(it.OrgID, it.CreatedAt)
	ops := []types.TransactWriteItem{
		{Put: &types.Put{Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Update: &types.Update{
			Key:                      usage.KeyAV(),
			UpdateExpression:         aws.String("ADD #e :one SET #ttl = if_not_exists(#ttl, :ttl)"),
			ConditionExpression:      aws.String("attribute_not_exists(#e) OR #e < :quota"),
			ExpressionAttributeNames: map[string]string{"#e": UsageEmailsAttr, "#ttl": store.AttrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one":   &types.AttributeValueMemberN{Value: "1"},
				":quota": &types.AttributeValueMemberN{Value: strconv.Itoa(quota)},
				":ttl":   &types.AttributeValueMemberN{Value: strconv.FormatInt(it.CreatedAt.Add(usageTTL).Unix(), 10)},
			},
		}},
	}
	for k, v := range it.Tags {
		ops = append(ops, types.TransactWriteItem{Put: &types.Put{Item: store.SendTagKey(it.OrgID, k, v, it.ID).KeyAV()}})
	}
	err = r.st.Transact(ctx, ops)
	var tc *store.TxCanceled
	if errors.As(err, &tc) && tc.FailedAt(1) {
		return errQuota
	}
	if errors.As(err, &tc) && tc.FailedAt(0) {
		return errExists
	}
	return err
}

// get reads a send (consistently, for a change that follows);
// errs.ErrNotFound when absent.
func (r *repo) get(ctx context.Context, orgID, id string) (*sends.Item, error) {
	var it sends.Item
	if err := r.st.GetConsistent(ctx, store.SendKey(orgID, id), &it); err != nil {
		return nil, err
	}
	return &it, nil
}

// withTimeline reads a send and its timeline with one Query of the send's
// partition (more only when it passes 1 MB); errs.ErrNotFound when absent.
func (r *repo) withTimeline(ctx context.Context, orgID, id string) (*sends.Item, []sends.TimelineItem, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &r.st.Table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.SendPK(orgID, id)}},
	}
	var (
		it       *sends.Item
		timeline []sends.TimelineItem
	)
	pages := dynamodb.NewQueryPaginator(r.st.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, store.MapErr(err)
		}
		for _, av := range page.Items {
			var k store.Key
			if err := attributevalue.UnmarshalMap(av, &k); err != nil {
				return nil, nil, fmt.Errorf("messages: decode key: %w", err)
			}
			switch {
			case k.SK == store.SendSK():
				it = &sends.Item{}
				if err := attributevalue.UnmarshalMap(av, it); err != nil {
					return nil, nil, fmt.Errorf("messages: decode send: %w", err)
				}
			case strings.HasPrefix(k.SK, store.TimelinePrefix()):
				var tl sends.TimelineItem
				if err := attributevalue.UnmarshalMap(av, &tl); err != nil {
					return nil, nil, fmt.Errorf("messages: decode timeline: %w", err)
				}
				timeline = append(timeline, tl)
			}
		}
	}
	if it == nil {
		return nil, nil, errs.ErrNotFound
	}
	return it, timeline, nil
}

// summaryAttrs are what a list reads of a send: everything but the bodies
// and the data.
var summaryAttrs = []string{"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK", "GSI4PK", "GSI4SK",
	"GSI5PK", "GSI5SK", "type", "orgId", "id", "rev", "status", "statusAt", "reason", "to", "contactId", "templateId",
	"templateVersion", "subject", "from", "replyTo", "headers", "tags", "kind", "trackOpens", "trackClicks", "test",
	"sendAt", "createdAt", "sesMessageId", "sentAt", "opens", "clicks", "events"}

func projection() (string, map[string]string) {
	names := make(map[string]string, len(summaryAttrs))
	parts := make([]string, len(summaryAttrs))
	for i, a := range summaryAttrs {
		n := "#p" + strconv.Itoa(i)
		names[n] = a
		parts[i] = n
	}
	return strings.Join(parts, ", "), names
}

// list reads a page of sends, newest first, with one Query: GSI1 (all),
// GSI2 (to), GSI3 (contact), GSI4 (template), GSI5 (status) or a tag's
// partition of send ids (then one BatchGetItem of the sends).
func (r *repo) list(ctx context.Context, orgID string, f Filter, limit int, start map[string]string) ([]sends.Item, map[string]string, error) {
	index, pkAttr, skAttr, pk := store.IndexGSI1, store.AttrGSI1PK, store.AttrGSI1SK, store.SendsPK(orgID)
	switch {
	case f.To != "":
		index, pkAttr, skAttr, pk = store.IndexGSI2, store.AttrGSI2PK, store.AttrGSI2SK, store.SendsToPK(orgID, f.To)
	case f.ContactID != "":
		index, pkAttr, skAttr, pk = store.IndexGSI3, store.AttrGSI3PK, store.AttrGSI3SK, store.SendsByContactPK(orgID, f.ContactID)
	case f.TemplateID != "":
		index, pkAttr, skAttr, pk = store.IndexGSI4, store.AttrGSI4PK, store.AttrGSI4SK, store.SendsByTemplatePK(orgID, f.TemplateID)
	case f.Status != "":
		index, pkAttr, skAttr, pk = store.IndexGSI5, store.AttrGSI5PK, store.AttrGSI5SK, store.SendsByStatusPK(orgID, f.Status)
	case f.TagKey != "":
		index, pkAttr, skAttr, pk = "", store.AttrPK, store.AttrSK, store.SendTagPK(orgID, f.TagKey, f.TagValue)
	}
	in := &dynamodb.QueryInput{
		ScanIndexForward:          aws.Bool(false),
		KeyConditionExpression:    aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
		ExpressionAttributeNames:  map[string]string{"#pk": pkAttr, "#sk": skAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
	}
	lo, hi := createdRange(f)
	if f.Status == sends.Scheduled {
		// Scheduled sends sort by when they are due (GSI5SK: time#id).
		lo, hi = "0", "~"
	}
	in.ExpressionAttributeValues[":lo"] = &types.AttributeValueMemberS{Value: lo}
	in.ExpressionAttributeValues[":hi"] = &types.AttributeValueMemberS{Value: hi}
	keyAttrs := []string{store.AttrPK, store.AttrSK}
	if index != "" {
		in.IndexName = aws.String(index)
		keyAttrs = append(keyAttrs, pkAttr, skAttr)
		proj, names := projection()
		in.ProjectionExpression = aws.String(proj)
		for k, v := range names {
			in.ExpressionAttributeNames[k] = v
		}
	}
	page, err := r.st.QueryPage(ctx, in, limit, start, keyAttrs)
	if err != nil {
		return nil, nil, err
	}
	if index == "" {
		items, err := r.byTagEntries(ctx, orgID, page.Items)
		return items, page.Next, err
	}
	var items []sends.Item
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("messages: decode sends: %w", err)
	}
	return items, page.Next, nil
}

// byTagEntries reads the sends a page of tag entries names, in its order.
func (r *repo) byTagEntries(ctx context.Context, orgID string, entries []map[string]types.AttributeValue) ([]sends.Item, error) {
	var tags []store.Key
	if err := attributevalue.UnmarshalListOfMaps(entries, &tags); err != nil {
		return nil, fmt.Errorf("messages: decode tag entries: %w", err)
	}
	keys := make([]store.Key, len(tags))
	for i, t := range tags {
		keys[i] = store.SendKey(orgID, t.SK)
	}
	got, err := r.st.BatchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	var items []sends.Item
	if err := attributevalue.UnmarshalListOfMaps(got, &items); err != nil {
		return nil, fmt.Errorf("messages: decode sends: %w", err)
	}
	byID := make(map[string]sends.Item, len(items))
	for _, it := range items {
		byID[it.ID] = it
	}
	out := make([]sends.Item, 0, len(tags))
	for _, t := range tags {
		if it, ok := byID[t.SK]; ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// createdRange bounds send ids by creation time: ids are ULIDs, whose first
// 48 bits are the creation time in milliseconds.
func createdRange(f Filter) (lo, hi string) {
	lo, hi = idPrefix+"_", idPrefix+"_~"
	if f.CreatedAfter != nil {
		var id ulid.ULID
		_ = id.SetTime(uint64(max(f.CreatedAfter.UnixMilli(), 0)))
		lo = idPrefix + "_" + id.String()
	}
	if f.CreatedBefore != nil {
		id := ulid.ULID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		_ = id.SetTime(uint64(max(f.CreatedBefore.UnixMilli()-1, 0)))
		hi = idPrefix + "_" + id.String()
	}
	return lo, hi
}

// scheduled reads a page of the tenant's scheduled sends, soonest first.
func (r *repo) scheduled(ctx context.Context, orgID string, limit int, start map[string]string) ([]sends.Item, map[string]string, error) {
	proj, names := projection()
	names["#pk"] = store.AttrGSI5PK
	in := &dynamodb.QueryInput{
		IndexName:                 aws.String(store.IndexGSI5),
		ScanIndexForward:          aws.Bool(true),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ProjectionExpression:      aws.String(proj),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.SendsByStatusPK(orgID, sends.Scheduled)}},
	}
	page, err := r.st.QueryPage(ctx, in, limit, start, []string{store.AttrPK, store.AttrSK, store.AttrGSI5PK, store.AttrGSI5SK})
	if err != nil {
		return nil, nil, err
	}
	var items []sends.Item
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("messages: decode sends: %w", err)
	}
	return items, page.Next, nil
}

// change is a change of a scheduled send: its new status (scheduled again,
// queued or cancelled), its send time (nil: none), and the timeline event
// that records it.
type change struct {
	status string
	sendAt *time.Time
	event  string
	detail string // JSON object, or ""
	at     time.Time
}

// apply writes c on it in one transaction, on the condition that the send
// is still scheduled at the Rev it was read at (errChanged otherwise), and
// updates it in place.
func (r *repo) apply(ctx context.Context, it *sends.Item, c change) error {
	tl := sends.TimelineItem{Key: store.Key{PK: it.PK, SK: store.TimelineSK(c.at, c.event, strconv.Itoa(it.Rev+1))}, Type: sends.TimelineType,
		OrgID: it.OrgID, SendID: it.ID, EventType: c.event, At: c.at.UTC(), Detail: c.detail}
	tlAV, err := store.Marshal(tl)
	if err != nil {
		return err
	}
	next := *it
	next.Rev, next.Events, next.Status, next.StatusAt, next.SendAt = it.Rev+1, it.Events+1, c.status, c.at.UTC(), c.sendAt
	next.SetKeys()

	names := map[string]string{"#rev": "rev", "#events": "events", "#status": "status", "#statusAt": "statusAt",
		"#gpk": store.AttrGSI5PK, "#gsk": store.AttrGSI5SK, "#sendAt": "sendAt", "#duePK": store.AttrDuePK, "#dueSK": store.AttrDueSK}
	vals := map[string]types.AttributeValue{}
	set := []string{"#rev = :rev", "#events = :events", "#status = :status", "#statusAt = :statusAt", "#gpk = :gpk", "#gsk = :gsk"}
	for k, v := range map[string]any{":rev": next.Rev, ":events": next.Events, ":status": next.Status, ":statusAt": next.StatusAt,
		":gpk": next.GSI5PK, ":gsk": next.GSI5SK, ":was": it.Rev, ":scheduled": sends.Scheduled} {
		av, err := attributevalue.Marshal(v)
		if err != nil {
			return fmt.Errorf("messages: encode %s: %w", k, err)
		}
		vals[k] = av
	}
	var remove []string
	if next.SendAt != nil {
		set = append(set, "#sendAt = :sendAt")
		sendAt, err := attributevalue.Marshal(*next.SendAt)
		if err != nil {
			return fmt.Errorf("messages: encode sendAt: %w", err)
		}
		vals[":sendAt"] = sendAt
	} else {
		remove = append(remove, "#sendAt")
	}
	if next.DuePK != "" {
		set = append(set, "#duePK = :duePK", "#dueSK = :dueSK")
		vals[":duePK"] = &types.AttributeValueMemberS{Value: next.DuePK}
		vals[":dueSK"] = &types.AttributeValueMemberS{Value: next.DueSK}
	} else {
		remove = append(remove, "#duePK", "#dueSK")
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	ops := []types.TransactWriteItem{
		{Update: &types.Update{Key: it.KeyAV(), UpdateExpression: &expr,
			ConditionExpression:      aws.String("#rev = :was AND #status = :scheduled"),
			ExpressionAttributeNames: names, ExpressionAttributeValues: vals}},
		{Put: &types.Put{Item: tlAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	}
	err = r.st.Transact(ctx, ops)
	var tc *store.TxCanceled
	if errors.As(err, &tc) {
		return errChanged
	}
	if err != nil {
		return err
	}
	*it = next
	return nil
}

// suppressions reads a page of the tenant's suppression list in address
// order: the list's partition, or with a reason its GSI1 partition.
func (r *repo) suppressions(ctx context.Context, orgID, reason string, limit int, start map[string]string) ([]sends.SuppressionItem, map[string]string, error) {
	in := &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.SuppressionPK(orgID)},
			":sk": &types.AttributeValueMemberS{Value: store.SuppressionPrefix()},
		},
	}
	keyAttrs := []string{store.AttrPK, store.AttrSK}
	if reason != "" {
		in.IndexName = aws.String(store.IndexGSI1)
		in.KeyConditionExpression = aws.String(store.AttrGSI1PK + " = :pk")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.SuppressionsByReasonPK(orgID, reason)}}
		keyAttrs = append(keyAttrs, store.AttrGSI1PK, store.AttrGSI1SK)
	}
	page, err := r.st.QueryPage(ctx, in, limit, start, keyAttrs)
	if err != nil {
		return nil, nil, err
	}
	var items []sends.SuppressionItem
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("messages: decode suppressions: %w", err)
	}
	return items, page.Next, nil
}

// suppress writes a new entry; errs.ErrConflict when the address has one.
func (r *repo) suppress(ctx context.Context, s sends.SuppressionItem) error {
	return r.st.PutNew(ctx, s)
}

// unsuppress deletes an entry; errs.ErrNotFound when there is none.
func (r *repo) unsuppress(ctx context.Context, orgID, email string) error {
	_, err := r.st.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           &r.st.Table,
		Key:                 store.SuppressionKey(orgID, email).KeyAV(),
		ConditionExpression: aws.String("attribute_exists(PK)"),
	})
	if err = store.MapErr(err); errors.Is(err, errs.ErrConflict) {
		return errs.ErrNotFound
	}
	return err
}
