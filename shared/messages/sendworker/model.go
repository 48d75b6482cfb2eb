// Package sendworker is the send worker: it takes sends off the send queue,
// claims each one, checks that it may still go out (suppression, the
// contact's subscription for marketing, the from domain's verification),
// renders it, adds the unsubscribe headers and tracking, hands it to SES v2
// and records what happened in the send's ledger.
//
// Exactly once: a send is claimed (queued → sending, with a lease) by one
// conditional write before SES is called, so a redelivered or duplicated
// message finds it claimed and is dropped. A failure before SES answers
// releases the claim for SQS to retry; once SES may have the email it is
// never released again: a worker that dies there leaves the lease to lapse,
// and the scheduler marks the send unknown rather than send it twice.
package sendworker

import (
	"context"
	"github.com/sendwell/sendwell/shared/templates/stored"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// Mailer is the part of the SES v2 client the worker uses. The local stack
// wraps the client with its mailbox simulator.
type Mailer interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

var _ Mailer = (*sesv2.Client)(nil)

// Lease is how long a claim holds a send: past it, the scheduler takes the
// worker for dead and marks the send unknown. It is well over the worker's
// time per email (one SES call and two writes).
const Lease = 5 * time.Minute

// Headers of RFC 8058 one-click unsubscribe.
const (
	HeaderListUnsubscribe     = "List-Unsubscribe"
	HeaderListUnsubscribePost = "List-Unsubscribe-Post"
	listUnsubscribeOneClick   = "List-Unsubscribe=One-Click"
)

// SES email tags every email carries, so SES's events find their send
// without a lookup.
const (
	TagOrg  = "sendwell_org"
	TagSend = "sendwell_send"
)

// Reasons a send fails that do not come with details.
const (
	reasonUnsubscribed   = "unsubscribed"
	reasonContactDeleted = "contact deleted"
	reasonNoFrom         = "no from address: the send and its template name none"
	reasonBadFrom        = "the from address is not valid"
	reasonTemplateGone   = "template version gone"
	reasonBadData        = "the send's data is not a JSON object"
)

// permanent is a failure that would happen again however often the send
// is tried: the send becomes failed with its reason. Reasons hold no email
// address (they are logged).
type permanent struct {
	reason string
	detail map[string]any // on the timeline only: may name what the tenant sent
}

func (p *permanent) Error() string { return "sendworker: " + p.reason }

func failure(reason string) *permanent { return &permanent{reason: reason} }

// contactItem is the part of a contact the worker reads: what a template
// renders, and whether it may receive marketing.
type contactItem struct {
	stored.Contact
	Subscribed bool `dynamodbav:"subscribed"`
}

// domainClaim is the global claim of a domain name by one tenant.
type domainClaim struct {
	OrgID    string `dynamodbav:"orgId"`
	DomainID string `dynamodbav:"domainId"`
}

// domainItem is the part of a sending domain the worker reads.
type domainItem struct {
	Status string `dynamodbav:"status"`
}

// domainVerified is the domains group's status of a verified domain.
const domainVerified = "verified"
