package worker

import (
	"context"
	"errors"
	"fmt"
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

// repo is the only code of the package that speaks to DynamoDB.
type repo struct{ s *store.Store }

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue  { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }

// segmentsVersion is the tenant's definitions version (0: none yet).
func (r repo) segmentsVersion(ctx context.Context, orgID string) (int, error) {
	var v struct {
		Version int `dynamodbav:"version"`
	}
	err := r.s.GetConsistent(ctx, store.SegmentsVersionKey(orgID), &v)
	if errors.Is(err, errs.ErrNotFound) {
		return 0, nil
	}
	return v.Version, err
}

// segments reads every segment item of the tenant (one Query, paged).
func (r repo) segments(ctx context.Context, orgID string) ([]segmentItem, error) {
	in := &dynamodb.QueryInput{
		TableName:              &r.s.Table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(store.OrgPK(orgID)), ":sk": str(store.SegmentPrefix()),
		},
		ConsistentRead: aws.Bool(true),
	}
	var out []segmentItem
	pages := dynamodb.NewQueryPaginator(r.s.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, store.MapErr(err)
		}
		var items []segmentItem
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return nil, fmt.Errorf("segments worker: decode segments: %w", err)
		}
		out = append(out, items...)
	}
	return out, nil
}

// segment reads one segment item; nil when it is gone.
func (r repo) segment(ctx context.Context, orgID, segmentID string) (*segmentItem, error) {
	var it segmentItem
	err := r.s.GetConsistent(ctx, store.SegmentKey(orgID, segmentID), &it)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &it, nil
}

// contact reads a contact (strongly consistent); nil when it is gone.
func (r repo) contact(ctx context.Context, orgID, contactID string) (*contactItem, error) {
	var c contactItem
	err := r.s.GetConsistent(ctx, store.ContactKey(orgID, contactID), &c)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// contactSegments reads a contact's state and memberships: one Query of
// its CSEG partition (strongly consistent). The state is nil when absent.
func (r repo) contactSegments(ctx context.Context, orgID, contactID string) (*stateItem, map[string]time.Time, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &r.s.Table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(store.ContactSegmentsPK(orgID, contactID))},
		ConsistentRead:            aws.Bool(true),
	}
	var state *stateItem
	members := map[string]time.Time{}
	stateSK := store.ContactSegStateKey(orgID, contactID).SK
	pages := dynamodb.NewQueryPaginator(r.s.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, store.MapErr(err)
		}
		for _, av := range page.Items {
			sk, _ := av[store.AttrSK].(*types.AttributeValueMemberS)
			if sk == nil {
				continue
			}
			if sk.Value == stateSK {
				state = &stateItem{}
				if err := attributevalue.UnmarshalMap(av, state); err != nil {
					return nil, nil, fmt.Errorf("segments worker: decode state: %w", err)
				}
				continue
			}
			var m memberItem
			if err := attributevalue.UnmarshalMap(av, &m); err != nil {
				return nil, nil, fmt.Errorf("segments worker: decode membership: %w", err)
			}
			members[m.SegmentID] = m.EnteredAt
		}
	}
	return state, members, nil
}

// counters reads a contact's counters (one BatchGetItem): event times by
// counter key.
func (r repo) counters(ctx context.Context, orgID, contactID string, keys []string) (map[string][]time.Time, error) {
	out := map[string][]time.Time{}
	if len(keys) == 0 {
		return out, nil
	}
	ks := make([]store.Key, len(keys))
	for i, k := range keys {
		ks[i] = store.EventCounterKey(orgID, contactID, k)
	}
	items, err := r.s.BatchGet(ctx, ks)
	if err != nil {
		return nil, err
	}
	for _, av := range items {
		var c counterItem
		if err := attributevalue.UnmarshalMap(av, &c); err != nil {
			return nil, fmt.Errorf("segments worker: decode counter: %w", err)
		}
		times := make([]time.Time, 0, len(c.Ev))
		for _, sec := range c.Ev {
			times = append(times, time.Unix(sec, 0).UTC())
		}
		out[c.SK] = times
	}
	return out, nil
}

