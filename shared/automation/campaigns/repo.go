package campaigns

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

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// This file is where the campaigns group speaks DynamoDB. Campaigns and
// broadcasts are items of the tenant's partition (store.CampaignKey,
// store.BroadcastKey); a broadcast's fan-out checkpoint is on its item, one
// conditional UpdateItem per page. Lists are Queries of the partition by
// sort-key prefix; their filters (status, campaignId) are filter
// expressions, so a filtered page may read more than limit+1 items.

// repo reads and writes the campaigns group's items.
type repo struct{ st *store.Store }

// Attribute names the conditions and updates use.
const (
	attrStatus     = journey.AttrStatus
	attrRev        = journey.AttrRev
	attrUpdatedAt  = journey.AttrUpdatedAt
	attrCampaignID = "campaignId"
)

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(n)} }
func when(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: t.UTC().Format(time.RFC3339Nano)}
}

// campaign reads a campaign consistently; errs.ErrNotFound when absent.
func (r repo) campaign(ctx context.Context, orgID, id string) (*journey.Campaign, error) {
	var c journey.Campaign
	if err := r.st.GetConsistent(ctx, store.CampaignKey(orgID, id), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// putCampaign writes c: a new one (prev nil; its id was just made, so no
// other writer has it and the write is unconditional: the SDK's retry of a
// write whose answer was lost is not a conflict), or a change of prev on
// prev's updatedAt still being the stored one.
func (r repo) putCampaign(ctx context.Context, c *journey.Campaign, prev *journey.Campaign) error {
	if prev == nil {
		return r.st.Put(ctx, c)
	}
	av, err := store.Marshal(c)
	if err != nil {
		return err
	}
	_, err = r.st.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &r.st.Table, Item: av,
		ConditionExpression:       aws.String("#up = :old"),
		ExpressionAttributeNames:  map[string]string{"#up": attrUpdatedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":old": when(prev.UpdatedAt)},
	})
	return store.MapErr(err)
}

// deleteCampaign deletes a campaign read at updatedAt.
func (r repo) deleteCampaign(ctx context.Context, c *journey.Campaign) error {
	_, err := r.st.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &r.st.Table, Key: c.Key.KeyAV(),
		ConditionExpression:       aws.String("#up = :old"),
		ExpressionAttributeNames:  map[string]string{"#up": attrUpdatedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":old": when(c.UpdatedAt)},
	})
	return store.MapErr(err)
}

// page reads one page of the tenant's items of a sort-key prefix, newest
// first (ids are ULIDs), keeping those whose attributes equal filters.
func (r repo) page(ctx context.Context, orgID, prefix string, filters map[string]string, limit int, start map[string]string, out any) (map[string]string, error) {
	in := &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(store.OrgPK(orgID)), ":sk": str(prefix)},
		ScanIndexForward:          aws.Bool(false),
	}
	addFilters(in, filters)
	page, err := r.st.QueryPage(ctx, in, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, err
	}
	if err := attributevalue.UnmarshalListOfMaps(page.Items, out); err != nil {
		return nil, fmt.Errorf("campaigns: decode %s items: %w", prefix, err)
	}
	return page.Next, nil
}

func addFilters(in *dynamodb.QueryInput, filters map[string]string) {
	expr, i := "", 0
	for attr, v := range filters {
		if v == "" {
			continue
		}
		if in.ExpressionAttributeNames == nil {
			in.ExpressionAttributeNames = map[string]string{}
		}
		n, p := "#f"+strconv.Itoa(i), ":f"+strconv.Itoa(i)
		in.ExpressionAttributeNames[n], in.ExpressionAttributeValues[p] = attr, str(v)
		if expr != "" {
			expr += " AND "
		}
		expr += n + " = " + p
		i++
	}
	if expr != "" {
		in.FilterExpression = &expr
	}
}

// memberRef is the part of a sequence, broadcast or template a campaign reads.
type memberRef struct {
	ID string `dynamodbav:"id"`
}

// members reads the ids of the tenant's items of a sort-key prefix whose
// campaignId is campaignID: one Query per MB of the tenant's items of that
// kind (the filter is applied after the read; a template's head carries its
// latest version's content, so templates are read a few dozen per MB).
func (r repo) members(ctx context.Context, orgID, prefix, campaignID string) ([]string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &r.st.Table,
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :sk)"),
		FilterExpression:          aws.String("#c = :c"),
		ProjectionExpression:      aws.String("#id"),
		ExpressionAttributeNames:  map[string]string{"#c": attrCampaignID, "#id": "id"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(store.OrgPK(orgID)), ":sk": str(prefix), ":c": str(campaignID)},
		ConsistentRead:            aws.Bool(true),
	}
	var out []string
	pages := dynamodb.NewQueryPaginator(r.st.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, store.MapErr(err)
		}
		var refs []memberRef
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &refs); err != nil {
			return nil, fmt.Errorf("campaigns: decode members: %w", err)
		}
		for _, m := range refs {
			out = append(out, m.ID)
		}
	}
	return out, nil
}

