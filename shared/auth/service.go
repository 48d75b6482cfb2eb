// Package auth is tenancy and access: signup, login, refresh, users/me and
// API keys. Authenticating each request is shared/authn's work.
package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/sendwell/sendwell/shared/authn"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Service carries out the auth routes.
type Service struct {
	repo   repo
	tokens *authn.Tokens
	clock  clock.Clock
	authn  *authn.Authenticator
}

// NewService returns the auth service. a, when set, forgets revoked keys at once.
func NewService(s *store.Store, t *authn.Tokens, clk clock.Clock, a *authn.Authenticator) *Service {
	return &Service{repo: repo{s}, tokens: t, clock: clk, authn: a}
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

	switch err := s.repo.createAccount(ctx, login, org, user); {
	case errors.Is(err, errEmailTaken):
		return nil, errs.NewConflict("An account with this email already exists.")
	case err != nil:
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
// the same answer in about the same time. The attempt is counted before the
// password is checked, and too many get 429 (see MaxLoginFailures); a
// successful one, or one that could not be checked, is given back.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*Session, error) {
	source := req.Source
	if source == "" {
		source = unknownSource
	}
	a, err := s.reserveAttempt(ctx, req.Email, source)
	if err != nil {
		return nil, err
	}
	session, err := s.checkLogin(ctx, req)
	if !errors.Is(err, errBadLogin) {
		s.releaseAttempt(ctx, a)
	}
	return session, err
}

// checkLogin checks the credentials and issues a token: errBadLogin when
// they are wrong.
func (s *Service) checkLogin(ctx context.Context, req LoginRequest) (*Session, error) {
	login, err := s.repo.login(ctx, req.Email)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		CheckPassword(dummyHash(), req.Password)
		return nil, errBadLogin
	case err != nil:
		return nil, err
	}
	if !CheckPassword(login.PasswordHash, req.Password) {
		return nil, errBadLogin
	}
	user, err := s.repo.user(ctx, login.OrgID, login.UserID)
	if err != nil {
		return nil, fmt.Errorf("auth: user %s of a login lookup: %w", login.UserID, err)
	}
	token, exp, err := s.tokens.Issue(user.ID, user.OrgID)
	if err != nil {
		return nil, err
	}
	return &Session{Token: token, ExpiresAt: exp, User: user.api()}, nil
}

// Refresh issues a new token for the signed-in user, once it has checked
// that the user and the organisation still exist: a token outlives neither.
func (s *Service) Refresh(ctx context.Context, p *tenant.Principal) (*Session, error) {
	if _, err := s.repo.user(ctx, p.OrgID, p.UserID); err != nil {
		return nil, gone(err, "The user of this token no longer exists.")
	}
	if _, err := s.repo.org(ctx, p.OrgID); err != nil {
		return nil, gone(err, "The organisation of these credentials no longer exists.")
	}
	token, exp, err := s.tokens.Issue(p.UserID, p.OrgID)
	if err != nil {
		return nil, err
	}
	return &Session{Token: token, ExpiresAt: exp}, nil
}

// Me describes the caller: the user or the key, the organisation, its plan
// and its use of the plan's quotas (the month's emails, its contacts).
func (s *Service) Me(ctx context.Context, p *tenant.Principal) (*Me, error) {
	org, err := s.repo.org(ctx, p.OrgID)
	if err != nil {
		return nil, gone(err, "The organisation of these credentials no longer exists.")
	}
	usage, err := s.repo.usage(ctx, p.OrgID, s.clock.Now())
	if err != nil {
		return nil, err
	}
	me := &Me{Organisation: *org.api(), Plan: tenant.PlanByName(org.Plan), Usage: Usage{EmailsThisMonth: usage.Emails, Contacts: usage.Contacts}}
	switch p.Kind {
	case tenant.KindUser:
		u, err := s.repo.user(ctx, p.OrgID, p.UserID)
		if err != nil {
			return nil, gone(err, "The user of this token no longer exists.")
		}
		me.User = u.api()
	case tenant.KindAPIKey:
		k, err := s.repo.apiKey(ctx, p.OrgID, p.KeyID)
		if err != nil {
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
	switch err := s.repo.createKey(ctx, p.OrgID, maxKeys, item, lookup); {
	case errors.Is(err, errKeyLimit):
		return nil, &errs.Unprocessable{Message: fmt.Sprintf("An organisation can have at most %d active API keys; delete one first.", maxKeys)}
	case err != nil:
		return nil, err
	}
	return &NewAPIKey{ID: item.ID, Name: item.Name, Key: key, Hint: item.Hint, CreatedAt: now}, nil
}

// ListKeys pages through the organisation's keys, oldest first.
func (s *Service) ListKeys(ctx context.Context, orgID string, limit int, start map[string]string) ([]APIKey, map[string]string, error) {
	items, next, err := s.repo.listKeys(ctx, orgID, limit, start)
	if err != nil {
		return nil, nil, err
	}
	out := make([]APIKey, 0, len(items))
	for i := range items {
		out = append(out, *items[i].api())
	}
	return out, next, nil
}

// DeleteKey revokes a key: its record, its hash lookup and one count of the
// organisation's active keys go in one transaction.
func (s *Service) DeleteKey(ctx context.Context, orgID, keyID string) error {
	notFound := errs.NewNotFound("API key not found.")
	if !ids.Valid(ids.APIKey, keyID) {
		return notFound
	}
	k, err := s.repo.apiKey(ctx, orgID, keyID)
	if errors.Is(err, errs.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	switch err := s.repo.deleteKey(ctx, orgID, k); {
	case errors.Is(err, errKeyGone):
		return notFound // deleted by a concurrent request
	case err != nil:
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
