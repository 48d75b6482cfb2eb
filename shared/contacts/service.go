package contacts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// Service reads and writes contacts.
type Service struct {
	store *store.Store
	clock clock.Clock
}

// NewService returns the contacts service.
func NewService(s *store.Store, clk clock.Clock) *Service { return &Service{store: s, clock: clk} }

var (
	errNotFound   = errs.NewNotFound("Contact not found.")
	errEmailTaken = errs.NewConflict("A contact with this email already exists.")
)

// Get reads one contact: one GetItem.
func (s *Service) Get(ctx context.Context, orgID, id string) (*Item, error) {
	if !ids.Valid(ids.Contact, id) {
		return nil, errNotFound
	}
	var it Item
	if err := s.store.Get(ctx, store.ContactKey(orgID, id), &it); err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return nil, errNotFound
		}
		return nil, err
	}
	return &it, nil
}

// IDByEmail finds the contact of an email: one GetItem of the lookup.
func (s *Service) IDByEmail(ctx context.Context, orgID, email string) (string, error) {
	var l emailItem
	if err := s.store.Get(ctx, store.ContactEmailKey(orgID, email), &l); err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return "", errNotFound
		}
		return "", err
	}
	return l.ContactID, nil
}

// newItem makes the item for a new contact from a validated input.
func (s *Service) newItem(orgID string, in *Input, source string) *Item {
	now := s.clock.Now()
	it := &Item{OrgID: orgID, ID: ids.New(ids.Contact, now), Email: in.Email, Subscribed: true, CreatedAt: now, Source: source}
	it.apply(&in.Patch, now)
	it.UpdatedAt = now
	return it
}

// Create adds a contact. The contact, its email lookup and its tag entries
// go in one transaction whose conditions make the email unique.
func (s *Service) Create(ctx context.Context, orgID string, in Input) (*Item, error) {
	it := s.newItem(orgID, &in, "")
	if err := checkPropertiesSize(it.Properties); err != nil {
		return nil, err
	}
	ops, emailAt, err := writeOps(nil, it)
	if err != nil {
		return nil, err
	}
	err = s.store.Transact(ctx, ops)
	var tx *store.TxCanceled
	if errors.As(err, &tx) && tx.FailedAt(emailAt) {
		return nil, errEmailTaken
	}
	if err != nil {
		return nil, err
	}
	return it, nil
}

// Patch changes a contact. It is a read and a conditional write on the
// contact's version, retried when another write came in between.
func (s *Service) Patch(ctx context.Context, orgID, id string, p Patch) (*Item, error) {
	for attempt := 0; ; attempt++ {
		old, err := s.Get(ctx, orgID, id)
		if err != nil {
			return nil, err
		}
		it, err := s.update(ctx, old, &p)
		var tx *store.TxCanceled
		if errors.As(err, &tx) && tx.FailedAt(0) && attempt < 4 {
			continue // changed under us: read again
		}
		return it, err
	}
}

// update writes old changed by p; it does nothing when nothing changes.
func (s *Service) update(ctx context.Context, old *Item, p *Patch) (*Item, error) {
	it := *old
	it.Properties = clonedProps(old.Properties)
	it.Tags = slices.Clone(old.Tags)
	if !it.apply(p, s.clock.Now()) {
		return old, nil
	}
	if err := checkPropertiesSize(it.Properties); err != nil {
		return nil, err
	}
	ops, emailAt, err := writeOps(old, &it)
	if err != nil {
		return nil, err
	}
	err = s.store.Transact(ctx, ops)
	var tx *store.TxCanceled
	if errors.As(err, &tx) && emailAt >= 0 && tx.FailedAt(emailAt) {
		return nil, errEmailTaken
	}
	if err != nil {
		return nil, err
	}
	return &it, nil
}

