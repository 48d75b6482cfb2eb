// Package auth is tenancy and access: signup, login, refresh, users/me, API
// keys, and the authentication of every request.
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
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Login throttling: once one email has MaxLoginFailures failures within
// LoginWindow, every further attempt (the 11th and on) gets 429 until the
// oldest failure leaves the window.
const (
	MaxLoginFailures = 10
	LoginWindow      = 15 * time.Minute
)

// Service carries out the auth routes.
type Service struct {
	store  *store.Store
	tokens *authn.Tokens
	clock  clock.Clock
	authn  *authn.Authenticator
}

// NewService returns the auth service. a, when set, forgets revoked keys at once.
func NewService(s *store.Store, t *authn.Tokens, clk clock.Clock, a *authn.Authenticator) *Service {
	return &Service{store: s, tokens: t, clock: clk, authn: a}
}

// Signup creates an organisation and its owner, atomically with the global
// email lookup that keeps emails unique.
func (s *Service) Signup(ctx context.Context, req SignupRequest) (*Session, error) {
	hash, err := HashPassword(req.Password)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	org := orgItem{ID: ids.New(ids.Org, now), Name: req.Organisation, Plan: tenant.DefaultPlan, CreatedAt: now}
	org.Key = store.OrgKey(org.ID)
	user := userItem{ID: ids.New(ids.User, now), OrgID: org.ID, Email: req.Email, Name: req.Name, Role: "owner", CreatedAt: now}
	user.Key = store.UserKey(org.ID, user.ID)
	login := loginItem{Key: store.LoginKey(req.Email), UserID: user.ID, OrgID: org.ID, PasswordHash: hash}

	var tx []types.TransactWriteItem
	for _, it := range []any{login, org, user} {
		av, err := store.Marshal(it)
		if err != nil {
			return nil, err
		}
		tx = append(tx, types.TransactWriteItem{Put: &types.Put{Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}})
	}
	if err := s.store.Transact(ctx, tx); err != nil {
		if errors.Is(err, errs.ErrConflict) {
			return nil, errs.NewConflict("An account with this email already exists.")
		}
		return nil, err
	}
	token, exp, err := s.tokens.Issue(user.ID, org.ID)
	if err != nil {
		return nil, err
	}
	return &Session{Token: token, ExpiresAt: exp, User: user.api(), Organisation: org.api()}, nil
}

var errBadLogin = errs.NewUnauthorised("Invalid email or password.")

// Login checks an email and password. A wrong email and a wrong password get
// the same answer in about the same time; too many failures get 429.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*Session, error) {
	if err := s.checkLoginThrottle(ctx, req.Email); err != nil {
		return nil, err
	}
	var login loginItem
	err := s.store.Get(ctx, store.LoginKey(req.Email), &login)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		CheckPassword(dummyHash(), req.Password)
		return nil, s.recordLoginFailure(ctx, req.Email)
	case err != nil:
		return nil, err
	}
	if !CheckPassword(login.PasswordHash, req.Password) {
		return nil, s.recordLoginFailure(ctx, req.Email)
	}
	var user userItem
	if err := s.store.Get(ctx, store.UserKey(login.OrgID, login.UserID), &user); err != nil {
		return nil, fmt.Errorf("auth: user of login %s: %w", login.UserID, err)
	}
	token, exp, err := s.tokens.Issue(user.ID, user.OrgID)
	if err != nil {
		return nil, err
	}
	return &Session{Token: token, ExpiresAt: exp, User: user.api()}, nil
}

