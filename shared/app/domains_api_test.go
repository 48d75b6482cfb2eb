package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/domains"
	"github.com/sendwell/sendwell/shared/store"
)

// domainsAPI is the harness with the SES adapter's local setting on (as
// under `make run`) or off (as in AWS); the setting is read when the routes
// are built.
func domainsAPI(t *testing.T, autoVerify bool, opts ...option) *api {
	t.Helper()
	t.Setenv(domains.LocalAutoVerifyEnv, fmt.Sprint(autoVerify))
	return newAPI(t, opts...)
}

// domainName is a name no other test uses: SES identities are per account,
// and every test binary shares one emulator.
func domainName(t *testing.T, label string) string {
	t.Helper()
	return label + "-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + ".example.com"
}

func (c *tenantAPI) createDomain(body map[string]any) map[string]any {
	c.t.Helper()
	r := c.call("POST", "/api/domains", body)
	require.Equal(c.t, http.StatusCreated, r.Status, string(r.Body))
	return r.JSON(c.t)
}

// sesIdentity reads the SES identity of name from the emulator directly.
func (a *api) sesIdentity(name string) (*sesv2.GetEmailIdentityOutput, error) {
	return sesv2.NewFromConfig(a.env.Config).GetEmailIdentity(context.Background(), &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(name)})
}

// claimExists reads the global claim of name from the table.
func (a *api) claimExists(name string) bool {
	a.t.Helper()
	var c map[string]any
	err := a.env.Store.GetConsistent(context.Background(), store.DomainClaimKey(name), &c)
	if err != nil {
		require.ErrorContains(a.t, err, "not found")
		return false
	}
	return true
}

// The whole life of a domain under `make run`'s setting: the records to
// publish, a verify that finds it verified, and a delete that removes the
// SES identity and frees the name.
func TestDomainLifecycle(t *testing.T) {
	a := domainsAPI(t, true)
	c := a.tenant("owner@example.com")
	name := domainName(t, "acme")

	d := c.createDomain(map[string]any{"name": "  " + strings.ToUpper(name) + " "})
	id := d["id"].(string)
	assert.Regexp(t, `^dom_[0-9A-Z]{26}$`, id)
	assert.Equal(t, name, d["name"], "trimmed and lower-cased")
	assert.Equal(t, "pending", d["status"])
	assert.Equal(t, "mail."+name, d["mailFromDomain"])
	assert.Equal(t, t0.Format(time.RFC3339), d["createdAt"])
	assert.Nil(t, d["lastCheckedAt"])

	recs := d["records"].([]any)
	require.Len(t, recs, 6, "three DKIM CNAMEs, MX, SPF, DMARC")
	for _, r := range recs[:3] {
		rec := r.(map[string]any)
		assert.Equal(t, "CNAME", rec["type"])
		assert.Equal(t, "dkim", rec["purpose"])
		assert.Equal(t, "pending", rec["status"])
		token := strings.TrimSuffix(rec["name"].(string), "._domainkey."+name)
		assert.Regexp(t, `^[0-9a-z]{32}$`, token)
		assert.Equal(t, token+".dkim.amazonses.com", rec["value"])
		assert.NotContains(t, rec, "priority")
		assert.NotContains(t, rec, "recommended")
	}
	assert.Equal(t, map[string]any{"type": "MX", "name": "mail." + name, "value": "feedback-smtp.us-east-1.amazonses.com", "priority": float64(10), "purpose": "mail-from-mx", "status": "pending"}, recs[3])
	assert.Equal(t, map[string]any{"type": "TXT", "name": "mail." + name, "value": "v=spf1 include:amazonses.com ~all", "purpose": "mail-from-spf", "status": "pending"}, recs[4])
	assert.Equal(t, map[string]any{"type": "TXT", "name": "_dmarc." + name, "value": "v=DMARC1; p=none; rua=mailto:dmarc@" + name, "purpose": "dmarc", "status": "unchecked", "recommended": true}, recs[5])

	identity, err := a.sesIdentity(name)
	require.NoError(t, err, "the SES identity exists")
	assert.Equal(t, sestypes.IdentityTypeDomain, identity.IdentityType)

	got := c.call("GET", "/api/domains/"+id, nil)
	require.Equal(t, http.StatusOK, got.Status, string(got.Body))
	assert.Equal(t, d, got.JSON(t))
	list := c.call("GET", "/api/domains", nil).JSON(t)
	assert.Equal(t, []any{d}, list["data"])
	assert.Nil(t, list["nextCursor"])

	a.clock.Advance(time.Hour)
	v := c.call("POST", "/api/domains/"+id+"/verify", nil)
	require.Equal(t, http.StatusOK, v.Status, string(v.Body))
	verified := v.JSON(t)
	assert.Equal(t, "verified", verified["status"])
	assert.Equal(t, t0.Add(time.Hour).Format(time.RFC3339), verified["lastCheckedAt"])
	for _, r := range verified["records"].([]any) {
		rec := r.(map[string]any)
		want := "verified"
		if rec["purpose"] == "dmarc" {
			want = "unchecked"
		}
		assert.Equal(t, want, rec["status"], rec["name"])
	}
	assert.Equal(t, verified, c.call("GET", "/api/domains/"+id, nil).JSON(t), "the check is stored")

	require.Equal(t, http.StatusNoContent, c.call("DELETE", "/api/domains/"+id, nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("GET", "/api/domains/"+id, nil).Status)
	assert.Equal(t, http.StatusNotFound, c.call("DELETE", "/api/domains/"+id, nil).Status)
	_, err = a.sesIdentity(name)
	var nf *sestypes.NotFoundException
	assert.True(t, errors.As(err, &nf), "the SES identity is deleted: %v", err)
	assert.False(t, a.claimExists(name), "the claim is deleted")

	other := a.tenant("next@example.com")
	again := other.createDomain(map[string]any{"name": name, "mailFromSubdomain": "Bounce"})
	assert.Equal(t, "bounce."+name, again["mailFromDomain"], "the name is free for anyone; the subdomain lower-cased")
}

// Lists are newest first, a page at a time.
func TestDomainListPages(t *testing.T) {
	a := domainsAPI(t, true)
	c := a.tenant("pages@example.com")
	var want []string
	for i := range 3 {
		want = append([]string{c.createDomain(map[string]any{"name": domainName(t, fmt.Sprint("d", i))})["id"].(string)}, want...)
		a.clock.Advance(time.Second)
	}
	var got []string
	path := "/api/domains?limit=2"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 3)
		page := c.call("GET", path, nil).JSON(t)
		for _, d := range page["data"].([]any) {
			got = append(got, d.(map[string]any)["id"].(string))
		}
		path = ""
		if next, ok := page["nextCursor"].(string); ok {
			path = "/api/domains?limit=2&cursor=" + next
		}
	}
	assert.Equal(t, want, got)
}