// writeOps are the transaction items that turn old (nil: none) into it: the
// contact on a version condition, the email lookups, the tag entries.
// emailAt is the index of the new email lookup's put, or -1.
func writeOps(old, it *Item) (ops []types.TransactWriteItem, emailAt int, err error) {
	emailAt = -1
	var cond string
	vals := map[string]types.AttributeValue{}
	if old == nil {
		it.Version = 1
		cond = "attribute_not_exists(PK)"
	} else {
		it.Version = old.Version + 1
		cond = "version = :v"
		vals[":v"] = &types.AttributeValueMemberN{Value: strconv.Itoa(old.Version)}
	}
	av, err := store.Marshal(it)
	if err != nil {
		return nil, 0, err
	}
	put := &types.Put{Item: av, ConditionExpression: aws.String(cond)}
	if len(vals) > 0 {
		put.ExpressionAttributeValues = vals
	}
	ops = append(ops, types.TransactWriteItem{Put: put})

	if old == nil || old.Email != it.Email {
		lookup, err := store.Marshal(emailItem{Key: store.ContactEmailKey(it.OrgID, it.Email), ContactID: it.ID})
		if err != nil {
			return nil, 0, err
		}
		emailAt = len(ops)
		ops = append(ops, types.TransactWriteItem{Put: &types.Put{Item: lookup, ConditionExpression: aws.String("attribute_not_exists(PK)")}})
		if old != nil {
			ops = append(ops, types.TransactWriteItem{Delete: &types.Delete{Key: store.ContactEmailKey(old.OrgID, old.Email).KeyAV()}})
		}
	}
	var oldTags []string
	if old != nil {
		oldTags = old.Tags
	}
	for _, t := range it.Tags {
		if !slices.Contains(oldTags, t) {
			tav, err := store.Marshal(tagItem{Key: store.ContactTagKey(it.OrgID, t, it.ID), ContactID: it.ID})
			if err != nil {
				return nil, 0, err
			}
			ops = append(ops, types.TransactWriteItem{Put: &types.Put{Item: tav}})
		}
	}
	for _, t := range oldTags {
		if !slices.Contains(it.Tags, t) {
			ops = append(ops, types.TransactWriteItem{Delete: &types.Delete{Key: store.ContactTagKey(it.OrgID, t, it.ID).KeyAV()}})
		}
	}
	if len(ops) > maxTxItems {
		return nil, 0, &errs.Unprocessable{Message: fmt.Sprintf("This change adds and removes too many tags at once (it would write %d records; the limit is %d): split it in two.", len(ops), maxTxItems)}
	}
	return ops, emailAt, nil
}

// Delete removes a contact with its email lookup, its tag entries and its
// events, after which the email is free again.
func (s *Service) Delete(ctx context.Context, orgID, id string) error {
	it, err := s.Get(ctx, orgID, id)
	if err != nil {
		return err
	}
	// Events first: if this fails the contact is still there and a retry
	// finishes the job.
	if err := s.purgeEvents(ctx, orgID, id); err != nil {
		return err
	}
	ops := []types.TransactWriteItem{
		{Delete: &types.Delete{Key: it.Key.KeyAV(), ConditionExpression: aws.String("attribute_exists(PK)")}},
		{Delete: &types.Delete{Key: store.ContactEmailKey(orgID, it.Email).KeyAV()}},
	}
	for _, t := range it.Tags {
		ops = append(ops, types.TransactWriteItem{Delete: &types.Delete{Key: store.ContactTagKey(orgID, t, id).KeyAV()}})
	}
	if err := s.store.Transact(ctx, ops); err != nil {
		if errors.Is(err, errs.ErrConflict) {
			return errNotFound // deleted by a concurrent request
		}
		return err
	}
	return nil
}

// purgeEvents deletes every event of a contact, a page of keys at a time.
func (s *Service) purgeEvents(ctx context.Context, orgID, id string) error {
	p := dynamodb.NewQueryPaginator(s.store.DB, &dynamodb.QueryInput{
		TableName:                 &s.store.Table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.EventsPK(orgID, id)}},
		ProjectionExpression:      aws.String("PK, SK"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("contacts: list events to purge: %w", err)
		}
		var keys []store.Key
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &keys); err != nil {
			return fmt.Errorf("contacts: decode event keys: %w", err)
		}
		if err := s.store.DeleteAll(ctx, keys); err != nil {
			return err
		}
	}
	return nil
}

// Now is the service's clock reading (the events service stamps with it).
func (s *Service) Now() time.Time { return s.clock.Now() }
