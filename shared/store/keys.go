package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Attribute names of the single table.
const (
	AttrPK     = "PK"
	AttrSK     = "SK"
	AttrGSI1PK = "GSI1PK"
	AttrGSI1SK = "GSI1SK"
	AttrGSI2PK = "GSI2PK"
	AttrGSI2SK = "GSI2SK"
	AttrTTL    = "ttl"
	IndexGSI1  = "GSI1"
	IndexGSI2  = "GSI2"
)

// Key prefixes. Every tenant partition starts with "ORG#<orgId>"; the only
// partitions that do not are the two credential lookups (LOGIN#, KEYHASH#),
// whose whole purpose is to find the tenant from a credential, and the
// login-failure counters keyed by the same email.
const (
	prefixOrg       = "ORG#"
	prefixLogin     = "LOGIN#"
	prefixKeyHash   = "KEYHASH#"
	prefixLoginFail = "LOGINFAIL#"

	skProfile     = "PROFILE"
	skLookup      = "LOOKUP"
	prefixUsr     = "USER#"
	prefixKey     = "APIKEY#"
	prefixRL      = "RATE#"
	prefixIdm     = "IDEM#"
	prefixMin     = "MIN#"
	prefixContact = "CONTACT#"
	prefixCEmail  = "CEMAIL#"
	prefixEvent   = "EVT#"
	prefixImport  = "IMPORT#"
)

// Key is the primary key of one item.
type Key struct {
	PK string `dynamodbav:"PK"`
	SK string `dynamodbav:"SK"`
}

// OrgPK is the partition of everything an organisation (tenant) owns.
func OrgPK(orgID string) string { return prefixOrg + orgID }

// OrgKey is the organisation's own item.
func OrgKey(orgID string) Key { return Key{OrgPK(orgID), skProfile} }

// UserKey is a user of an organisation.
func UserKey(orgID, userID string) Key { return Key{OrgPK(orgID), prefixUsr + userID} }

// APIKeyKey is an API key's record (name, hint, hash) in its organisation.
func APIKeyKey(orgID, keyID string) Key { return Key{OrgPK(orgID), prefixKey + keyID} }

// APIKeyPrefix is the sort-key prefix of an organisation's API keys.
func APIKeyPrefix() string { return prefixKey }

// LoginKey is the global lookup from a (lower-cased) email to its user; it
// makes user emails unique across organisations.
func LoginKey(email string) Key { return Key{prefixLogin + email, skLookup} }

// KeyHashKey is the global lookup from an API key's SHA-256 hash to its organisation.
func KeyHashKey(hash string) Key { return Key{prefixKeyHash + hash, skLookup} }

// LoginFailPK is the partition of one email's failed-login counters.
func LoginFailPK(email string) string { return prefixLoginFail + email }

// MinuteSK is the sort key of a per-minute counter.
func MinuteSK(t time.Time) string { return prefixMin + minute(t) }

// RateLimitKey is a tenant's request counter for the minute containing t.
func RateLimitKey(orgID string, t time.Time) Key { return Key{OrgPK(orgID), prefixRL + minute(t)} }

// IdempotencyKey is a tenant's record of one Idempotency-Key. The client's key
// is hashed so any 255 characters fit the sort key.
func IdempotencyKey(orgID, clientKey string) Key {
	sum := sha256.Sum256([]byte(clientKey))
	return Key{OrgPK(orgID), prefixIdm + hex.EncodeToString(sum[:])}
}

// minute formats the UTC minute of t so that keys sort by time.
func minute(t time.Time) string { return fmt.Sprintf("%010d", t.UTC().Unix()/60) }

// ContactPrefix is the sort-key prefix of a tenant's contacts (and of the
// entries of its contact indexes).
func ContactPrefix() string { return prefixContact }

// ContactSK is a contact's sort key: contact ids are ULIDs, so contacts sort
// by creation time.
func ContactSK(contactID string) string { return prefixContact + contactID }

// ContactKey is one contact in its tenant's partition.
func ContactKey(orgID, contactID string) Key { return Key{OrgPK(orgID), ContactSK(contactID)} }

// ContactEmailKey is the lookup that makes a (lower-cased) email unique
// within a tenant and finds its contact in one read.
func ContactEmailKey(orgID, email string) Key { return Key{OrgPK(orgID), prefixCEmail + email} }

// ContactTagPK is the partition listing one tag's contacts (keys only).
func ContactTagPK(orgID, tag string) string { return OrgPK(orgID) + "#TAG#" + tag }

// ContactTagKey is one contact's membership of a tag.
func ContactTagKey(orgID, tag, contactID string) Key {
	return Key{ContactTagPK(orgID, tag), ContactSK(contactID)}
}

// SubscribedPK is the GSI1 partition of a tenant's subscribed (or
// unsubscribed) contacts; the contact item carries it.
func SubscribedPK(orgID string, subscribed bool) string {
	return fmt.Sprintf("%s#SUB#%t", OrgPK(orgID), subscribed)
}

// EmailIndexPK is the GSI2 partition of a tenant's contacts ordered by email.
func EmailIndexPK(orgID string) string { return OrgPK(orgID) + "#EMAIL" }

// EventsPK is the partition of one contact's events.
func EventsPK(orgID, contactID string) string { return OrgPK(orgID) + "#EVT#" + contactID }

// EventSK is an event's sort key: event ids are ULIDs of the event's time.
func EventSK(eventID string) string { return prefixEvent + eventID }

// EventPrefix is the sort-key prefix of events.
func EventPrefix() string { return prefixEvent }

// EventNamePK is the GSI1 partition of one contact's events of one name.
func EventNamePK(orgID, contactID, name string) string {
	return EventsPK(orgID, contactID) + "#" + name
}

// ImportKey is a bulk import's record.
func ImportKey(orgID, importID string) Key { return Key{OrgPK(orgID), prefixImport + importID} }
