// Package domains is the tenants' sending domains: each one an Amazon SES v2
// email identity with Easy DKIM and a custom MAIL FROM domain, the DNS
// records its owner must publish, and the verification SES reports. A domain
// belongs to one tenant, through a global claim on its name.
package domains

import (
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/domains/domainitem"
	"github.com/sendwell/sendwell/shared/store"
)

// idPrefix is the prefix of domain ids ("dom_…").
const idPrefix = "dom"

// Statuses of a domain and of each of its records.
const (
	StatusPending  = domainitem.StatusPending
	StatusVerified = domainitem.StatusVerified
	StatusFailed   = domainitem.StatusFailed
	// StatusUnchecked is the status of a record SES does not check (DMARC).
	StatusUnchecked = domainitem.StatusUnchecked
)

// Purposes of the DNS records.
const (
	PurposeDKIM        = "dkim"
	PurposeMailFromMX  = "mail-from-mx"
	PurposeMailFromSPF = "mail-from-spf"
	PurposeDMARC       = "dmarc"
)

// DefaultMailFromSubdomain is the MAIL FROM subdomain when the request names
// none: mail.<domain>.
const DefaultMailFromSubdomain = "mail"

// The domain's item and its API form live in domainitem, which links no
// SES client, so the changes function can read them.
type (
	// Domain is a sending domain as the API shows it.
	Domain = domainitem.Domain
	// Record is one DNS record the domain's owner must publish.
	Record     = domainitem.Record
	item       = domainitem.Item
	recordItem = domainitem.RecordItem
)

// CreateRequest is the body of POST /api/domains.
type CreateRequest struct {
	Name              string  `json:"name"`
	MailFromSubdomain *string `json:"mailFromSubdomain"`
}

// Validate normalises the name and the MAIL FROM subdomain, or says which
// is wrong.
func (r *CreateRequest) Validate() error {
	name, err := NormaliseName(r.Name)
	if err != nil {
		return err
	}
	r.Name = name
	sub := DefaultMailFromSubdomain
	if r.MailFromSubdomain != nil {
		if sub, err = normaliseSubdomain(*r.MailFromSubdomain); err != nil {
			return err
		}
	}
	if err := checkMailFrom(sub, name); err != nil {
		return err
	}
	r.MailFromSubdomain = &sub
	return nil
}

// itemType marks domain items (the stream consumer tells items apart by it).
const itemType = domainitem.ItemType

// claimItem is the global claim of a domain name by one tenant.
type claimItem struct {
	store.Key
	OrgID    string `dynamodbav:"orgId"`
	DomainID string `dynamodbav:"domainId"`
}

// records are the DNS records of a new domain, all pending (DMARC
// unchecked): the DKIM CNAMEs of SES's tokens, the MAIL FROM MX and SPF
// records, and the recommended DMARC record.
func records(name, mailFrom, region string, tokens []string) []recordItem {
	out := make([]recordItem, 0, len(tokens)+3)
	for _, t := range tokens {
		out = append(out, recordItem{Type: "CNAME", Name: t + "._domainkey." + name, Value: t + ".dkim.amazonses.com",
			Purpose: PurposeDKIM, Status: StatusPending})
	}
	return append(out,
		recordItem{Type: "MX", Name: mailFrom, Value: "feedback-smtp." + region + ".amazonses.com", Priority: 10,
			Purpose: PurposeMailFromMX, Status: StatusPending},
		recordItem{Type: "TXT", Name: mailFrom, Value: "v=spf1 include:amazonses.com ~all",
			Purpose: PurposeMailFromSPF, Status: StatusPending},
		recordItem{Type: "TXT", Name: "_dmarc." + name, Value: "v=DMARC1; p=none; rua=mailto:dmarc@" + name,
			Purpose: PurposeDMARC, Status: StatusUnchecked, Recommended: true},
	)
}

// check is what SES says of an identity now.
type check struct {
	Verified       bool   // VerifiedForSendingStatus
	DKIMStatus     string // DkimAttributes.Status
	MailFromStatus string // MailFromAttributes.MailFromDomainStatus ("" when SES reports none)
	Missing        bool   // SES has no such identity
}

// apply sets the domain's and each record's status from what SES says.
func apply(it *item, c check, now time.Time) {
	dkim, mailFrom := sesStatus(c.DKIMStatus), sesStatus(c.MailFromStatus)
	if c.Missing {
		dkim, mailFrom = StatusFailed, StatusFailed
	}
	for i := range it.Records {
		switch it.Records[i].Purpose {
		case PurposeDKIM:
			it.Records[i].Status = dkim
		case PurposeMailFromMX, PurposeMailFromSPF:
			it.Records[i].Status = mailFrom
		}
	}
	switch {
	case c.Missing || dkim == StatusFailed:
		it.Status = StatusFailed
	case c.Verified && dkim == StatusVerified:
		it.Status = StatusVerified
	default:
		it.Status = StatusPending
	}
	t := now.UTC()
	it.LastCheckedAt = &t
}

// sesStatus maps an SES verification status (DKIM's or MAIL FROM's) to a
// record's. A temporary failure may pass: it stays pending.
func sesStatus(s string) string {
	switch strings.ToUpper(s) {
	case "SUCCESS":
		return StatusVerified
	case "FAILED":
		return StatusFailed
	}
	return StatusPending
}
