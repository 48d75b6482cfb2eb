package automation

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// repo is where the sequences API speaks DynamoDB. Its errors are the
// store's mapped ones (errs.ErrNotFound, errs.ErrConflict, *store.TxCanceled,
// *errs.Unavailable).
type repo struct{ s *store.Store }

// sequence reads one of a tenant's sequences.
func (r repo) sequence(ctx context.Context, orgID, id string, consistent bool) (*journey.Sequence, error) {
	var seq journey.Sequence
	read := r.s.Get
	if consistent {
		read = r.s.GetConsistent
	}
	if err := read(ctx, store.SequenceKey(orgID, id), &seq); err != nil {
		return nil, err
	}
	return &seq, nil
}

// revIs is the condition that the stored sequence is still at rev.
func revIs(rev int) (string, map[string]string, map[string]types.AttributeValue) {
	return "#rev = :rev", map[string]string{"#rev": "rev"}, map[string]types.AttributeValue{":rev": num(rev)}
}

func putOp(item any, cond string, names map[string]string, vals map[string]types.AttributeValue) (types.TransactWriteItem, error) {
	av, err := store.Marshal(item)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	p := &types.Put{Item: av, ExpressionAttributeNames: names, ExpressionAttributeValues: vals}
	if cond != "" {
		p.ConditionExpression = aws.String(cond)
	}
	return types.TransactWriteItem{Put: p}, nil
}

// write writes seq (new when oldRev is 0, else conditional on the stored
// one still being at oldRev), with ver when not nil, and puts trg or
// deletes the trigger (dropTrigger), in one transaction. ErrConflict when
// another write came first.
func (r repo) write(ctx context.Context, seq *journey.Sequence, oldRev int, ver *journey.Version, trg *journey.Trigger, dropTrigger bool) error {
	cond, names, vals := "attribute_not_exists(PK)", map[string]string(nil), map[string]types.AttributeValue(nil)
	if oldRev > 0 {
		cond, names, vals = revIs(oldRev)
	}
	op, err := putOp(seq, cond, names, vals)
	if err != nil {
		return err
	}
	ops := []types.TransactWriteItem{op}
	if ver != nil {
		// Unconditional: a version left behind by an earlier generation of
		// the id (a delete cut short) is overwritten; the sequence's
		// condition is what orders the writers.
		op, err := putOp(ver, "", nil, nil)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	switch {
	case trg != nil:
		op, err := putOp(trg, "", nil, nil)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	case dropTrigger:
		ops = append(ops, types.TransactWriteItem{Delete: &types.Delete{Key: store.SequenceTriggerKey(seq.OrgID, seq.ID).KeyAV()}})
	}
	return r.s.Transact(ctx, ops)
}

// remove deletes a sequence read at rev and its trigger, in one transaction.
func (r repo) remove(ctx context.Context, seq *journey.Sequence) error {
	cond, names, vals := revIs(seq.Rev)
	return r.s.Transact(ctx, []types.TransactWriteItem{
		{Delete: &types.Delete{Key: store.SequenceKey(seq.OrgID, seq.ID).KeyAV(), ConditionExpression: aws.String(cond),
			ExpressionAttributeNames: names, ExpressionAttributeValues: vals}},
		{Delete: &types.Delete{Key: store.SequenceTriggerKey(seq.OrgID, seq.ID).KeyAV()}},
	})
}

// purge deletes a sequence's versions and counter shards.
func (r repo) purge(ctx context.Context, orgID, id string) error {
	del := func(keys []store.Key) error { return r.s.DeleteAll(ctx, keys) }
	if err := r.s.QueryKeys(ctx, store.SequenceVersionsPK(orgID, id), "", del); err != nil {
		return err
	}
	return r.s.QueryKeys(ctx, store.SequenceStatsPK(orgID, id), "", del)
}

// existing reads which of keys name an item (one BatchGetItem per hundred).
func (r repo) existing(ctx context.Context, keys []store.Key) (map[store.Key]bool, error) {
	out := map[store.Key]bool{}
	if len(keys) == 0 {
		return out, nil
	}
	items, err := r.s.BatchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		var k store.Key
		if err := attributevalue.UnmarshalMap(it, &k); err != nil {
			return nil, fmt.Errorf("automation: decode key: %w", err)
		}
		out[k] = true
	}
	return out, nil
}

// list reads one page of a tenant's sequences in id order, filtered by
// status and campaign ("" for any).
func (r repo) list(ctx context.Context, orgID, status, campaignID string, limit int, start map[string]string) ([]journey.Sequence, map[string]string, error) {
	in := &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(store.OrgPK(orgID)),
			":sk": str(store.SequencePrefix()),
		},
	}
	var filter []string
	names := map[string]string{}
	if status != "" {
		filter = append(filter, "#st = :st")
		names["#st"] = "status"
		in.ExpressionAttributeValues[":st"] = str(status)
	}
	if campaignID != "" {
		filter = append(filter, "#cmp = :cmp")
		names["#cmp"] = "campaignId"
		in.ExpressionAttributeValues[":cmp"] = str(campaignID)
	}
	if len(filter) > 0 {
		expr := filter[0]
		for _, f := range filter[1:] {
			expr += " AND " + f
		}
		in.FilterExpression, in.ExpressionAttributeNames = aws.String(expr), names
	}
	page, err := r.s.QueryPage(ctx, in, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	items := make([]journey.Sequence, 0, len(page.Items))
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("automation: decode sequences: %w", err)
	}
	return items, page.Next, nil
}

