package auth

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

	"github.com/sendwell/sendwell/shared/authn"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// repo is where the auth group speaks DynamoDB: every item it reads or
// writes, with its conditions. Its errors are the store's mapped ones
// (errs.ErrNotFound, errs.ErrConflict, *errs.Unavailable) or the sentinels
// below.
type repo struct{ s *store.Store }

// Outcomes of the conditional writes, for the service to word.
var (
	errEmailTaken  = errors.New("auth: email already registered")
	errKeyLimit    = errors.New("auth: active key limit reached")
	errKeyGone     = errors.New("auth: key already deleted")
	errAttemptsMax = errors.New("auth: login attempts exhausted")
)

// attrActiveKeys is the organisation's count of its API keys.
const attrActiveKeys = "activeKeys"

// createAccount writes a new organisation, its owner and the email's global
// login lookup in one transaction: errEmailTaken when the email has one.
// A transaction lost to concurrent writers (store.TxConflict, an
// errs.ErrConflict) is passed on as it is: nothing was written.
func (r repo) createAccount(ctx context.Context, login loginItem, org orgItem, user userItem) error {
	tx := make([]types.TransactWriteItem, 0, 3)
	for _, it := range []any{login, org, user} {
		av, err := store.Marshal(it)
		if err != nil {
			return err
		}
		tx = append(tx, types.TransactWriteItem{Put: &types.Put{Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}})
	}
	err := r.s.Transact(ctx, tx)
	var tc *store.TxCanceled
	if errors.As(err, &tc) && tc.FailedAt(0) {
		return errEmailTaken
	}
	return err
}

// login reads the global lookup of an email.
func (r repo) login(ctx context.Context, email string) (loginItem, error) {
	var it loginItem
	return it, r.s.Get(ctx, store.LoginKey(email), &it)
}

// user reads a user of an organisation.
func (r repo) user(ctx context.Context, orgID, userID string) (userItem, error) {
	var it userItem
	return it, r.s.Get(ctx, store.UserKey(orgID, userID), &it)
}

// org reads an organisation.
func (r repo) org(ctx context.Context, orgID string) (orgItem, error) {
	var it orgItem
	return it, r.s.Get(ctx, store.OrgKey(orgID), &it)
}

// usageItem is an organisation's use of its quotas: the emails of a month
// (store.UsageKey), counted by the messages group as it accepts sends, and
// its contacts (store.ContactCountKey), counted by the contacts group.
type usageItem struct {
	Emails   int `dynamodbav:"emails"`
	Contacts int `dynamodbav:"contacts"`
}

// usage reads an organisation's use of the month of t and its contact
// count in one BatchGetItem: zero for a counter not written yet.
func (r repo) usage(ctx context.Context, orgID string, t time.Time) (usageItem, error) {
	raw, err := r.s.BatchGet(ctx, []store.Key{store.UsageKey(orgID, t), store.ContactCountKey(orgID)})
	if err != nil {
		return usageItem{}, err
	}
	var u usageItem
	for _, av := range raw { // each item holds one of the two attributes
		var part usageItem
		if err := attributevalue.UnmarshalMap(av, &part); err != nil {
			return usageItem{}, fmt.Errorf("auth: decode usage: %w", err)
		}
		u.Emails += part.Emails
		u.Contacts += part.Contacts
	}
	u.Contacts = max(u.Contacts, 0) // a tenant older than the counter may have deleted more than it counted
	return u, nil
}

// apiKey reads an API key's record.
func (r repo) apiKey(ctx context.Context, orgID, keyID string) (apiKeyItem, error) {
	var it apiKeyItem
	return it, r.s.Get(ctx, store.APIKeyKey(orgID, keyID), &it)
}