// checkLoginThrottle sums the email's failures over the last 15 one-minute
// buckets: one Query.
func (s *Service) checkLoginThrottle(ctx context.Context, email string) error {
	now := s.clock.Now()
	oldest := now.Add(-LoginWindow + time.Minute)
	res, err := s.store.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:              &s.store.Table,
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":   &types.AttributeValueMemberS{Value: store.LoginFailPK(email)},
			":from": &types.AttributeValueMemberS{Value: store.MinuteSK(oldest)},
			":to":   &types.AttributeValueMemberS{Value: store.MinuteSK(now)},
		},
	})
	if err != nil {
		return fmt.Errorf("auth: login throttle: %w", err)
	}
	var buckets []loginFailItem
	if err := attributevalue.UnmarshalListOfMaps(res.Items, &buckets); err != nil {
		return fmt.Errorf("auth: login throttle: %w", err)
	}
	total := 0
	for _, b := range buckets {
		total += b.Count
	}
	if total < MaxLoginFailures {
		return nil
	}
	// The window frees up when its oldest bucket leaves it.
	first, _ := strconv.ParseInt(buckets[0].SK[len("MIN#"):], 10, 64)
	retry := int(time.Unix((first*60), 0).Add(LoginWindow).Sub(now).Seconds()) + 1
	return &errs.RateLimited{RetryAfter: retry, Message: fmt.Sprintf("Too many failed logins. Retry after %d seconds.", retry)}
}

// recordLoginFailure counts one failure and returns the 401 to answer with.
func (s *Service) recordLoginFailure(ctx context.Context, email string) error {
	now := s.clock.Now()
	_, err := s.store.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.store.Table,
		Key:              store.Key{PK: store.LoginFailPK(email), SK: store.MinuteSK(now)}.KeyAV(),
		UpdateExpression: aws.String("ADD n :one SET #ttl = :ttl"),
		ExpressionAttributeNames: map[string]string{
			"#ttl": store.AttrTTL,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": &types.AttributeValueMemberN{Value: "1"},
			":ttl": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(LoginWindow+time.Hour).Unix(), 10)},
		},
	})
	if err != nil {
		return fmt.Errorf("auth: record login failure: %w", err)
	}
	return errBadLogin
}

// Refresh issues a new token for the signed-in user.
func (s *Service) Refresh(p *tenant.Principal) (*Session, error) {
	token, exp, err := s.tokens.Issue(p.UserID, p.OrgID)
	if err != nil {
		return nil, err
	}
	return &Session{Token: token, ExpiresAt: exp}, nil
}

// Me describes the caller: the user or the key, the organisation and its plan.
func (s *Service) Me(ctx context.Context, p *tenant.Principal) (*Me, error) {
	var org orgItem
	if err := s.store.Get(ctx, store.OrgKey(p.OrgID), &org); err != nil {
		return nil, gone(err, "The organisation of these credentials no longer exists.")
	}
	me := &Me{Organisation: *org.api(), Plan: tenant.PlanByName(org.Plan)}
	switch p.Kind {
	case tenant.KindUser:
		var u userItem
		if err := s.store.Get(ctx, store.UserKey(p.OrgID, p.UserID), &u); err != nil {
			return nil, gone(err, "The user of this token no longer exists.")
		}
		me.User = u.api()
	case tenant.KindAPIKey:
		var k apiKeyItem
		if err := s.store.Get(ctx, store.APIKeyKey(p.OrgID, p.KeyID), &k); err != nil {
			return nil, gone(err, "This API key has been revoked.")
		}
		me.APIKey = k.api()
	}
	return me, nil
}