// Every malformed name is a 400 naming `name`; accepted ones come back
// normalised.
func TestDomainNameValidation(t *testing.T) {
	a := domainsAPI(t, true)
	c := a.tenant("names@example.com")
	suffix := strings.ToLower(strings.ReplaceAll(t.Name(), "_", "-"))
	bad := []struct{ name, why string }{
		{"", "required"},
		{"https://example.com", "scheme"},
		{"example.com/path", "path"},
		{"example.com:8080", "port"},
		{"example.com.", "trailing dot"},
		{"192.168.0.1", "IPv4"},
		{"[::1]", "IPv6"},
		{"2001:db8::1", "IPv6 without brackets"},
		{"localhost", "one label"},
		{"com", "a TLD"},
		{"co.uk", "a public suffix"},
		{"github.io", "a private public suffix"},
		{"exa_mple.com", "underscore"},
		{"-example.com", "leading hyphen"},
		{"example-.com", "trailing hyphen"},
		{"ex..ample.com", "empty label"},
		{strings.Repeat("a", 64) + ".com", "label over 63"},
		{strings.Repeat("abcdefghi.", 26) + "com", "over 253"},
		{"ada@example.com", "an email"},
		{"example.123", "numeric TLD"},
	}
	for _, b := range bad {
		r := c.call("POST", "/api/domains", map[string]any{"name": b.name})
		if assert.Equal(t, http.StatusBadRequest, r.Status, "%s (%q): %s", b.why, b.name, r.Body) {
			assert.Contains(t, r.ErrMessage(t), "'name'", b.why)
		}
	}
	for _, sub := range []string{"two.labels", "-x", "", "a_b"} {
		r := c.call("POST", "/api/domains", map[string]any{"name": "sub-" + suffix + ".example.com", "mailFromSubdomain": sub})
		if assert.Equal(t, http.StatusBadRequest, r.Status, "mailFromSubdomain %q", sub) {
			assert.Contains(t, r.ErrMessage(t), "'mailFromSubdomain'")
		}
	}
	assert.Equal(t, http.StatusBadRequest, c.call("POST", "/api/domains", map[string]any{"name": "x.example.com", "extra": 1}).Status, "unknown fields are refused")

	good := []struct{ in, want string }{
		{"Bücher-" + suffix + ".Example", "xn--bcher-" + suffix + "-"},
		{"MAIL." + strings.ToUpper(suffix) + ".EXAMPLE.CO.UK", "mail." + suffix + ".example.co.uk"},
		{"sendwell-" + suffix + ".local", "sendwell-" + suffix + ".local"},
	}
	for _, g := range good {
		d := c.createDomain(map[string]any{"name": g.in})
		assert.True(t, strings.HasPrefix(d["name"].(string), g.want), "%q → %v", g.in, d["name"])
	}
	assert.Equal(t, len(good), a.env.Counter.Count("SESv2.CreateEmailIdentity"), "no SES call for a refused name")
}