// createKey writes a key's record and its hash lookup and counts it among
// the organisation's active keys, in one transaction that fails with
// errKeyLimit when the organisation already has maxKeys.
func (r repo) createKey(ctx context.Context, orgID string, maxKeys int, item apiKeyItem, lookup authn.KeyHashItem) error {
	itemAV, err := store.Marshal(item)
	if err != nil {
		return err
	}
	lookupAV, err := store.Marshal(lookup)
	if err != nil {
		return err
	}
	err = r.s.Transact(ctx, []types.TransactWriteItem{
		{Update: &types.Update{
			Key:                      store.OrgKey(orgID).KeyAV(),
			UpdateExpression:         aws.String("ADD #n :one"),
			ConditionExpression:      aws.String("attribute_exists(PK) AND (attribute_not_exists(#n) OR #n < :max)"),
			ExpressionAttributeNames: map[string]string{"#n": attrActiveKeys},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": num(1),
				":max": num(int64(maxKeys)),
			},
		}},
		{Put: &types.Put{Item: itemAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Put: &types.Put{Item: lookupAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	})
	var tc *store.TxCanceled
	if errors.As(err, &tc) && tc.FailedAt(0) {
		return errKeyLimit
	}
	return err
}

// listKeys reads one page of an organisation's keys, oldest first.
func (r repo) listKeys(ctx context.Context, orgID string, limit int, start map[string]string) ([]apiKeyItem, map[string]string, error) {
	page, err := r.s.QueryPage(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.OrgPK(orgID)},
			":sk": &types.AttributeValueMemberS{Value: store.APIKeyPrefix()},
		},
	}, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	var items []apiKeyItem
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("auth: decode keys: %w", err)
	}
	return items, page.Next, nil
}

// deleteKey removes a key's record and its hash lookup and takes it off the
// organisation's active keys, in one transaction: errKeyGone when a
// concurrent request deleted it first. The organisation's counter is
// updated only if the organisation exists, so it is never recreated bare.
func (r repo) deleteKey(ctx context.Context, orgID string, k apiKeyItem) error {
	err := r.s.Transact(ctx, []types.TransactWriteItem{
		{Delete: &types.Delete{Key: k.Key.KeyAV(), ConditionExpression: aws.String("attribute_exists(PK)")}},
		{Delete: &types.Delete{Key: store.KeyHashKey(k.Hash).KeyAV()}},
		{Update: &types.Update{
			Key:                       store.OrgKey(orgID).KeyAV(),
			UpdateExpression:          aws.String("ADD #n :minus"),
			ConditionExpression:       aws.String("attribute_exists(PK)"),
			ExpressionAttributeNames:  map[string]string{"#n": attrActiveKeys},
			ExpressionAttributeValues: map[string]types.AttributeValue{":minus": num(-1)},
		}},
	})
	var tc *store.TxCanceled
	if errors.As(err, &tc) && tc.FailedAt(0) {
		return errKeyGone
	}
	return err
}

// reserveAttempt counts one login attempt on the counter at k, only if it
// holds fewer than limit: one conditional UpdateItem, so concurrent attempts
// are counted one after the other and no more than limit ever pass.
// errAttemptsMax when the counter is full. A new counter expires at expires.
func (r repo) reserveAttempt(ctx context.Context, k store.Key, limit int, expires time.Time) error {
	_, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &r.s.Table,
		Key:                      k.KeyAV(),
		UpdateExpression:         aws.String("ADD #n :one SET #ttl = if_not_exists(#ttl, :ttl)"),
		ConditionExpression:      aws.String("attribute_not_exists(#n) OR #n < :max"),
		ExpressionAttributeNames: map[string]string{"#n": store.AttrCount, "#ttl": store.AttrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": num(1),
			":max": num(int64(limit)),
			":ttl": num(expires.Unix()),
		},
	})
	err = store.MapErr(err)
	if errors.Is(err, errs.ErrConflict) {
		return errAttemptsMax
	}
	if err != nil {
		return fmt.Errorf("auth: count login attempt on %s: %w", k.Kind(), err)
	}
	return nil
}

// releaseAttempt gives back one attempt reserved on the counter at k. A
// counter that is gone (expired) is left gone.
func (r repo) releaseAttempt(ctx context.Context, k store.Key) error {
	_, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &r.s.Table,
		Key:                       k.KeyAV(),
		UpdateExpression:          aws.String("ADD #n :minus"),
		ConditionExpression:       aws.String("attribute_exists(#n)"),
		ExpressionAttributeNames:  map[string]string{"#n": store.AttrCount},
		ExpressionAttributeValues: map[string]types.AttributeValue{":minus": num(-1)},
	})
	if err = store.MapErr(err); err != nil && !errors.Is(err, errs.ErrConflict) {
		return fmt.Errorf("auth: give back login attempt on %s: %w", k.Kind(), err)
	}
	return nil
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
