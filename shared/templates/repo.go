package templates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/templates/stored"
)

// This file is the one place the templates group speaks DynamoDB. A
// template is its head (store.TemplateKey, in the tenant's partition, with
// the latest version's content so a GET is one read) and its versions
// (store.TemplateVersionKey, a partition per template). A new version is
// one transaction: the head on the version it was read at (or on its
// absence), the new version on its absence, and the deletes of the oldest
// versions beyond the plan's quota.

// errStale: the head is not as the write expected (another PUT made a
// version meanwhile, or the template was created or deleted meanwhile).
var errStale = errs.NewConflict("The template was changed by a concurrent request; retry.")

// errVersionTaken: the new version's item already exists, which happens
// only while a deleted template's versions are still being deleted.
var errVersionTaken = errs.NewConflict("The template is being deleted; retry.")

// repo reads and writes the templates group's items.
type repo struct{ st *store.Store }

// head reads a template's head; errs.ErrNotFound when it does not exist.
func (r *repo) head(ctx context.Context, orgID, id string, consistent bool) (*HeadItem, error) {
	var h HeadItem
	read := r.st.Get
	if consistent {
		read = r.st.GetConsistent
	}
	if err := read(ctx, store.TemplateKey(orgID, id), &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// version reads version n of a template; errs.ErrNotFound when it does not
// exist (or was pruned).
func (r *repo) version(ctx context.Context, orgID, id string, n int) (*VersionItem, error) {
	var v VersionItem
	if err := r.st.Get(ctx, store.TemplateVersionKey(orgID, id, n), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// write makes h's latest version: it writes the head h (the next version of
// old; old nil for a new template) and its version item, and deletes the
// versions prune names, in one transaction. Up to maxTxItems-2 deletes go in
// the transaction (a plan's quota is normally the same from one version to
// the next, so that is one); more (after a plan downgrade) are deleted
// right after it, best effort, and a failure there is logged: the template
// delete removes whatever is left.
func (r *repo) write(ctx context.Context, old, h *HeadItem, prune []int) error {
	headCond, names, vals := "attribute_not_exists(PK)", map[string]string(nil), map[string]types.AttributeValue(nil)
	if old != nil {
		headCond, names = "#v = :v", map[string]string{"#v": store.AttrVersion}
		vals = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(old.Version)}}
	}
	head, err := put(h, headCond, names, vals)
	if err != nil {
		return err
	}
	v := VersionItem{Key: store.TemplateVersionKey(h.OrgID, h.ID, h.Version), Type: VersionType, OrgID: h.OrgID, TemplateID: h.ID, Version: h.Version, Content: h.Content}
	ver, err := put(v, "attribute_not_exists(PK)", nil, nil)
	if err != nil {
		return err
	}
	ops := []types.TransactWriteItem{head, ver}
	inTx := min(len(prune), maxTxItems-len(ops))
	for _, n := range prune[:inTx] {
		ops = append(ops, types.TransactWriteItem{Delete: &types.Delete{Key: store.TemplateVersionKey(h.OrgID, h.ID, n).KeyAV()}})
	}
	err = r.st.Transact(ctx, ops)
	var tx *store.TxCanceled
	switch {
	case errors.As(err, &tx) && tx.FailedAt(0):
		return errStale
	case errors.As(err, &tx) && tx.FailedAt(1):
		return errVersionTaken
	case err != nil:
		return err
	}
	if rest := prune[inTx:]; len(rest) > 0 {
		keys := make([]store.Key, len(rest))
		for i, n := range rest {
			keys[i] = store.TemplateVersionKey(h.OrgID, h.ID, n)
		}
		if err := r.st.DeleteAll(ctx, keys); err != nil {
			slog.WarnContext(ctx, "templates: pruning old versions failed", "left", len(keys), "error", err.Error())
		}
	}
	return nil
}

// setCampaign writes the campaign and updatedAt of h, a head whose content
// is unchanged, on its version still being h's (errStale otherwise): one
// UpdateItem, no version. An empty CampaignID removes the attribute.
func (r *repo) setCampaign(ctx context.Context, h *HeadItem) error {
	updated, err := attributevalue.Marshal(h.UpdatedAt)
	if err != nil {
		return err
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                &r.st.Table,
		Key:                      store.TemplateKey(h.OrgID, h.ID).KeyAV(),
		ConditionExpression:      aws.String("#v = :v"),
		UpdateExpression:         aws.String("SET #up = :up REMOVE #c"),
		ExpressionAttributeNames: map[string]string{"#v": store.AttrVersion, "#up": "updatedAt", "#c": attrCampaignID},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":v":  &types.AttributeValueMemberN{Value: strconv.Itoa(h.Version)},
			":up": updated,
		},
	}
	if h.CampaignID != "" {
		in.UpdateExpression = aws.String("SET #up = :up, #c = :c")
		in.ExpressionAttributeValues[":c"] = &types.AttributeValueMemberS{Value: h.CampaignID}
	}
	_, err = r.st.DB.UpdateItem(ctx, in)
	if err = store.MapErr(err); errors.Is(err, errs.ErrConflict) {
		return errStale
	}
	return err
}

// campaignExists says whether the organisation has the campaign: one
// GetItem of store.CampaignKey, reading its key only (the templates group
// links nothing of the automation group, which owns campaigns).
func (r *repo) campaignExists(ctx context.Context, orgID, campaignID string) (bool, error) {
	var k store.Key
	err := r.st.Get(ctx, store.CampaignKey(orgID, campaignID), &k)
	if errors.Is(err, errs.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// remove deletes a template's head, then every item of its versions'
// partition, a page of keys at a time (at most the plan's quota of
// versions, so a few BatchWriteItems). The head goes first: a concurrent
// PUT then starts a new template whose version 1 waits (errVersionTaken)
// until the old version 1 is gone, and the deletes never reach a version
// written after them, since keys are read in order and each deleted once.
func (r *repo) remove(ctx context.Context, orgID, id string) error {
	if err := r.st.Delete(ctx, store.TemplateKey(orgID, id)); err != nil {
		return err
	}
	return r.st.QueryKeys(ctx, store.TemplateVersionsPK(orgID, id), store.TemplateVersionPrefix(), func(keys []store.Key) error {
		return r.st.DeleteAll(ctx, keys)
	})
}

// attrCampaignID is the head's campaign attribute (HeadItem.CampaignID).
const attrCampaignID = "campaignId"

// Attributes a list reads: no bodies.
var (
	summaryAttrs        = "PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK, id, #name, subject, #version, #campaign, createdAt, updatedAt"
	versionSummaryAttrs = "PK, SK, #name, subject, #version, versionCreatedAt"
)

// list reads a page of a tenant's templates, with one Query on a sparse
// index: GSI1 newest first (by creation), or, with a name prefix (lower
// case), GSI2 in name order. With a campaign, a filter expression keeps
// that campaign's templates: the Query still reads the others (its page
// goes on until it has limit+1 of them or the index ends), which the
// indexes' projection of every attribute allows without another index.
func (r *repo) list(ctx context.Context, orgID, prefix, campaignID string, limit int, start map[string]string) ([]HeadItem, map[string]string, error) {
	in := &dynamodb.QueryInput{
		IndexName:                aws.String(store.IndexGSI1),
		ScanIndexForward:         aws.Bool(false),
		KeyConditionExpression:   aws.String(store.AttrGSI1PK + " = :pk"),
		ExpressionAttributeNames: map[string]string{"#name": "name", "#version": store.AttrVersion, "#campaign": attrCampaignID},
		ProjectionExpression:     aws.String(summaryAttrs),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.TemplatesByCreationPK(orgID)},
		},
	}
	keyAttrs := []string{store.AttrPK, store.AttrSK, store.AttrGSI1PK, store.AttrGSI1SK}
	if prefix != "" {
		in.IndexName, in.ScanIndexForward = aws.String(store.IndexGSI2), aws.Bool(true)
		in.KeyConditionExpression = aws.String(store.AttrGSI2PK + " = :pk AND begins_with(" + store.AttrGSI2SK + ", :prefix)")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":pk":     &types.AttributeValueMemberS{Value: store.TemplatesByNamePK(orgID)},
			":prefix": &types.AttributeValueMemberS{Value: prefix},
		}
		keyAttrs = []string{store.AttrPK, store.AttrSK, store.AttrGSI2PK, store.AttrGSI2SK}
	}
	if campaignID != "" {
		in.FilterExpression = aws.String("#campaign = :campaign")
		in.ExpressionAttributeValues[":campaign"] = &types.AttributeValueMemberS{Value: campaignID}
	}
	page, err := r.st.QueryPage(ctx, in, limit, start, keyAttrs)
	if err != nil {
		return nil, nil, err
	}
	var items []HeadItem
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("templates: decode: %w", err)
	}
	return items, page.Next, nil
}

