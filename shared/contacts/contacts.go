// Package contacts is the audience: contacts and the events they perform.
// For now it holds the tenant-scoped, paginated list the platform's
// conventions are exercised on; the full resource builds on it.
package contacts

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
)

// Contact is a contact as the API shows it.
type Contact struct {
	ID             string         `json:"id"`
	Email          string         `json:"email"`
	FirstName      *string        `json:"firstName"`
	LastName       *string        `json:"lastName"`
	Properties     map[string]any `json:"properties"`
	Tags           []string       `json:"tags"`
	Subscribed     bool           `json:"subscribed"`
	UnsubscribedAt *time.Time     `json:"unsubscribedAt"`
	CreatedAt      time.Time      `json:"createdAt"`
	UpdatedAt      time.Time      `json:"updatedAt"`
}

type contactItem struct {
	store.Key
	ID             string         `dynamodbav:"id"`
	Email          string         `dynamodbav:"email"`
	FirstName      *string        `dynamodbav:"firstName,omitempty"`
	LastName       *string        `dynamodbav:"lastName,omitempty"`
	Properties     map[string]any `dynamodbav:"properties,omitempty"`
	Tags           []string       `dynamodbav:"tags,omitempty"`
	Subscribed     bool           `dynamodbav:"subscribed"`
	UnsubscribedAt *time.Time     `dynamodbav:"unsubscribedAt,omitempty"`
	CreatedAt      time.Time      `dynamodbav:"createdAt"`
	UpdatedAt      time.Time      `dynamodbav:"updatedAt"`
}

func (c *contactItem) api() Contact {
	out := Contact{ID: c.ID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Properties: c.Properties,
		Tags: c.Tags, Subscribed: c.Subscribed, UnsubscribedAt: c.UnsubscribedAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if out.Properties == nil {
		out.Properties = map[string]any{}
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	return out
}

// Service reads and writes contacts.
type Service struct{ store *store.Store }

// NewService returns the contacts service.
func NewService(s *store.Store) *Service { return &Service{store: s} }

// List returns a page of the tenant's contacts, newest first: one Query.
func (s *Service) List(ctx context.Context, orgID string, limit int, start map[string]string) ([]Contact, map[string]string, error) {
	page, err := s.store.QueryPage(ctx, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.OrgPK(orgID)},
			":sk": &types.AttributeValueMemberS{Value: store.ContactPrefix()},
		},
		ScanIndexForward: aws.Bool(false),
	}, limit, start, []string{store.AttrPK, store.AttrSK})
	if err != nil {
		return nil, nil, err
	}
	var items []contactItem
	if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
		return nil, nil, fmt.Errorf("contacts: decode: %w", err)
	}
	out := make([]Contact, 0, len(items))
	for i := range items {
		out = append(out, items[i].api())
	}
	return out, page.Next, nil
}

// Handlers serves the contacts routes.
type Handlers struct {
	svc     *Service
	cursors *httpx.Cursors
}

// NewHandlers returns the contacts handlers.
func NewHandlers(svc *Service, c *httpx.Cursors) *Handlers { return &Handlers{svc: svc, cursors: c} }

// Register adds the contacts routes to rt.
func (h *Handlers) Register(rt *httpx.Router) {
	rt.Handle("GET /api/contacts", httpx.Tenant, h.list)
}

func (h *Handlers) list(w http.ResponseWriter, r *http.Request) error {
	p, _ := tenant.From(r.Context())
	pp, err := h.cursors.ParsePage(r, p.OrgID)
	if err != nil {
		return err
	}
	items, next, err := h.svc.List(r.Context(), p.OrgID, pp.Limit, pp.Start)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.Page[Contact]{Data: items, NextCursor: h.cursors.Encode(p.OrgID, next)})
	return nil
}
