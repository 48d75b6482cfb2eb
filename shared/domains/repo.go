package domains

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/store"
)

// repo is where the domains group speaks DynamoDB. Its errors are the
// store's mapped ones (errs.ErrNotFound, errs.ErrConflict,
// *errs.Unavailable) or the sentinels below.
type repo struct{ s *store.Store }

// Outcomes of the conditional writes, for the service to word.
var (
	errNameClaimed = errors.New("domains: domain name already claimed")
	errGone        = errors.New("domains: domain already deleted")
)

// create writes a new domain and its name's global claim in one
// transaction: errNameClaimed when the name has a claim.
func (r repo) create(ctx context.Context, it item) error {
	claim := claimItem{Key: store.DomainClaimKey(it.Name), OrgID: it.OrgID, DomainID: it.ID}
	tx := make([]types.TransactWriteItem, 0, 2)
	for _, v := range []any{it, claim} {
		av, err := store.Marshal(v)
		if err != nil {
			return err
		}
		tx = append(tx, types.TransactWriteItem{Put: &types.Put{Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}})
	}
	err := r.s.Transact(ctx, tx)
	var tc *store.TxCanceled
	if errors.As(err, &tc) && tc.FailedAt(1) {
		return errNameClaimed
	}
	return err
}

// claim reads a name's claim, consistently: it is read right after a
// transaction found it.
func (r repo) claim(ctx context.Context, name string) (claimItem, error) {
	var c claimItem
	return c, r.s.GetConsistent(ctx, store.DomainClaimKey(name), &c)
}

// get reads one domain of a tenant.
func (r repo) get(ctx context.Context, orgID, id string) (item, error) {
	var it item
	return it, r.s.Get(ctx, store.DomainKey(orgID, id), &it)
}

// list reads one page of a tenant's domains, newest first.
func (r repo) list(ctx context.Context, orgID string, limit int, start map[string]string) ([]item, map[string]string, error) {
	page, err := r.s.QueryPage(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.OrgPK(orgID)},
			":sk": &types.AttributeValueMemberS{Value: store.DomainPrefix()},
		},
		ScanIndexForward: aws.Bool(false),
	}, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	items := make([]item, 0, len(page.Items))
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("domains: decode domains: %w", err)
	}
	return items, page.Next, nil
}

// save replaces a domain read at version with it (which carries the next
// version): errs.ErrConflict when it changed or was deleted since.
func (r repo) save(ctx context.Context, it item, version int) error {
	return r.s.PutIfVersion(ctx, it, version)
}

// remove deletes a domain and its name's claim in one transaction:
// errGone when the domain is already deleted. The claim is deleted only if
// it still names this domain.
func (r repo) remove(ctx context.Context, it item) error {
	err := r.s.Transact(ctx, []types.TransactWriteItem{
		{Delete: &types.Delete{Key: store.DomainKey(it.OrgID, it.ID).KeyAV(), ConditionExpression: aws.String("attribute_exists(PK)")}},
		{Delete: &types.Delete{
			Key:                      store.DomainClaimKey(it.Name).KeyAV(),
			ConditionExpression:      aws.String("attribute_not_exists(PK) OR (#org = :org AND #dom = :dom)"),
			ExpressionAttributeNames: map[string]string{"#org": "orgId", "#dom": "domainId"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":org": &types.AttributeValueMemberS{Value: it.OrgID},
				":dom": &types.AttributeValueMemberS{Value: it.ID},
			},
		}},
	})
	var tc *store.TxCanceled
	if errors.As(err, &tc) && tc.FailedAt(0) {
		return errGone
	}
	return err
}