// A domain belongs to one tenant: a second claim, by anyone, is a 409, and
// of two tenants racing for one name exactly one gets it.
func TestDomainClaims(t *testing.T) {
	a := domainsAPI(t, true)
	alice, bob := a.tenant("alice@example.com"), a.tenant("bob@example.com")
	name := domainName(t, "taken")
	d := alice.createDomain(map[string]any{"name": name})

	again := alice.call("POST", "/api/domains", map[string]any{"name": name})
	assert.Equal(t, http.StatusConflict, again.Status)
	assert.Contains(t, again.ErrMessage(t), d["id"].(string), "the owner is told which of its domains it is")
	theirs := bob.call("POST", "/api/domains", map[string]any{"name": strings.ToUpper(name)})
	assert.Equal(t, http.StatusConflict, theirs.Status)
	assert.Equal(t, "CONFLICT", theirs.ErrCode(t))
	assert.NotContains(t, theirs.ErrMessage(t), d["id"].(string), "another tenant learns nothing of the owner")
	assert.Empty(t, bob.call("GET", "/api/domains", nil).JSON(t)["data"])

	raced := domainName(t, "raced")
	tenants := []*tenantAPI{alice, bob, a.tenant("carol@example.com"), a.tenant("dave@example.com")}
	answers, byStatus := a.concurrently(8, func(i int) (sent, error) {
		return tryDo(a, "POST", "/api/domains", map[string]any{"name": raced}, bearer(tenants[i%len(tenants)].key)...)
	})
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: 7}, byStatus)
	owners := 0
	for _, tn := range tenants {
		for _, dom := range tn.call("GET", "/api/domains", nil).JSON(t)["data"].([]any) {
			if dom.(map[string]any)["name"] == raced {
				owners++
			}
		}
	}
	assert.Equal(t, 1, owners, "one tenant has it")
	for _, s := range answers {
		if s.res.Status == http.StatusCreated {
			_, err := a.sesIdentity(raced)
			assert.NoError(t, err, "the winner's SES identity exists")
		}
	}
}

// When SES fails, nothing is kept: no domain, no claim, no identity, and
// the name is free for the next try.
func TestDomainSESFailureRollsBack(t *testing.T) {
	faults := awsx.NewFaults()
	a := domainsAPI(t, true, withFaults(faults))
	c := a.tenant("faults@example.com")
	name := domainName(t, "flaky")

	faults.FailFrom("SESv2.CreateEmailIdentity", 1, awsx.Throttling)
	r := c.call("POST", "/api/domains", map[string]any{"name": name})
	assert.Equal(t, http.StatusServiceUnavailable, r.Status, string(r.Body))
	assert.Equal(t, "1", r.Header.Get("Retry-After"))
	assert.Equal(t, 3, faults.Attempts("SESv2.CreateEmailIdentity"), "the SDK retried throttling")
	assert.False(t, a.claimExists(name), "the claim is removed")
	assert.Empty(t, c.call("GET", "/api/domains", nil).JSON(t)["data"], "the domain is removed")

	faults.Reset()
	faults.FailFrom("SESv2.CreateEmailIdentity", 1, awsx.InternalServerError)
	assert.Equal(t, http.StatusServiceUnavailable, c.call("POST", "/api/domains", map[string]any{"name": name}).Status, "SES 5xx")
	assert.False(t, a.claimExists(name))

	// The identity exists but its MAIL FROM cannot be set: it is deleted too.
	faults.Reset()
	faults.FailFrom("SESv2.PutEmailIdentityMailFromAttributes", 1, awsx.Throttling)
	assert.Equal(t, http.StatusServiceUnavailable, c.call("POST", "/api/domains", map[string]any{"name": name}).Status)
	assert.False(t, a.claimExists(name))
	_, err := a.sesIdentity(name)
	var nf *sestypes.NotFoundException
	assert.True(t, errors.As(err, &nf), "the identity made before the failure is deleted: %v", err)

	faults.Reset()
	d := c.createDomain(map[string]any{"name": name})
	assert.Equal(t, name, d["name"], "the name was left free")
}