// recentSends reads the contact's newest 100 sends (one Query on GSI3).
func (r repo) recentSends(ctx context.Context, orgID, contactID string) ([]sendItem, error) {
	res, err := r.s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &r.s.Table,
		IndexName:                 aws.String(store.IndexGSI3),
		KeyConditionExpression:    aws.String("GSI3PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(store.SendsByContactPK(orgID, contactID))},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(100),
	})
	if err != nil {
		return nil, store.MapErr(err)
	}
	var out []sendItem
	if err := attributevalue.UnmarshalListOfMaps(res.Items, &out); err != nil {
		return nil, fmt.Errorf("segments worker: decode sends: %w", err)
	}
	return out, nil
}

// change is one membership to write: an entry (put) or an exit (delete).
type change struct {
	segmentID string
	enter     bool
}

// writeEvaluation writes an evaluation's result: the state (conditional on
// the rev read, bumped), a check that the contact is still at the version
// read, and the membership changes, in transactions of at most
// maxTxChanges changes. Each transaction is a consistent step of its own,
// so a conflict part-way leaves a state the retry starts from.
func (r repo) writeEvaluation(ctx context.Context, orgID string, c *contactItem, readRev int, state stateItem, changes []change, now time.Time) error {
	rev := readRev
	for first := true; first || len(changes) > 0; first = false {
		n := min(len(changes), maxTxChanges)
		batch := changes[:n]
		changes = changes[n:]
		state.Rev = rev + 1
		items, err := r.evaluationTx(orgID, c, rev, state, batch, now)
		if err != nil {
			return err
		}
		if err := r.s.Transact(ctx, items); err != nil {
			return err
		}
		rev++
	}
	return nil
}

func (r repo) evaluationTx(orgID string, c *contactItem, readRev int, state stateItem, batch []change, now time.Time) ([]types.TransactWriteItem, error) {
	av, err := store.Marshal(state)
	if err != nil {
		return nil, err
	}
	put := &types.Put{Item: av}
	if readRev == 0 {
		put.ConditionExpression = aws.String("attribute_not_exists(PK)")
	} else {
		put.ConditionExpression = aws.String("rev = :rev")
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":rev": num(int64(readRev))}
	}
	items := []types.TransactWriteItem{{Put: put}, {ConditionCheck: &types.ConditionCheck{
		Key:                       store.ContactKey(orgID, c.ID).KeyAV(),
		ConditionExpression:       aws.String("version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(int64(c.Version))},
	}}}
	for _, ch := range batch {
		mk, ck := store.SegmentMemberKey(orgID, ch.segmentID, c.ID), store.ContactSegmentKey(orgID, c.ID, ch.segmentID)
		if !ch.enter {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{Key: mk.KeyAV()}},
				types.TransactWriteItem{Delete: &types.Delete{Key: ck.KeyAV()}})
			continue
		}
		for _, m := range []memberItem{
			{Key: mk, Type: MemberType, OrgID: orgID, SegmentID: ch.segmentID, ContactID: c.ID, EnteredAt: now},
			{Key: ck, Type: ContactMemberType, OrgID: orgID, SegmentID: ch.segmentID, ContactID: c.ID, EnteredAt: now},
		} {
			av, err := store.Marshal(m)
			if err != nil {
				return nil, err
			}
			items = append(items, types.TransactWriteItem{Put: &types.Put{Item: av}})
		}
	}
	return items, nil
}

