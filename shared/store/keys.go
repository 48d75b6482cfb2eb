package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
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
// login-failure counters keyed by the same email. Prefixes live here only:
// other packages build keys and read them back through the functions below.
const (
	prefixOrg           = "ORG#"
	prefixLogin         = "LOGIN#"
	prefixKeyHash       = "KEYHASH#"
	prefixLoginFail     = "LOGINFAIL#"
	prefixLoginFailFrom = "LOGINFAILSRC#"

	skProfile     = "PROFILE"
	skLookup      = "LOOKUP"
	skIdem        = "IDEM"
	prefixUsr     = "USER#"
	prefixKey     = "APIKEY#"
	prefixMin     = "MIN#"
	prefixContact = "CONTACT#"
	prefixCEmail  = "CEMAIL#"
	prefixEvent   = "EVT#"
	prefixImport  = "IMPORT#"

	// Suffixes of a tenant's side partitions, after "ORG#<orgId>".
	partRate = "#RATE"
	partIdem = "#IDEM#"
	partTag  = "#TAG#"
	partSub  = "#SUB#"
	partMail = "#EMAIL"
	partEvt  = "#EVT#"
	// partEvtName: a tenant's events by name (GSI2), in EventNameShards shards.
	partEvtName = "#EVNAME#"
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

// LoginFailPK is the partition of one email's failed-login counters, from
// every source address.
func LoginFailPK(email string) string { return prefixLoginFail + email }

// LoginFailSourcePK is the partition of one email's failed-login counters
// from one source IP address. The address comes first: it never holds '#',
// so no email can make two (email, address) pairs share a partition.
func LoginFailSourcePK(email, ip string) string { return prefixLoginFailFrom + ip + "#" + email }

// LoginFailKey is one email's login-attempt counter, from every source
// address, for the throttle window that starts at window (a whole minute).
func LoginFailKey(email string, window time.Time) Key {
	return Key{LoginFailPK(email), MinuteSK(window)}
}

// LoginFailSourceKey is one email's login-attempt counter from one source
// address, for the throttle window that starts at window (a whole minute).
func LoginFailSourceKey(email, ip string, window time.Time) Key {
	return Key{LoginFailSourcePK(email, ip), MinuteSK(window)}
}

// MinuteSK is the sort key of a per-minute counter.
func MinuteSK(t time.Time) string { return prefixMin + minute(t) }

// RateLimitPK is the partition of a tenant's per-minute request counters,
// apart from its main partition, which bulk imports keep busy.
func RateLimitPK(orgID string) string { return OrgPK(orgID) + partRate }

// RateLimitKey is a tenant's request counter for the minute containing t.
func RateLimitKey(orgID string, t time.Time) Key { return Key{RateLimitPK(orgID), MinuteSK(t)} }

// IdempotencyKey is a tenant's record of one Idempotency-Key, in a partition
// of its own. The client's key is hashed so any 255 characters fit.
func IdempotencyKey(orgID, clientKey string) Key {
	sum := sha256.Sum256([]byte(clientKey))
	return Key{OrgPK(orgID) + partIdem + hex.EncodeToString(sum[:]), skIdem}
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

// ContactEmailPrefix is the sort-key prefix of a tenant's email lookups.
func ContactEmailPrefix() string { return prefixCEmail }

// ContactEmailKey is the lookup that makes a (lower-cased) email unique
// within a tenant and finds its contact in one read.
func ContactEmailKey(orgID, email string) Key { return Key{OrgPK(orgID), prefixCEmail + email} }

// EmailFromContactEmailSK is the email of a ContactEmailKey's sort key; ""
// when sk is not one.
func EmailFromContactEmailSK(sk string) string { return after(sk, prefixCEmail) }

// ContactTagPK is the partition listing one tag's contacts (keys only).
func ContactTagPK(orgID, tag string) string { return OrgPK(orgID) + partTag + tag }

// ContactTagKey is one contact's membership of a tag.
func ContactTagKey(orgID, tag, contactID string) Key {
	return Key{ContactTagPK(orgID, tag), ContactSK(contactID)}
}

// SubscribedPK is the GSI1 partition of a tenant's subscribed (or
// unsubscribed) contacts; the contact item carries it.
func SubscribedPK(orgID string, subscribed bool) string {
	return OrgPK(orgID) + partSub + strconv.FormatBool(subscribed)
}

// EmailIndexPK is the GSI2 partition of a tenant's contacts ordered by email.
func EmailIndexPK(orgID string) string { return OrgPK(orgID) + partMail }

// EventsPK is the partition of one contact's events.
func EventsPK(orgID, contactID string) string { return OrgPK(orgID) + partEvt + contactID }

// EventSK is an event's sort key: event ids are ULIDs of the event's time.
func EventSK(eventID string) string { return prefixEvent + eventID }

// EventPrefix is the sort-key prefix of events.
func EventPrefix() string { return prefixEvent }

// EventNamePK is the GSI1 partition of one contact's events of one name.
func EventNamePK(orgID, contactID, name string) string {
	return EventsPK(orgID, contactID) + "#" + name
}

// EventNameShards is how many GSI2 partitions hold a tenant's events of one
// name: a contact's always go to the same one, and together they spread a
// busy event name's writes (each GSI partition takes about 1,000 writes/s).
const EventNameShards = 8

// EventNameShard is the shard of EventsByNamePK that holds a contact's events.
func EventNameShard(contactID string) int {
	h := fnv.New32a()
	h.Write([]byte(contactID))
	return int(h.Sum32() % EventNameShards)
}

// EventsByNamePK is a GSI2 partition of a tenant's events of one name, all
// contacts' (sorted by EventSK, so by time): what a segment preview reads.
func EventsByNamePK(orgID, name string, shard int) string {
	return OrgPK(orgID) + partEvtName + strconv.Itoa(shard) + "#" + name
}

// ImportKey is a bulk import's record.
func ImportKey(orgID, importID string) Key { return Key{OrgPK(orgID), prefixImport + importID} }

// after is what follows prefix in s, or "" when s does not start with it.
func after(s, prefix string) string {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return ""
	}
	return rest
}

// Kind names the sort of item k is without any of its values, for errors
// and logs: each part up to and including its first '#' ("ORG#/CEMAIL#"),
// or the whole part when it is one of the fixed sort keys ("LOGIN#/LOOKUP").
// Keys hold emails and ids, which must not reach logs.
func (k Key) Kind() string { return kindOf(k.PK) + "/" + kindOf(k.SK) }

func kindOf(part string) string {
	if i := strings.IndexByte(part, '#'); i >= 0 {
		return part[:i+1]
	}
	switch part {
	case skProfile, skLookup, skIdem, skSend, skVersion, skState, skEnrollment:
		return part
	}
	return "?"
}

// Domains.
//
// A sending domain lives in its tenant's partition; its claim is the one
// global item keyed by the domain's name (like the credential lookups, its
// purpose is to find the tenant from a value), which makes a domain belong
// to one tenant: SES identities are per AWS account.
const (
	prefixDomain      = "DOM#"
	prefixDomainClaim = "DOMAIN#"
)

// DomainSK is a sending domain's sort key: domain ids are ULIDs, so
// domains sort by creation time.
func DomainSK(domainID string) string { return prefixDomain + domainID }

// DomainPrefix is the sort-key prefix of a tenant's sending domains.
func DomainPrefix() string { return prefixDomain }

// DomainKey is one sending domain in its tenant's partition.
func DomainKey(orgID, domainID string) Key { return Key{OrgPK(orgID), DomainSK(domainID)} }

// DomainClaimKey is the global claim of a (normalised) domain name by one
// tenant.
func DomainClaimKey(name string) Key { return Key{prefixDomainClaim + name, skLookup} }

// Templates.
//
// A template's head (what GET shows: the latest version's content) is in its
// tenant's partition; its immutable versions have a partition of their own
// per template, so they list newest first with one Query and are deleted
// with the template without touching the tenant's partition. The head
// carries two sparse index keys: GSI1 lists a tenant's templates newest
// first (by creation), GSI2 by lower-cased name for the name-prefix search.
const (
	prefixTemplate    = "TEMPLATE#"
	prefixTemplateVer = "VER#"
	partTemplateVers  = "#TPL#"
	partTemplatesNew  = "#TPLS"
	partTemplatesName = "#TPLNAME"
)

// TemplateKey is a template's head item in its tenant's partition.
func TemplateKey(orgID, templateID string) Key {
	return Key{OrgPK(orgID), prefixTemplate + templateID}
}

// TemplatePrefix is the sort-key prefix of the organisation's template heads.
func TemplatePrefix() string { return prefixTemplate }

// TemplateVersionsPK is the partition of one template's versions.
func TemplateVersionsPK(orgID, templateID string) string {
	return OrgPK(orgID) + partTemplateVers + templateID
}

// TemplateVersionSK is a version's sort key, zero-padded so versions sort
// by number.
func TemplateVersionSK(n int) string { return fmt.Sprintf("%s%010d", prefixTemplateVer, n) }

// TemplateVersionPrefix is the sort-key prefix of a template's versions.
func TemplateVersionPrefix() string { return prefixTemplateVer }

// TemplateVersionKey is version n of a template.
func TemplateVersionKey(orgID, templateID string, n int) Key {
	return Key{TemplateVersionsPK(orgID, templateID), TemplateVersionSK(n)}
}

// TemplatesByCreationPK is the GSI1 partition of a tenant's templates,
// sorted by TemplateCreatedSK.
func TemplatesByCreationPK(orgID string) string { return OrgPK(orgID) + partTemplatesNew }

// TemplateCreatedSK is a template's GSI1 sort key: its creation time (fixed
// width, UTC, so keys sort by time), then its id.
func TemplateCreatedSK(created time.Time, templateID string) string {
	return created.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + templateID
}

// TemplatesByNamePK is the GSI2 partition of a tenant's templates, sorted
// by TemplateNameSK.
func TemplatesByNamePK(orgID string) string { return OrgPK(orgID) + partTemplatesName }

// TemplateNameSK is a template's GSI2 sort key: its lower-cased name, then
// its id (names need not be unique).
func TemplateNameSK(lowerName, templateID string) string { return lowerName + "#" + templateID }

// Messages (sends).
//
// A send has a partition of its own, so the writes of its life (accepted,
// claimed, sent, delivered, opened, …) spread over the table instead of
// queueing on the tenant's: the send item (SK "SEND") and its timeline
// (SK "EV#<event time>#<type>#<key>", in event-time order). Lists use sparse
// indexes the send item carries: GSI1 every send newest first, GSI2 by
// recipient, GSI3 by contact, GSI4 by template, GSI5 by status (scheduled
// sends soonest first). A send's tags are keys-only items in partitions of
// their own, written with it. A scheduled send carries the Due index's keys
// until the scheduler has enqueued it.
const (
	partSend         = "#MSG#"
	skSend           = "SEND"
	prefixTimeline   = "EV#"
	partSends        = "#SENDS"
	partSendTo       = "#SENDTO#"
	partSendContact  = "#SENDC#"
	partSendTemplate = "#SENDT#"
	partSendStatus   = "#SENDST#"
	partSendTag      = "#SENDTAG#"
	partSuppression  = "#SUPP"
	partSuppReason   = "#SUPPR#"
	prefixSupp       = "SUPP#"
	partStats        = "#STATS#"
	partUsage        = "#USAGE"
	prefixMonth      = "MONTH#"
	prefixDue        = "DUE#"

	// The Due index: a sparse GSI of everything waiting for a time.
	AttrDuePK  = "DuePK"
	AttrDueSK  = "DueSK"
	IndexDue   = "Due"
	AttrGSI3PK = "GSI3PK"
	AttrGSI3SK = "GSI3SK"
	AttrGSI4PK = "GSI4PK"
	AttrGSI4SK = "GSI4SK"
	AttrGSI5PK = "GSI5PK"
	AttrGSI5SK = "GSI5SK"
	IndexGSI3  = "GSI3"
	IndexGSI4  = "GSI4"
	IndexGSI5  = "GSI5"

	// DueShards is how many partitions one minute's due items spread over.
	DueShards = 8
	// StatsShards is how many partitions a tenant's counters spread over.
	StatsShards = 8
)

// SendPK is the partition of one send: the send and its timeline.
func SendPK(orgID, sendID string) string { return OrgPK(orgID) + partSend + sendID }

// SendKey is a send's item.
func SendKey(orgID, sendID string) Key { return Key{SendPK(orgID, sendID), skSend} }

// SendSK is the sort key of a send's item.
func SendSK() string { return skSend }

// TimelineSK is the sort key of one event of a send's timeline: the event's
// time (fixed width, UTC), its type and a key that tells apart two events
// of one type at one time. The same event recorded twice has the same key.
func TimelineSK(at time.Time, typ, key string) string {
	return prefixTimeline + at.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + typ + "#" + key
}

// TimelinePrefix is the sort-key prefix of a send's timeline.
func TimelinePrefix() string { return prefixTimeline }

// SendsPK is the GSI1 partition of a tenant's sends (GSI1SK: the send id, a
// ULID of its creation).
func SendsPK(orgID string) string { return OrgPK(orgID) + partSends }

// SendsToPK is the GSI2 partition of a tenant's sends to one (lower-cased) address.
func SendsToPK(orgID, email string) string { return OrgPK(orgID) + partSendTo + email }

// SendsByContactPK is the GSI3 partition of a tenant's sends to one contact.
func SendsByContactPK(orgID, contactID string) string {
	return OrgPK(orgID) + partSendContact + contactID
}

// SendsByTemplatePK is the GSI4 partition of a tenant's sends of one template.
func SendsByTemplatePK(orgID, templateID string) string {
	return OrgPK(orgID) + partSendTemplate + templateID
}

// SendsByStatusPK is the GSI5 partition of a tenant's sends in one status.
func SendsByStatusPK(orgID, status string) string { return OrgPK(orgID) + partSendStatus + status }

// ScheduledSK is a scheduled send's GSI5 sort key: when it is due, then
// its id, so scheduled sends list soonest first. Sends in other statuses
// have their id as GSI5SK.
func ScheduledSK(at time.Time, sendID string) string {
	return at.UTC().Format("2006-01-02T15:04:05.000Z") + "#" + sendID
}

// SendTagPK is the partition listing a tenant's sends with one tag
// (key=value), newest first.
func SendTagPK(orgID, key, value string) string {
	return OrgPK(orgID) + partSendTag + key + "=" + value
}

// SendTagKey is one send's membership of a tag.
func SendTagKey(orgID, key, value, sendID string) Key {
	return Key{SendTagPK(orgID, key, value), sendID}
}

// SuppressionPK is the partition of a tenant's suppression list, apart
// from its contacts: an entry survives the contact's deletion.
func SuppressionPK(orgID string) string { return OrgPK(orgID) + partSuppression }

// SuppressionPrefix is the sort-key prefix of suppression entries.
func SuppressionPrefix() string { return prefixSupp }

// SuppressionKey is the entry of one (lower-cased) address.
func SuppressionKey(orgID, email string) Key {
	return Key{SuppressionPK(orgID), prefixSupp + email}
}

// SuppressionsByReasonPK is the GSI1 partition of a tenant's suppression
// entries of one reason (GSI1SK: the address).
func SuppressionsByReasonPK(orgID, reason string) string {
	return OrgPK(orgID) + partSuppReason + reason
}

// StatsPK is one of a tenant's counter partitions; a send's counters go to
// the shard its id hashes to, and readers add the shards up.
func StatsPK(orgID string, shard int) string {
	return OrgPK(orgID) + partStats + strconv.Itoa(shard)
}

// StatsDayKey is the counters of a UTC day in one shard.
func StatsDayKey(orgID string, shard int, t time.Time) Key {
	return Key{StatsPK(orgID, shard), "DAY#" + t.UTC().Format("2006-01-02")}
}

// StatsHourKey is the counters of a UTC hour in one shard.
func StatsHourKey(orgID string, shard int, t time.Time) Key {
	return Key{StatsPK(orgID, shard), "HOUR#" + t.UTC().Format("2006-01-02T15")}
}

// StatsTemplateDayKey is one template's counters of a UTC day in one shard.
func StatsTemplateDayKey(orgID string, shard int, templateID string, t time.Time) Key {
	return Key{StatsPK(orgID, shard), "TPL#" + templateID + "#DAY#" + t.UTC().Format("2006-01-02")}
}

// UsageKey is a tenant's use of its monthly quotas in the UTC month of t.
func UsageKey(orgID string, t time.Time) Key {
	return Key{OrgPK(orgID) + partUsage, prefixMonth + t.UTC().Format("2006-01")}
}

// DuePK is the Due-index partition of one shard of one minute's due items.
func DuePK(t time.Time, shard int) string { return prefixDue + minute(t) + "#" + strconv.Itoa(shard) }

// DueSK is a due item's Due-index sort key: its time in milliseconds
// (fixed width), so a bucket reads in time order.
func DueSK(at time.Time, sendID string) string {
	return fmt.Sprintf("%015d#%s", at.UnixMilli(), sendID)
}

// DueShard is the shard of a due item, from its id.
func DueShard(id string) int { return int(fnv32(id) % DueShards) }

// StatsShard is the counter shard of a send, from its id.
func StatsShard(id string) int { return int(fnv32(id) % StatsShards) }

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// SchedulerWatermarkKey is the scheduler's one global item: the minute up
// to which every Due-index bucket has been read.
func SchedulerWatermarkKey() Key { return Key{"SCHEDULER", "WATERMARK"} }

// ContactCountKey is the counter of a tenant's contacts (attribute
// `contacts`), kept beside its monthly usage, which enforces the plan's
// contacts quota.
func ContactCountKey(orgID string) Key { return Key{OrgPK(orgID) + partUsage, "CONTACTS"} }

// Segments.
//
// A segment lives in its tenant's partition; its members have a partition
// of their own per segment (listed a page per Query), mirrored by a
// partition per contact holding the contact's memberships and its
// evaluation state (one Query gives both). A tenant's segments version is
// bumped with every definition change, so workers know when to reload.
// Per-contact event counters keep the times of the events a segment's
// conditions count, so "at least 2 in 30 days" is one read.
const (
	prefixSegment     = "SEG#"
	partSegments      = "#SEGS"
	partSegment       = "#SEG#"
	partContactSeg    = "#CSEG#"
	partEventCounters = "#ECNT#"
	skVersion         = "VERSION"
	skState           = "STATE"
)

// SegmentKey is a segment in its tenant's partition.
func SegmentKey(orgID, segmentID string) Key { return Key{OrgPK(orgID), prefixSegment + segmentID} }

// SegmentPrefix is the sort-key prefix of a tenant's segments (and of a
// contact's memberships).
func SegmentPrefix() string { return prefixSegment }

// SegmentsVersionKey is the counter bumped with every change to a tenant's
// segment definitions.
func SegmentsVersionKey(orgID string) Key { return Key{OrgPK(orgID) + partSegments, skVersion} }

// SegmentMembersPK is the partition of one segment's members.
func SegmentMembersPK(orgID, segmentID string) string {
	return OrgPK(orgID) + partSegment + segmentID
}

// SegmentMemberKey is a contact's membership in a segment's partition.
func SegmentMemberKey(orgID, segmentID, contactID string) Key {
	return Key{SegmentMembersPK(orgID, segmentID), ContactSK(contactID)}
}

// ContactSegmentsPK is the partition of one contact's memberships and its
// evaluation state.
func ContactSegmentsPK(orgID, contactID string) string {
	return OrgPK(orgID) + partContactSeg + contactID
}

// ContactSegmentKey is a segment's membership in its contact's partition.
func ContactSegmentKey(orgID, contactID, segmentID string) Key {
	return Key{ContactSegmentsPK(orgID, contactID), prefixSegment + segmentID}
}

// ContactSegStateKey is a contact's evaluation state (its lock, and when a
// time window next flips one of its memberships).
func ContactSegStateKey(orgID, contactID string) Key {
	return Key{ContactSegmentsPK(orgID, contactID), skState}
}

// EventCountersPK is the partition of one contact's event counters.
func EventCountersPK(orgID, contactID string) string {
	return OrgPK(orgID) + partEventCounters + contactID
}

// EventCounterKey is one counter (an event name and a where clause) of a contact.
func EventCounterKey(orgID, contactID, counterKey string) Key {
	return Key{EventCountersPK(orgID, contactID), counterKey}
}

// Webhooks' keys. An endpoint is an item of the organisation's partition
// (listed by its prefix); the endpoints' count and version live on one item
// of their own, which every create, change and delete moves, so a reader can
// cache the tenant's endpoints until the version changes; an endpoint's
// deliveries are a partition, newest last (delivery ids are ULIDs).
const (
	prefixWebhook     = "WH#"
	prefixDelivery    = "DLV#"
	partWebhooks      = "#WHS"
	partWebhookDelivs = "#WHD#"
)

// WebhookKey is a webhook endpoint.
func WebhookKey(orgID, webhookID string) Key { return Key{OrgPK(orgID), prefixWebhook + webhookID} }

// WebhookPrefix is the sort-key prefix of the organisation's endpoints.
func WebhookPrefix() string { return prefixWebhook }

// WebhooksVersionKey holds the organisation's endpoint count and version.
func WebhooksVersionKey(orgID string) Key { return Key{OrgPK(orgID) + partWebhooks, skVersion} }

// WebhookDeliveriesPK is the partition of one endpoint's deliveries.
func WebhookDeliveriesPK(orgID, webhookID string) string {
	return OrgPK(orgID) + partWebhookDelivs + webhookID
}

// WebhookDeliveryKey is one delivery of an endpoint.
func WebhookDeliveryKey(orgID, webhookID, deliveryID string) Key {
	return Key{WebhookDeliveriesPK(orgID, webhookID), prefixDelivery + deliveryID}
}

// WebhookDeliveryPrefix is the sort-key prefix of deliveries.
func WebhookDeliveryPrefix() string { return prefixDelivery }

// Automation: sequences, their versions, triggers and enrollments;
// campaigns and broadcasts.
//
// A sequence is an item of the organisation's partition (listed by its
// prefix); its versions, immutable once written, are a partition of their
// own. An active sequence has a trigger item in the tenant's triggers
// partition, so the sequence worker reads every trigger of a tenant with one
// small Query per domain event. An enrollment is a partition of its own (its
// steps are its writes: spread, never hot), listed by sequence (GSI1, and
// GSI2 by status), by contact (GSI3) and, while held by a paused sequence,
// in the sequence's held list (GSI4); its timers are its Due keys. A
// contact's entry into a sequence is guarded by one item per (sequence
// generation, contact), in the contact's own partition. A sequence's
// counters are sharded like the tenant's send counters.
const (
	prefixSequence     = "SEQ#"
	prefixSeqVersion   = "V#"
	prefixSeqTrigger   = "TRG#"
	prefixSeqEntry     = "SEQ#"
	prefixShard        = "S#"
	prefixCampaign     = "CMP#"
	prefixBroadcast    = "BC#"
	prefixStatsSource  = "SRC#"
	skEnrollment       = "ENR"
	partSeqVersions    = "#SEQV#"
	partSeqTriggers    = "#SEQTRG"
	partEnrollment     = "#ENR#"
	partSeqEnrollments = "#SEQENR#"
	partSeqHeld        = "#SEQHELD#"
	partContactEnr     = "#CENR#"
	partContactSeqs    = "#CSEQ#"
	partSeqStats       = "#SEQST#"
)

// SequenceKey is a sequence (its current version's document and status).
func SequenceKey(orgID, sequenceID string) Key { return Key{OrgPK(orgID), prefixSequence + sequenceID} }

// SequencePrefix is the sort-key prefix of the organisation's sequences.
func SequencePrefix() string { return prefixSequence }

// SequenceVersionsPK is the partition of one sequence's versions.
func SequenceVersionsPK(orgID, sequenceID string) string {
	return OrgPK(orgID) + partSeqVersions + sequenceID
}

// SequenceVersionKey is version n of a sequence (fixed width: they list in order).
func SequenceVersionKey(orgID, sequenceID string, n int) Key {
	return Key{SequenceVersionsPK(orgID, sequenceID), fmt.Sprintf("%s%010d", prefixSeqVersion, n)}
}

// SequenceTriggersPK is the partition of a tenant's active sequences' triggers.
func SequenceTriggersPK(orgID string) string { return OrgPK(orgID) + partSeqTriggers }

// SequenceTriggerKey is an active sequence's trigger.
func SequenceTriggerKey(orgID, sequenceID string) Key {
	return Key{SequenceTriggersPK(orgID), prefixSeqTrigger + sequenceID}
}

// EnrollmentKey is an enrollment: one contact's run through a sequence.
func EnrollmentKey(orgID, enrollmentID string) Key {
	return Key{OrgPK(orgID) + partEnrollment + enrollmentID, skEnrollment}
}

// SequenceEnrollmentsPK is a sequence's enrollments (GSI1, by id).
func SequenceEnrollmentsPK(orgID, sequenceID string) string {
	return OrgPK(orgID) + partSeqEnrollments + sequenceID
}

// SequenceEnrollmentsByStatusPK is a sequence's enrollments of one status (GSI2, by id).
func SequenceEnrollmentsByStatusPK(orgID, sequenceID, status string) string {
	return SequenceEnrollmentsPK(orgID, sequenceID) + "#" + status
}

// SequenceHeldPK is a paused sequence's held enrollments (GSI4, by id).
func SequenceHeldPK(orgID, sequenceID string) string { return OrgPK(orgID) + partSeqHeld + sequenceID }

// ContactEnrollmentsPK is a contact's enrollments (GSI3, by id).
func ContactEnrollmentsPK(orgID, contactID string) string {
	return OrgPK(orgID) + partContactEnr + contactID
}

// SequenceEntryKey guards a contact's entries into one generation of a
// sequence (a sequence deleted and made again under its id is a new one).
func SequenceEntryKey(orgID, contactID, sequenceID, generation string) Key {
	return Key{OrgPK(orgID) + partContactSeqs + contactID, prefixSeqEntry + sequenceID + "#" + generation}
}

// SequenceStatsPK is the partition of a sequence's counter shards.
func SequenceStatsPK(orgID, sequenceID string) string {
	return OrgPK(orgID) + partSeqStats + sequenceID
}

// SequenceStatsKey is one shard of a sequence's counters.
func SequenceStatsKey(orgID, sequenceID string, shard int) Key {
	return Key{SequenceStatsPK(orgID, sequenceID), prefixShard + strconv.Itoa(shard)}
}

// StatsSourceKey is the all-time send counters, in one shard, of the sends
// of one source (a sequence's step, a broadcast; see sends.Item.Source).
func StatsSourceKey(orgID string, shard int, source string) Key {
	return Key{StatsPK(orgID, shard), prefixStatsSource + source}
}

// StatsSourcePrefix is the sort-key prefix of a source's counters in a
// shard: a prefix of a source ("seq:welcome:") reads a family of them.
func StatsSourcePrefix(source string) string { return prefixStatsSource + source }

// SourceFromStatsSK is the source of a StatsSourceKey's sort key.
func SourceFromStatsSK(sk string) string { return after(sk, prefixStatsSource) }

// CampaignKey is a campaign, an item of the organisation's partition.
func CampaignKey(orgID, campaignID string) Key { return Key{OrgPK(orgID), prefixCampaign + campaignID} }

// CampaignPrefix is the sort-key prefix of the organisation's campaigns.
func CampaignPrefix() string { return prefixCampaign }

// BroadcastKey is a broadcast, an item of the organisation's partition
// (its fan-out's checkpoint is on it).
func BroadcastKey(orgID, broadcastID string) Key {
	return Key{OrgPK(orgID), prefixBroadcast + broadcastID}
}

// BroadcastPrefix is the sort-key prefix of the organisation's broadcasts.
func BroadcastPrefix() string { return prefixBroadcast }
