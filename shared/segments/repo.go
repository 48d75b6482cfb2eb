package segments

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// repo is where the segments group speaks DynamoDB. Its errors are the
// store's mapped ones (errs.ErrNotFound, errs.ErrConflict,
// *errs.Unavailable).
type repo struct{ s *store.Store }

// tenantSet is a tenant's segments at one version of its segments counter:
// a write conditioned on that version fails if any segment of the tenant
// changed since, so references and cycles are checked against what is
// really there.
type tenantSet struct {
	version int
	items   []Item
}

func (t tenantSet) find(id string) *Item {
	for i := range t.items {
		if t.items[i].ID == id {
			return &t.items[i]
		}
	}
	return nil
}

// load reads the tenant's segments version, then every segment,
// consistently: 1 GetItem and 1 Query per MB of definitions.
func (r repo) load(ctx context.Context, orgID string) (tenantSet, error) {
	var v struct {
		Version int `dynamodbav:"version"`
	}
	err := r.s.GetConsistent(ctx, store.SegmentsVersionKey(orgID), &v)
	if err != nil && !errors.Is(err, errs.ErrNotFound) {
		return tenantSet{}, err
	}
	t := tenantSet{version: v.Version}
	pages := dynamodb.NewQueryPaginator(r.s.DB, &dynamodb.QueryInput{
		TableName:              &r.s.Table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.OrgPK(orgID)},
			":sk": &types.AttributeValueMemberS{Value: store.SegmentPrefix()},
		},
		ConsistentRead: aws.Bool(true),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return tenantSet{}, store.MapErr(err)
		}
		var items []Item
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return tenantSet{}, fmt.Errorf("segments: decode segments: %w", err)
		}
		t.items = append(t.items, items...)
	}
	return t, nil
}

