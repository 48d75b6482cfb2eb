package tracking

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/store"
)

// repo is the one place the events group speaks DynamoDB: an event is one
// item in its contact's events partition (store.EventsPK), listed by name
// through GSI1 (store.EventNamePK).
type repo struct{ st *store.Store }

// put writes one event.
func (r *repo) put(ctx context.Context, it *Item) error {
	if err := r.st.Put(ctx, it); err != nil {
		return fmt.Errorf("tracking: put event: %w", err)
	}
	return nil
}

// list reads a page of a contact's events, newest first, optionally of one
// name: one Query of at most limit+1 items.
func (r *repo) list(ctx context.Context, orgID, contactID, name string, limit int, start map[string]string) ([]Item, map[string]string, error) {
	pk, pkAttr, skAttr := store.EventsPK(orgID, contactID), store.AttrPK, store.AttrSK
	keyAttrs := []string{store.AttrPK, store.AttrSK}
	in := &dynamodb.QueryInput{ScanIndexForward: aws.Bool(false)}
	if name != "" {
		in.IndexName = aws.String(store.IndexGSI1)
		pk, pkAttr, skAttr = store.EventNamePK(orgID, contactID, name), store.AttrGSI1PK, store.AttrGSI1SK
		keyAttrs = append(keyAttrs, pkAttr, skAttr)
	}
	in.KeyConditionExpression = aws.String(pkAttr + " = :pk AND begins_with(" + skAttr + ", :sk)")
	in.ExpressionAttributeValues = map[string]types.AttributeValue{
		":pk": &types.AttributeValueMemberS{Value: pk},
		":sk": &types.AttributeValueMemberS{Value: store.EventPrefix()},
	}
	page, err := r.st.QueryPage(ctx, in, limit, start, keyAttrs)
	if err != nil {
		return nil, nil, err
	}
	var items []Item
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("tracking: decode events: %w", err)
	}
	return items, page.Next, nil
}