// versions reads a page of a template's versions, newest first, with one
// Query on its versions' partition.
func (r *repo) versions(ctx context.Context, orgID, id string, limit int, start map[string]string) ([]VersionItem, map[string]string, error) {
	in := &dynamodb.QueryInput{
		ScanIndexForward:         aws.Bool(false),
		KeyConditionExpression:   aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeNames: map[string]string{"#name": "name", "#version": store.AttrVersion},
		ProjectionExpression:     aws.String(versionSummaryAttrs),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.TemplateVersionsPK(orgID, id)},
			":sk": &types.AttributeValueMemberS{Value: store.TemplateVersionPrefix()},
		},
	}
	page, err := r.st.QueryPage(ctx, in, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	var items []VersionItem
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("templates: decode versions: %w", err)
	}
	return items, page.Next, nil
}

// contact reads a contact of the tenant; errs.ErrNotFound when it has none
// with that id.
func (r *repo) contact(ctx context.Context, orgID, contactID string) (*stored.Contact, error) {
	var c stored.Contact
	if err := r.st.Get(ctx, store.ContactKey(orgID, contactID), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// put is the transaction item that writes item on condition cond.
func put(item any, cond string, names map[string]string, vals map[string]types.AttributeValue) (types.TransactWriteItem, error) {
	av, err := store.Marshal(item)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{Item: av, ConditionExpression: &cond, ExpressionAttributeNames: names, ExpressionAttributeValues: vals}}, nil
}