// CreateKey makes a new API key. The key is returned this once; only its
// hash is kept. The organisation's active-key counter enforces the limit in
// the same transaction.
func (s *Service) CreateKey(ctx context.Context, p *tenant.Principal, req CreateKeyRequest) (*NewAPIKey, error) {
	key, err := authn.NewKey()
	if err != nil {
		return nil, err
	}
	maxKeys := tenant.PlanByName(p.Plan).Quotas.APIKeys
	now := s.clock.Now()
	item := apiKeyItem{ID: ids.New(ids.APIKey, now), Name: req.Name, Hint: authn.KeyHint(key), Hash: authn.HashKey(key), CreatedBy: p.UserID, CreatedAt: now}
	item.Key = store.APIKeyKey(p.OrgID, item.ID)
	lookup := authn.KeyHashItem{Key: store.KeyHashKey(item.Hash), OrgID: p.OrgID, KeyID: item.ID}
	itemAV, err := store.Marshal(item)
	if err != nil {
		return nil, err
	}
	lookupAV, err := store.Marshal(lookup)
	if err != nil {
		return nil, err
	}
	err = s.store.Transact(ctx, []types.TransactWriteItem{
		{Update: &types.Update{
			Key:                 store.OrgKey(p.OrgID).KeyAV(),
			UpdateExpression:    aws.String("ADD activeKeys :one"),
			ConditionExpression: aws.String("attribute_exists(PK) AND (attribute_not_exists(activeKeys) OR activeKeys < :max)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": &types.AttributeValueMemberN{Value: "1"},
				":max": &types.AttributeValueMemberN{Value: strconv.Itoa(maxKeys)},
			},
		}},
		{Put: &types.Put{Item: itemAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		{Put: &types.Put{Item: lookupAV, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
	})
	var tx *store.TxCanceled
	if errors.As(err, &tx) && tx.FailedAt(0) {
		return nil, &errs.Unprocessable{Message: fmt.Sprintf("An organisation can have at most %d active API keys; delete one first.", maxKeys)}
	}
	if err != nil {
		return nil, err
	}
	return &NewAPIKey{ID: item.ID, Name: item.Name, Key: key, Hint: item.Hint, CreatedAt: now}, nil
}

// ListKeys pages through the organisation's keys, oldest first.
func (s *Service) ListKeys(ctx context.Context, orgID string, limit int, start map[string]string) ([]APIKey, map[string]string, error) {
	page, err := s.store.QueryPage(ctx, &dynamodb.QueryInput{
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
	out := make([]APIKey, 0, len(items))
	for i := range items {
		out = append(out, *items[i].api())
	}
	return out, page.Next, nil
}

// DeleteKey revokes a key: its record, its hash lookup and one count of the
// organisation's active keys go in one transaction.
func (s *Service) DeleteKey(ctx context.Context, orgID, keyID string) error {
	notFound := errs.NewNotFound("API key not found.")
	if !ids.Valid(ids.APIKey, keyID) {
		return notFound
	}
	var k apiKeyItem
	if err := s.store.Get(ctx, store.APIKeyKey(orgID, keyID), &k); err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return notFound
		}
		return err
	}
	err := s.store.Transact(ctx, []types.TransactWriteItem{
		{Delete: &types.Delete{Key: k.Key.KeyAV(), ConditionExpression: aws.String("attribute_exists(PK)")}},
		{Delete: &types.Delete{Key: store.KeyHashKey(k.Hash).KeyAV()}},
		{Update: &types.Update{
			Key:                       store.OrgKey(orgID).KeyAV(),
			UpdateExpression:          aws.String("ADD activeKeys :minus"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":minus": &types.AttributeValueMemberN{Value: "-1"}},
		}},
	})
	if errors.Is(err, errs.ErrConflict) {
		return notFound // deleted by a concurrent request
	}
	if err != nil {
		return err
	}
	if s.authn != nil {
		s.authn.Forget(k.Hash)
	}
	return nil
}

// gone turns the absence of the caller's own user or key (deleted after the
// credential was issued or cached) into a 401.
func gone(err error, msg string) error {
	if errors.Is(err, errs.ErrNotFound) {
		return errs.NewUnauthorised(msg)
	}
	return err
}

func (o *orgItem) api() *Organisation {
	return &Organisation{ID: o.ID, Name: o.Name, Plan: o.Plan, CreatedAt: o.CreatedAt}
}

func (u *userItem) api() *User {
	return &User{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt}
}

func (k *apiKeyItem) api() *APIKey {
	return &APIKey{ID: k.ID, Name: k.Name, Hint: k.Hint, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt}
}