// version reads version n of a sequence.
func (r repo) version(ctx context.Context, orgID, id string, n int) (*journey.Version, error) {
	var v journey.Version
	if err := r.s.Get(ctx, store.SequenceVersionKey(orgID, id, n), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// versions reads one page of a sequence's versions 1 to upTo (its current
// one), newest first: a version above it is a leftover of an earlier
// generation of the id, never shown.
func (r repo) versions(ctx context.Context, orgID, id string, upTo, limit int, start map[string]string) ([]journey.Version, map[string]string, error) {
	page, err := r.s.QueryPage(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(store.SequenceVersionsPK(orgID, id)),
			":lo": str(store.SequenceVersionKey(orgID, id, 1).SK),
			":hi": str(store.SequenceVersionKey(orgID, id, upTo).SK),
		},
		ScanIndexForward: aws.Bool(false),
	}, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	items := make([]journey.Version, 0, len(page.Items))
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("automation: decode versions: %w", err)
	}
	return items, page.Next, nil
}

// enrollment reads one enrollment.
func (r repo) enrollment(ctx context.Context, orgID, id string, consistent bool) (*journey.Enrollment, error) {
	var e journey.Enrollment
	read := r.s.Get
	if consistent {
		read = r.s.GetConsistent
	}
	if err := read(ctx, store.EnrollmentKey(orgID, id), &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// enrollmentIndex is where a list of enrollments reads: its index, its
// key attributes and the partition.
type enrollmentIndex struct {
	index, pkAttr, skAttr, pk string
}

func sequenceEnrollments(orgID, sequenceID, status string) enrollmentIndex {
	if status == "" {
		return enrollmentIndex{store.IndexGSI1, store.AttrGSI1PK, store.AttrGSI1SK, store.SequenceEnrollmentsPK(orgID, sequenceID)}
	}
	return enrollmentIndex{store.IndexGSI2, store.AttrGSI2PK, store.AttrGSI2SK, store.SequenceEnrollmentsByStatusPK(orgID, sequenceID, status)}
}

func contactEnrollments(orgID, contactID string) enrollmentIndex {
	return enrollmentIndex{store.IndexGSI3, store.AttrGSI3PK, store.AttrGSI3SK, store.ContactEnrollmentsPK(orgID, contactID)}
}

// enrollments reads one page of an enrollment index, newest first (ids are
// ULIDs of their trigger's time). generation, when set, keeps only that
// generation's (a sequence deleted and made again under its id).
func (r repo) enrollments(ctx context.Context, ix enrollmentIndex, generation string, limit int, start map[string]string) ([]journey.Enrollment, map[string]string, error) {
	in := &dynamodb.QueryInput{
		IndexName:                 aws.String(ix.index),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": ix.pkAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(ix.pk)},
		ScanIndexForward:          aws.Bool(false),
	}
	if generation != "" {
		in.FilterExpression = aws.String("#gen = :gen")
		in.ExpressionAttributeNames["#gen"] = "generation"
		in.ExpressionAttributeValues[":gen"] = str(generation)
	}
	page, err := r.s.QueryPage(ctx, in, limit, start, []string{store.AttrPK, store.AttrSK, ix.pkAttr, ix.skAttr})
	if err != nil {
		return nil, nil, err
	}
	items := make([]journey.Enrollment, 0, len(page.Items))
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("automation: decode enrollments: %w", err)
	}
	return items, page.Next, nil
}

// hasActive reads whether a sequence has an active enrollment (a Query of
// one item of its active enrollments).
func (r repo) hasActive(ctx context.Context, orgID, sequenceID string) (bool, error) {
	out, err := r.s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &r.s.Table,
		IndexName:                 aws.String(store.IndexGSI2),
		KeyConditionExpression:    aws.String("GSI2PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(store.SequenceEnrollmentsByStatusPK(orgID, sequenceID, journey.EnrActive))},
		ProjectionExpression:      aws.String("PK"),
		Limit:                     aws.Int32(1),
	})
	if err != nil {
		return false, store.MapErr(err)
	}
	return len(out.Items) > 0, nil
}

// contactExists reads whether the tenant has the contact.
func (r repo) contactExists(ctx context.Context, orgID, contactID string) (bool, error) {
	var k store.Key
	err := r.s.Get(ctx, store.ContactKey(orgID, contactID), &k)
	if errors.Is(err, errs.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// contactByEmail reads the id of the tenant's contact with a (normalised)
// email: errs.ErrNotFound when none.
func (r repo) contactByEmail(ctx context.Context, orgID, email string) (string, error) {
	var l struct {
		ContactID string `dynamodbav:"contactId"`
	}
	if err := r.s.Get(ctx, store.ContactEmailKey(orgID, email), &l); err != nil {
		return "", err
	}
	if l.ContactID == "" {
		return "", errs.ErrNotFound
	}
	return l.ContactID, nil
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int) types.AttributeValue { return &types.AttributeValueMemberN{Value: strconv.Itoa(n)} }