// removeContact deletes a deleted contact's memberships (both sides), its
// state and its counters. A stale evaluation cannot write them back: its
// transaction checks the contact's version, and the contact is gone.
func (r repo) removeContact(ctx context.Context, orgID, contactID string) error {
	var keys []store.Key
	err := r.s.QueryKeys(ctx, store.ContactSegmentsPK(orgID, contactID), "", func(ks []store.Key) error {
		for _, k := range ks {
			keys = append(keys, k)
			if seg, ok := strings.CutPrefix(k.SK, store.SegmentPrefix()); ok {
				keys = append(keys, store.SegmentMemberKey(orgID, seg, contactID))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = r.s.QueryKeys(ctx, store.EventCountersPK(orgID, contactID), "", func(ks []store.Key) error {
		keys = append(keys, ks...)
		return nil
	})
	if err != nil {
		return err
	}
	return r.s.DeleteAll(ctx, keys)
}

// addCounterEvent records one event in a counter (idempotent: the event's
// id is its key in the map) and returns the counter as it now is. The TTL
// follows the newest event; an older event does not move it back.
func (r repo) addCounterEvent(ctx context.Context, orgID, contactID, key, eventID string, at time.Time) (*counterItem, error) {
	k := store.EventCounterKey(orgID, contactID, key)
	ttl := at.Add(CounterRetention).Unix()
	names := map[string]string{"#ev": "ev", "#id": eventID, "#ttl": store.AttrTTL}
	vals := map[string]types.AttributeValue{":t": num(at.Unix()), ":ttl": num(ttl)}
	update := func(expr, cond string) (*counterItem, error) {
		res, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &r.s.Table, Key: k.KeyAV(), UpdateExpression: aws.String(expr),
			ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
			ReturnValues: types.ReturnValueAllNew,
		})
		if err != nil {
			return nil, err
		}
		var c counterItem
		if err := attributevalue.UnmarshalMap(res.Attributes, &c); err != nil {
			return nil, fmt.Errorf("segments worker: decode counter: %w", err)
		}
		return &c, nil
	}
	for range 3 {
		c, err := update("SET #ev.#id = :t, #ttl = :ttl", "attribute_exists(#ev) AND #ttl <= :ttl")
		if err == nil {
			return c, nil
		}
		if !isCondFailed(err) {
			return nil, store.MapErr(err)
		}
		delete(vals, ":ttl")
		delete(names, "#ttl")
		c, err = update("SET #ev.#id = :t", "attribute_exists(#ev)")
		if err == nil {
			return c, nil
		}
		if !isCondFailed(err) {
			return nil, store.MapErr(err)
		}
		// No counter yet: create it, unless another writer just did.
		c = &counterItem{Key: k, Type: CounterType, OrgID: orgID, ContactID: contactID, Ev: map[string]int64{eventID: at.Unix()}, TTL: ttl}
		err = r.s.PutNew(ctx, c)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, errs.ErrConflict) {
			return nil, err
		}
		names["#ttl"], vals[":ttl"] = store.AttrTTL, num(ttl)
	}
	return nil, fmt.Errorf("segments worker: counter kept changing: %w", errs.ErrConflict)
}

// mergeCounter adds events (id → unix second) to a counter, creating it if
// needed: the backfill of a build.
func (r repo) mergeCounter(ctx context.Context, orgID, contactID, key string, events map[string]int64) error {
	if len(events) == 0 {
		return nil
	}
	k := store.EventCounterKey(orgID, contactID, key)
	var newest int64
	for _, t := range events {
		newest = max(newest, t)
	}
	ttl := time.Unix(newest, 0).Add(CounterRetention).Unix()
	err := r.s.PutNew(ctx, &counterItem{Key: k, Type: CounterType, OrgID: orgID, ContactID: contactID, Ev: events, TTL: ttl})
	if err == nil || !errors.Is(err, errs.ErrConflict) {
		return err
	}
	ids := make([]string, 0, len(events))
	for id := range events {
		ids = append(ids, id)
	}
	for _, chunk := range store.Chunks(ids, maxRemoves) {
		names := map[string]string{"#ev": "ev"}
		vals := map[string]types.AttributeValue{}
		sets := make([]string, 0, len(chunk))
		for i, id := range chunk {
			names[fmt.Sprintf("#e%d", i)] = id
			vals[fmt.Sprintf(":e%d", i)] = num(events[id])
			sets = append(sets, fmt.Sprintf("#ev.#e%d = :e%d", i, i))
		}
		_, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &r.s.Table, Key: k.KeyAV(), UpdateExpression: aws.String("SET " + strings.Join(sets, ", ")),
			ConditionExpression: aws.String("attribute_exists(#ev)"), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		})
		if err != nil {
			return store.MapErr(err)
		}
	}
	return nil
}

