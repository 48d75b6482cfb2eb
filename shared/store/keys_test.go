package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/sendwell/sendwell/shared/store"
)

// Every inverse helper reads back what its builder wrote, and refuses a
// sort key of another kind.
func TestKeysReadBack(t *testing.T) {
	cases := []struct {
		name  string
		sk    string
		read  func(string) string
		value string
	}{
		{"contact email", store.ContactEmailKey("org_1", "ada@example.com").SK, store.EmailFromContactEmailSK, "ada@example.com"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.value, c.read(c.sk))
			assert.Empty(t, c.read("PROFILE"))
		})
	}
}

// Counters and idempotency records live out of the tenant's main partition,
// in partitions that still start with the tenant.
func TestSidePartitionsStartWithTheTenant(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	org := store.OrgPK("org_1")
	for name, k := range map[string]store.Key{
		"rate":        store.RateLimitKey("org_1", now),
		"idempotency": store.IdempotencyKey("org_1", "client-key"),
	} {
		assert.True(t, strings.HasPrefix(k.PK, org+"#"), name)
		assert.NotEqual(t, org, k.PK, name)
	}
	assert.Equal(t, store.RateLimitPK("org_1"), store.RateLimitKey("org_1", now).PK)
	assert.NotEqual(t, store.RateLimitKey("org_1", now), store.RateLimitKey("org_1", now.Add(time.Minute)))
	assert.NotEqual(t, store.IdempotencyKey("org_1", "a").PK, store.IdempotencyKey("org_1", "b").PK)
	assert.NotEqual(t, store.IdempotencyKey("org_1", "a"), store.IdempotencyKey("org_2", "a"))

	// Failed logins: per email, and per (email, source address).
	assert.NotEqual(t, store.LoginFailPK("ada@example.com"), store.LoginFailSourcePK("ada@example.com", "192.0.2.1"))
	assert.NotEqual(t, store.LoginFailSourcePK("ada@example.com", "192.0.2.1"), store.LoginFailSourcePK("ada@example.com", "192.0.2.2"))
	assert.NotEqual(t, store.LoginFailSourcePK("a#b", "192.0.2.1"), store.LoginFailSourcePK("a", "192.0.2.1#b"))
	assert.NotEqual(t, store.LoginFailPK("IP#192.0.2.1#a"), store.LoginFailSourcePK("a", "192.0.2.1"))
}

// Kind names a key without its values.
func TestKindHidesValues(t *testing.T) {
	cases := []struct {
		key  store.Key
		want string
	}{
		{store.ContactEmailKey("org_1", "ada@example.com"), "ORG#/CEMAIL#"},
		{store.LoginKey("ada@example.com"), "LOGIN#/LOOKUP"},
		{store.OrgKey("org_1"), "ORG#/PROFILE"},
		{store.IdempotencyKey("org_1", "k"), "ORG#/IDEM"},
		{store.RateLimitKey("org_1", time.Now()), "ORG#/MIN#"},
		{store.Key{PK: "raw-value", SK: "another"}, "?/?"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.key.Kind())
	}
}