// versionOp bumps the tenant's segments version on the condition that it
// is still the one read (0: none yet), so workers reload the definitions
// and concurrent writers of the tenant's segments never both pass.
func versionOp(orgID string, read int) types.TransactWriteItem {
	u := &types.Update{
		Key:                       store.SegmentsVersionKey(orgID).KeyAV(),
		UpdateExpression:          aws.String("ADD #v :one"),
		ExpressionAttributeNames:  map[string]string{"#v": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
		ConditionExpression:       aws.String("attribute_not_exists(#v)"),
	}
	if read > 0 {
		u.ConditionExpression = aws.String("#v = :read")
		u.ExpressionAttributeValues[":read"] = num(read)
	}
	return types.TransactWriteItem{Update: u}
}

// create writes a new segment and bumps the tenant's version: ErrConflict
// when the tenant's segments changed since version was read.
func (r repo) create(ctx context.Context, it Item, version int) error {
	av, err := store.Marshal(it)
	if err != nil {
		return err
	}
	return r.s.Transact(ctx, []types.TransactWriteItem{
		{Put: &types.Put{Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		versionOp(it.OrgID, version),
	})
}

// update writes the API's attributes of a segment read at old.Version (the
// worker's build attributes are left alone, unless rebuild resets them for
// a new definition) and bumps the tenant's version.
func (r repo) update(ctx context.Context, old, it Item, rebuild bool, version int) error {
	names := map[string]string{"#name": attrName, "#desc": attrDescription, "#def": attrDefinition, "#refs": attrRefs,
		"#upd": attrUpdatedAt, "#ver": attrVersion}
	vals := map[string]types.AttributeValue{
		":name": &types.AttributeValueMemberS{Value: it.Name},
		":def":  &types.AttributeValueMemberS{Value: it.Definition},
		":upd":  &types.AttributeValueMemberS{Value: it.UpdatedAt.UTC().Format(time.RFC3339Nano)},
		":ver":  num(it.Version),
		":old":  num(old.Version),
	}
	set := "SET #name = :name, #def = :def, #upd = :upd, #ver = :ver"
	var remove []string
	if it.Description != nil {
		set += ", #desc = :desc"
		vals[":desc"] = &types.AttributeValueMemberS{Value: *it.Description}
	} else {
		remove = append(remove, "#desc")
	}
	if len(it.Refs) > 0 {
		refs, err := attributevalue.Marshal(it.Refs)
		if err != nil {
			return fmt.Errorf("segments: encode refs: %w", err)
		}
		set += ", #refs = :refs"
		vals[":refs"] = refs
	} else {
		remove = append(remove, "#refs")
	}
	if rebuild {
		names["#st"], names["#proc"], names["#tot"], names["#cur"] = attrStatus, attrProcessed, attrTotal, attrCursor
		set += ", #st = :st, #proc = :zero"
		vals[":st"] = &types.AttributeValueMemberS{Value: StatusBuilding}
		vals[":zero"] = num(0)
		remove = append(remove, "#tot", "#cur")
	}
	expr := set
	if len(remove) > 0 {
		expr += " REMOVE "
		for i, n := range remove {
			if i > 0 {
				expr += ", "
			}
			expr += n
		}
	}
	return r.s.Transact(ctx, []types.TransactWriteItem{
		{Update: &types.Update{
			Key:                       store.SegmentKey(it.OrgID, it.ID).KeyAV(),
			UpdateExpression:          &expr,
			ConditionExpression:       aws.String("#ver = :old"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
		}},
		versionOp(it.OrgID, version),
	})
}

// remove deletes a segment read at its version and bumps the tenant's
// version. The stream's REMOVE makes the changes function queue the purge
// of its members.
func (r repo) remove(ctx context.Context, it Item, version int) error {
	return r.s.Transact(ctx, []types.TransactWriteItem{
		{Delete: &types.Delete{
			Key:                       store.SegmentKey(it.OrgID, it.ID).KeyAV(),
			ConditionExpression:       aws.String("#ver = :old"),
			ExpressionAttributeNames:  map[string]string{"#ver": attrVersion},
			ExpressionAttributeValues: map[string]types.AttributeValue{":old": num(it.Version)},
		}},
		versionOp(it.OrgID, version),
	})
}

// get reads one segment of a tenant.
func (r repo) get(ctx context.Context, orgID, id string) (Item, error) {
	var it Item
	return it, r.s.Get(ctx, store.SegmentKey(orgID, id), &it)
}

// list reads one page of a tenant's segments, newest first (ids are ULIDs).
func (r repo) list(ctx context.Context, orgID string, limit int, start map[string]string) ([]Item, map[string]string, error) {
	page, err := r.s.QueryPage(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.OrgPK(orgID)},
			":sk": &types.AttributeValueMemberS{Value: store.SegmentPrefix()},
		},
		ScanIndexForward: aws.Bool(false),
	}, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	items := make([]Item, 0, len(page.Items))
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("segments: decode segments: %w", err)
	}
	return items, page.Next, nil
}

// members reads one page of a segment's members, in contact id order.
func (r repo) members(ctx context.Context, orgID, id string, limit int, start map[string]string) ([]memberItem, map[string]string, error) {
	page, err := r.s.QueryPage(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.SegmentMembersPK(orgID, id)},
			":sk": &types.AttributeValueMemberS{Value: store.ContactPrefix()},
		},
	}, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	items := make([]memberItem, 0, len(page.Items))
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("segments: decode members: %w", err)
	}
	return items, page.Next, nil
}

// contactPartition reads a contact's memberships partition: its
// memberships and its evaluation state (one Query; a tenant has at most
// MaxSegments segments). found says whether the partition has any item.
func (r repo) contactPartition(ctx context.Context, orgID, contactID string) (ms []memberItem, found bool, err error) {
	pages := dynamodb.NewQueryPaginator(r.s.DB, &dynamodb.QueryInput{
		TableName:                 &r.s.Table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.ContactSegmentsPK(orgID, contactID)}},
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, false, store.MapErr(err)
		}
		var items []memberItem
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return nil, false, fmt.Errorf("segments: decode memberships: %w", err)
		}
		for _, it := range items {
			found = true
			if it.Type == contactMemberType {
				ms = append(ms, it)
			}
		}
	}
	return ms, found, nil
}