// pruneCounter removes the given entries from a counter.
func (r repo) pruneCounter(ctx context.Context, orgID, contactID, key string, ids []string) error {
	k := store.EventCounterKey(orgID, contactID, key)
	for _, chunk := range store.Chunks(ids, maxRemoves) {
		names := map[string]string{"#ev": "ev"}
		parts := make([]string, 0, len(chunk))
		for i, id := range chunk {
			names[fmt.Sprintf("#e%d", i)] = id
			parts = append(parts, fmt.Sprintf("#ev.#e%d", i))
		}
		_, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &r.s.Table, Key: k.KeyAV(), UpdateExpression: aws.String("REMOVE " + strings.Join(parts, ", ")),
			ExpressionAttributeNames: names,
		})
		if err != nil {
			return store.MapErr(err)
		}
	}
	return nil
}

// eventsOf reads a contact's events of one name since since (GSI1, paged):
// the backfill of a build.
func (r repo) eventsOf(ctx context.Context, orgID, contactID, name string, since time.Time) ([]eventData, error) {
	in := &dynamodb.QueryInput{
		TableName:              &r.s.Table,
		IndexName:              aws.String(store.IndexGSI1),
		KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK >= :since"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(store.EventNamePK(orgID, contactID, name)),
			// Event ids are ULIDs of the event's time: the smallest id of since.
			":since": str(store.EventSK("evt_" + minULID(since))),
		},
	}
	var out []eventData
	pages := dynamodb.NewQueryPaginator(r.s.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, store.MapErr(err)
		}
		for _, av := range page.Items {
			var e struct {
				ID         string         `dynamodbav:"id"`
				Properties map[string]any `dynamodbav:"properties"`
				Timestamp  time.Time      `dynamodbav:"timestamp"`
			}
			if err := attributevalue.UnmarshalMap(av, &e); err != nil {
				return nil, fmt.Errorf("segments worker: decode event: %w", err)
			}
			out = append(out, eventData{ID: e.ID, ContactID: contactID, Name: name, Properties: e.Properties, Timestamp: e.Timestamp})
		}
	}
	return out, nil
}

// minULID is the smallest ULID of the millisecond t.
func minULID(t time.Time) string {
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(t))
	return u.String()
}

// contactsPage reads a page of the tenant's contacts after the contact id
// after ("" from the start), strongly consistent, and whether more follow.
func (r repo) contactsPage(ctx context.Context, orgID, after string, limit int) ([]contactItem, bool, error) {
	in := &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(store.OrgPK(orgID)), ":sk": str(store.ContactPrefix()),
		},
		ConsistentRead: aws.Bool(true),
	}
	var start map[string]string
	if after != "" {
		k := store.ContactKey(orgID, after)
		start = map[string]string{store.AttrPK: k.PK, store.AttrSK: k.SK}
	}
	page, err := r.s.QueryPage(ctx, in, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, false, err
	}
	var out []contactItem
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &out); err != nil {
		return nil, false, fmt.Errorf("segments worker: decode contacts: %w", err)
	}
	return out, page.Next != nil, nil
}

