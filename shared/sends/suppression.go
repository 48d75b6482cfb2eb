package sends

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/store"
)

// Reasons an address is on a tenant's suppression list.
const (
	ReasonHardBounce   = "hard_bounce"
	ReasonComplaint    = "complaint"
	ReasonUnsubscribed = "unsubscribed"
	ReasonManual       = "manual"
)

// SuppressionType is a suppression entry's type attribute.
const SuppressionType = "suppression"

// Reasons lists the suppression reasons.
func Reasons() []string {
	return []string{ReasonHardBounce, ReasonComplaint, ReasonUnsubscribed, ReasonManual}
}

// SuppressionItem is one address a tenant never sends to, with why, when
// and the send that caused it. It lives apart from the contacts, so it
// survives the contact's deletion; GSI1 lists a reason's entries.
type SuppressionItem struct {
	store.Key
	Type      string    `dynamodbav:"type"`
	OrgID     string    `dynamodbav:"orgId"`
	Email     string    `dynamodbav:"email"`
	Reason    string    `dynamodbav:"reason"`
	SendID    string    `dynamodbav:"sendId,omitempty"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
	GSI1PK    string    `dynamodbav:"GSI1PK"`
	GSI1SK    string    `dynamodbav:"GSI1SK"`
}

// Suppression is an entry as the API shows it.
type Suppression struct {
	Email     string    `json:"email"`
	Reason    string    `json:"reason"`
	SendID    *string   `json:"sendId"`
	CreatedAt time.Time `json:"createdAt"`
}

// NewSuppression is the entry of a (lower-cased) address.
func NewSuppression(orgID, email, reason, sendID string, at time.Time) SuppressionItem {
	return SuppressionItem{Key: store.SuppressionKey(orgID, email), Type: SuppressionType, OrgID: orgID, Email: email,
		Reason: reason, SendID: sendID, CreatedAt: at.UTC(),
		GSI1PK: store.SuppressionsByReasonPK(orgID, reason), GSI1SK: email}
}

// API is the entry as the API shows it.
func (s *SuppressionItem) API() Suppression {
	out := Suppression{Email: s.Email, Reason: s.Reason, CreatedAt: s.CreatedAt}
	if s.SendID != "" {
		out.SendID = &s.SendID
	}
	return out
}

// Write is the entry's put, for a transaction: the latest reason wins.
func (s SuppressionItem) Write() (types.TransactWriteItem, error) {
	av, err := store.Marshal(s)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{Item: av}}, nil
}