// contactExists reads whether the tenant has the contact (1 GetItem).
func (r repo) contactExists(ctx context.Context, orgID, contactID string) (bool, error) {
	var k store.Key
	err := r.s.Get(ctx, store.ContactKey(orgID, contactID), &k)
	if errors.Is(err, errs.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// contactCount reads the tenant's contacts counter (the plan's quota).
func (r repo) contactCount(ctx context.Context, orgID string) (int, error) {
	var c struct {
		N int `dynamodbav:"contacts"`
	}
	err := r.s.Get(ctx, store.ContactCountKey(orgID), &c)
	if errors.Is(err, errs.ErrNotFound) {
		return 0, nil
	}
	return c.N, err
}

// contacts reads one page of a tenant's contacts, newest first.
func (r repo) contacts(ctx context.Context, orgID string, limit int, start map[string]string) ([]contactItem, map[string]string, error) {
	page, err := r.s.QueryPage(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.OrgPK(orgID)},
			":sk": &types.AttributeValueMemberS{Value: store.ContactPrefix()},
		},
		ScanIndexForward: aws.Bool(false),
	}, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	items := make([]contactItem, 0, len(page.Items))
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("segments: decode contacts: %w", err)
	}
	return items, page.Next, nil
}

// eventsByName calls fn with each page of a tenant's events of one name
// in one shard since a time, newest first (GSI2; event ids are ULIDs of the
// event's time, so the time bound is a key condition).
func (r repo) eventsByName(ctx context.Context, orgID, name string, shard int, since time.Time, fn func([]eventItem) error) error {
	var lo ulid.ULID
	if err := lo.SetTime(ulid.Timestamp(since)); err != nil {
		return fmt.Errorf("segments: event window: %w", err)
	}
	pages := dynamodb.NewQueryPaginator(r.s.DB, &dynamodb.QueryInput{
		TableName:              &r.s.Table,
		IndexName:              aws.String(store.IndexGSI2),
		KeyConditionExpression: aws.String("GSI2PK = :pk AND GSI2SK >= :lo"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.EventsByNamePK(orgID, name, shard)},
			":lo": &types.AttributeValueMemberS{Value: store.EventSK("evt_" + lo.String())},
		},
		ScanIndexForward: aws.Bool(false),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return store.MapErr(err)
		}
		items := make([]eventItem, 0, len(page.Items))
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return fmt.Errorf("segments: decode events: %w", err)
		}
		if err := fn(items); err != nil {
			return err
		}
	}
	return nil
}

// sends reads a contact's newest sends, at most max (GSI3).
func (r repo) sends(ctx context.Context, orgID, contactID string, max int) ([]sendItem, error) {
	out, err := r.s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &r.s.Table,
		IndexName:                 aws.String(store.IndexGSI3),
		KeyConditionExpression:    aws.String("GSI3PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.SendsByContactPK(orgID, contactID)}},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(max)),
	})
	if err != nil {
		return nil, store.MapErr(err)
	}
	items := make([]sendItem, 0, len(out.Items))
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &items); err != nil {
		return nil, fmt.Errorf("segments: decode sends: %w", err)
	}
	return items, nil
}

// memberships reads which of the given memberships exist (BatchGetItem of
// the contact-side items), as contact id → segment id → true.
func (r repo) memberships(ctx context.Context, keys []store.Key) (map[string]map[string]bool, error) {
	items, err := r.s.BatchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	var ms []memberItem
	if err := attributevalue.UnmarshalListOfMaps(items, &ms); err != nil {
		return nil, fmt.Errorf("segments: decode memberships: %w", err)
	}
	out := map[string]map[string]bool{}
	for _, m := range ms {
		if out[m.ContactID] == nil {
			out[m.ContactID] = map[string]bool{}
		}
		out[m.ContactID][m.SegmentID] = true
	}
	return out, nil
}

func num(n int) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
}