// contactCount is the tenant's contacts counter: a build's total estimate.
func (r repo) contactCount(ctx context.Context, orgID string) (int, error) {
	var c struct {
		Contacts int `dynamodbav:"contacts"`
	}
	err := r.s.Get(ctx, store.ContactCountKey(orgID), &c)
	if errors.Is(err, errs.ErrNotFound) {
		return 0, nil
	}
	return c.Contacts, err
}

// errStale is a build whose segment was redefined (or deleted) since it
// read it: the new definition's build takes over.
var errStale = errors.New("segments worker: the segment was redefined during its build")

// checkpoint records a build's progress, if the segment still has the
// definition being built (a rename, which bumps the version, does not
// stop a build; a new definition does: its own build takes over).
func (r repo) checkpoint(ctx context.Context, orgID, segmentID, definition string, cursor string, processed, total int) error {
	return r.updateSegment(ctx, orgID, segmentID, definition, "SET #cursor = :c, #processed = :p, #total = :t",
		map[string]types.AttributeValue{":c": str(cursor), ":p": num(int64(processed)), ":t": num(int64(total))})
}

// finish marks a build ready with its size.
func (r repo) finish(ctx context.Context, orgID, segmentID, definition string, processed, size int) error {
	return r.updateSegment(ctx, orgID, segmentID, definition, "SET #status = :ready, #size = :n, #processed = :p, #total = :p REMOVE #cursor",
		map[string]types.AttributeValue{":ready": str(StatusReady), ":n": num(int64(size)), ":p": num(int64(processed))})
}

func (r repo) updateSegment(ctx context.Context, orgID, segmentID, definition string, expr string, vals map[string]types.AttributeValue) error {
	vals[":def"] = str(definition)
	vals[":building"] = str(StatusBuilding)
	names := map[string]string{"#definition": "definition", "#status": "status"}
	for _, n := range []string{"cursor", "processed", "total", "size"} {
		if strings.Contains(expr, "#"+n) {
			names["#"+n] = n
		}
	}
	_, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &r.s.Table, Key: store.SegmentKey(orgID, segmentID).KeyAV(), UpdateExpression: aws.String(expr),
		ConditionExpression:      aws.String("#definition = :def AND #status = :building"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	})
	if isCondFailed(err) {
		return errStale
	}
	return store.MapErr(err)
}

// memberCount counts a segment's members (Select COUNT, paged).
func (r repo) memberCount(ctx context.Context, orgID, segmentID string) (int, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &r.s.Table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(store.SegmentMembersPK(orgID, segmentID))},
		Select:                    types.SelectCount,
		ConsistentRead:            aws.Bool(true),
	}
	n := 0
	pages := dynamodb.NewQueryPaginator(r.s.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return 0, store.MapErr(err)
		}
		n += int(page.Count)
	}
	return n, nil
}

// purgePage deletes up to one page of a deleted segment's members and
// their mirrors, and says whether members remain.
func (r repo) purgePage(ctx context.Context, orgID, segmentID string, limit int) (bool, error) {
	in := &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(store.SegmentMembersPK(orgID, segmentID))},
		ProjectionExpression:      aws.String("PK, SK"),
	}
	page, err := r.s.QueryPage(ctx, in, limit, nil, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return false, err
	}
	keys := make([]store.Key, 0, 2*len(page.Items))
	for _, av := range page.Items {
		var k store.Key
		if err := attributevalue.UnmarshalMap(av, &k); err != nil {
			return false, fmt.Errorf("segments worker: decode member key: %w", err)
		}
		cid, _ := strings.CutPrefix(k.SK, store.ContactPrefix())
		keys = append(keys, k, store.ContactSegmentKey(orgID, cid, segmentID))
	}
	if err := r.s.DeleteAll(ctx, keys); err != nil {
		return false, err
	}
	return page.Next != nil, nil
}

// isCondFailed reports a failed ConditionExpression of a single-item call.
func isCondFailed(err error) bool {
	var cc *types.ConditionalCheckFailedException
	return errors.As(err, &cc)
}
