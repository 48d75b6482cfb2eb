package authn

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/store"
)

// repo is where authentication speaks DynamoDB: the key-hash lookup, the
// organisation's plan, and when a key was last used. Its errors are the
// store's mapped ones (errs.ErrNotFound, errs.ErrConflict, *errs.Unavailable).
type repo struct{ s *store.Store }

// keyByHash reads the lookup of an API key's hash.
func (r repo) keyByHash(ctx context.Context, hash string) (KeyHashItem, error) {
	var it KeyHashItem
	return it, r.s.Get(ctx, store.KeyHashKey(hash), &it)
}

// orgPlan reads the plan of an organisation.
func (r repo) orgPlan(ctx context.Context, orgID string) (string, error) {
	var org orgPlan
	if err := r.s.Get(ctx, store.OrgKey(orgID), &org); err != nil {
		return "", err
	}
	return org.Plan, nil
}

// touchKey records when a key was used, if its record still exists
// (errs.ErrConflict when it does not: the key was revoked).
func (r repo) touchKey(ctx context.Context, orgID, keyID string, now time.Time) error {
	_, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &r.s.Table,
		Key:                       store.APIKeyKey(orgID, keyID).KeyAV(),
		UpdateExpression:          aws.String("SET #used = :now"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames:  map[string]string{"#used": attrLastUsedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberS{Value: now.Format(time.RFC3339Nano)}},
	})
	if err = store.MapErr(err); err != nil {
		return fmt.Errorf("authn: record key use: %w", err)
	}
	return nil
}

// attrLastUsedAt is when an API key was last used (the auth group's
// apiKeyItem reads it).
const attrLastUsedAt = "lastUsedAt"