// With the local setting off (as in AWS), moto's answers are taken as they
// are: a verify finds the domain pending, and moto's missing MAIL FROM call
// is an error that leaves nothing behind.
func TestDomainLocalSettingOff(t *testing.T) {
	local := domainsAPI(t, true)
	c := local.tenant("strict@example.com")
	name := domainName(t, "strict")
	id := c.createDomain(map[string]any{"name": name})["id"].(string)

	t.Setenv(domains.LocalAutoVerifyEnv, "")
	strict := newAPIOn(t, local.env, local.clock)
	cs := &tenantAPI{api: strict, s: c.s, key: c.key}
	local.clock.Advance(time.Minute)
	v := cs.call("POST", "/api/domains/"+id+"/verify", nil)
	require.Equal(t, http.StatusOK, v.Status, string(v.Body))
	d := v.JSON(t)
	assert.Equal(t, "pending", d["status"], "moto: unverified, DKIM NOT_STARTED")
	assert.Equal(t, t0.Add(time.Minute).Format(time.RFC3339), d["lastCheckedAt"])
	for _, r := range d["records"].([]any) {
		rec := r.(map[string]any)
		want := "pending"
		if rec["purpose"] == "dmarc" {
			want = "unchecked"
		}
		assert.Equal(t, want, rec["status"], rec["name"])
	}

	other := domainName(t, "nomailfrom")
	r := cs.call("POST", "/api/domains", map[string]any{"name": other})
	assert.Equal(t, http.StatusInternalServerError, r.Status, "an unsupported SES call is an error outside the local setting")
	assert.False(t, strict.claimExists(other))
	_, err := strict.sesIdentity(other)
	var nf *sestypes.NotFoundException
	assert.True(t, errors.As(err, &nf), "the identity is deleted again: %v", err)
}

// Another tenant's domain ids answer 404 on every route and change nothing.
func TestDomainsOfAnotherTenantAnswer404(t *testing.T) {
	a := domainsAPI(t, true)
	alice, mallory := a.tenant("alice@example.com"), a.tenant("mallory@example.com")
	name := domainName(t, "secret")
	id := alice.createDomain(map[string]any{"name": name})["id"].(string)
	before := alice.call("GET", "/api/domains/"+id, nil).JSON(t)

	for _, s := range []struct{ method, path string }{
		{"GET", "/api/domains/" + id},
		{"POST", "/api/domains/" + id + "/verify"},
		{"DELETE", "/api/domains/" + id},
		{"GET", "/api/domains/dom_not-an-id"},
	} {
		r := mallory.call(s.method, s.path, nil)
		assert.Equal(t, http.StatusNotFound, r.Status, "%s %s", s.method, s.path)
		assert.NotContains(t, string(r.Body), name)
	}
	assert.Empty(t, mallory.call("GET", "/api/domains", nil).JSON(t)["data"])
	assert.Equal(t, before, alice.call("GET", "/api/domains/"+id, nil).JSON(t), "nothing changed")
	_, err := a.sesIdentity(name)
	assert.NoError(t, err, "the SES identity is still there")
}

// AWS call budgets of the domains routes, each plus the rate-limit UpdateItem.
func TestCostOfDomainRoutes(t *testing.T) {
	a := domainsAPI(t, true)
	c := a.tenant("budget@example.com")
	c.call("GET", "/api/domains", nil) // warm the key cache
	count := c.callCost
	created := count("POST", "/api/domains", map[string]any{"name": domainName(t, "cost")})
	assert.Equal(t, map[string]int{"DynamoDB.TransactWriteItems": 1, "SESv2.CreateEmailIdentity": 1,
		"SESv2.PutEmailIdentityMailFromAttributes": 1, "DynamoDB.PutItem": 1}, created, "the claim, SES, then the records")
	id := c.call("GET", "/api/domains", nil).JSON(t)["data"].([]any)[0].(map[string]any)["id"].(string)
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1}, count("GET", "/api/domains/"+id, nil), "get: one read")
	assert.Equal(t, map[string]int{"DynamoDB.Query": 1}, count("GET", "/api/domains", nil), "list: one Query")
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "SESv2.GetEmailIdentity": 1, "DynamoDB.PutItem": 1},
		count("POST", "/api/domains/"+id+"/verify", nil), "verify: a read, SES, a write")
	assert.Equal(t, map[string]int{"DynamoDB.GetItem": 1, "SESv2.DeleteEmailIdentity": 1, "DynamoDB.TransactWriteItems": 1},
		count("DELETE", "/api/domains/"+id, nil), "delete: a read, SES, one transaction")
}
