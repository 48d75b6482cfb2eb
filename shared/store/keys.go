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
	AttrTTL    = "ttl"
	IndexGSI1  = "GSI1"
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

// ContactPrefix is the sort-key prefix of a tenant's contacts.
func ContactPrefix() string { return prefixContact }

// ContactKey is one contact in its tenant's partition.
func ContactKey(orgID, contactID string) Key { return Key{OrgPK(orgID), prefixContact + contactID} }