// broadcast reads a broadcast consistently; errs.ErrNotFound when absent.
func (r repo) broadcast(ctx context.Context, orgID, id string) (*journey.Broadcast, error) {
	var b journey.Broadcast
	if err := r.st.GetConsistent(ctx, store.BroadcastKey(orgID, id), &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// errCampaignGone: the campaign a broadcast names is absent or archived.
var errCampaignGone = errors.New("campaigns: the campaign is gone or archived")

// createBroadcast writes a new broadcast and, when it names a campaign,
// checks in the same transaction that the campaign exists and is active.
func (r repo) createBroadcast(ctx context.Context, b *journey.Broadcast) error {
	av, err := store.Marshal(b)
	if err != nil {
		return err
	}
	ops := []types.TransactWriteItem{{Put: &types.Put{Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}}}
	if b.CampaignID != "" {
		ops = append(ops, campaignCheck(b.OrgID, b.CampaignID))
	}
	return r.transact(ctx, ops)
}

func campaignCheck(orgID, campaignID string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		Key:                       store.CampaignKey(orgID, campaignID).KeyAV(),
		ConditionExpression:       aws.String("#st = :active"),
		ExpressionAttributeNames:  map[string]string{"#st": attrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":active": str(journey.CampaignActive)},
	}}
}

// transact runs ops, whose item 0 is the broadcast and item 1, if any, the
// campaign check: errCampaignGone when the check failed, errs.ErrConflict
// when the broadcast's condition did.
func (r repo) transact(ctx context.Context, ops []types.TransactWriteItem) error {
	err := r.st.Transact(ctx, ops)
	var tc *store.TxCanceled
	if errors.As(err, &tc) && len(ops) > 1 && tc.FailedAt(1) {
		return errCampaignGone
	}
	return err
}

// replaceDraft writes b over a draft read at rev (b carries the next rev),
// checking its new campaign when it names one; errs.ErrConflict when the
// broadcast changed or is no longer a draft.
func (r repo) replaceDraft(ctx context.Context, b *journey.Broadcast, rev int, checkCampaign bool) error {
	av, err := store.Marshal(b)
	if err != nil {
		return err
	}
	ops := []types.TransactWriteItem{{Put: &types.Put{Item: av,
		ConditionExpression:       aws.String("#rev = :rev AND #st = :draft"),
		ExpressionAttributeNames:  map[string]string{"#rev": attrRev, "#st": attrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":rev": num(rev), ":draft": str(journey.BcDraft)},
	}}}
	if checkCampaign && b.CampaignID != "" {
		ops = append(ops, campaignCheck(b.OrgID, b.CampaignID))
	}
	return r.transact(ctx, ops)
}

// deleteBroadcast deletes a broadcast on its rev and status still being
// the ones read.
func (r repo) deleteBroadcast(ctx context.Context, b *journey.Broadcast) error {
	_, err := r.st.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &r.st.Table, Key: b.Key.KeyAV(),
		ConditionExpression:       aws.String("#rev = :rev AND #st = :st"),
		ExpressionAttributeNames:  map[string]string{"#rev": attrRev, "#st": attrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":rev": num(b.Rev), ":st": str(b.Status)},
	})
	return store.MapErr(err)
}

// cancelBroadcast moves a scheduled or sending broadcast to cancelled
// (journey.CancelBroadcast); errs.ErrConflict when it is neither.
func (r repo) cancelBroadcast(ctx context.Context, orgID, id string, now time.Time) error {
	return journey.CancelBroadcast(ctx, r.st, orgID, id, now)
}

// exists reads whether an item is at k (1 GetItem of its key only).
func (r repo) exists(ctx context.Context, k store.Key) (bool, error) {
	var got store.Key
	err := r.st.Get(ctx, k, &got)
	if errors.Is(err, errs.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// segmentState is the part of a segment a broadcast checks.
type segmentState struct {
	Status string `dynamodbav:"status"`
}

// segment reads a segment's build status; errs.ErrNotFound when absent.
func (r repo) segment(ctx context.Context, orgID, id string) (segmentState, error) {
	var s segmentState
	return s, r.st.Get(ctx, store.SegmentKey(orgID, id), &s)
}

// domainVerified says whether domain is a verified sending domain of the
// tenant (journey.DomainVerified).
func (r repo) domainVerified(ctx context.Context, orgID, domain string) (bool, error) {
	return journey.DomainVerified(ctx, r.st, orgID, domain)
}
