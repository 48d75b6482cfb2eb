package domains

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// SES's statuses map to the domain's and each record's.
func TestApplyMapsSESStatuses(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name             string
		c                check
		domain, dkim, mf string
	}{
		{"verified", check{Verified: true, DKIMStatus: "SUCCESS", MailFromStatus: "SUCCESS"}, StatusVerified, StatusVerified, StatusVerified},
		{"verified, MAIL FROM pending", check{Verified: true, DKIMStatus: "SUCCESS", MailFromStatus: "PENDING"}, StatusVerified, StatusVerified, StatusPending},
		{"DKIM not started (moto)", check{DKIMStatus: "NOT_STARTED"}, StatusPending, StatusPending, StatusPending},
		{"DKIM pending", check{DKIMStatus: "PENDING", MailFromStatus: "FAILED"}, StatusPending, StatusPending, StatusFailed},
		{"DKIM temporary failure", check{DKIMStatus: "TEMPORARY_FAILURE"}, StatusPending, StatusPending, StatusPending},
		{"DKIM failed", check{DKIMStatus: "FAILED", MailFromStatus: "SUCCESS"}, StatusFailed, StatusFailed, StatusVerified},
		{"DKIM verified, identity not yet", check{DKIMStatus: "SUCCESS"}, StatusPending, StatusVerified, StatusPending},
		{"identity gone", check{Missing: true}, StatusFailed, StatusFailed, StatusFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			it := item{Records: records("example.com", "mail.example.com", "eu-west-1", []string{"a", "b", "c"})}
			apply(&it, c.c, now)
			assert.Equal(t, c.domain, it.Status)
			require.NotNil(t, it.LastCheckedAt)
			assert.Equal(t, now, *it.LastCheckedAt)
			for _, r := range it.Records {
				switch r.Purpose {
				case PurposeDKIM:
					assert.Equal(t, c.dkim, r.Status, r.Name)
				case PurposeMailFromMX, PurposeMailFromSPF:
					assert.Equal(t, c.mf, r.Status, r.Name)
				case PurposeDMARC:
					assert.Equal(t, StatusUnchecked, r.Status, "SES does not check DMARC")
				}
			}
		})
	}
}

// moto lacks PutEmailIdentityMailFromAttributes (a bare HTTP 404): the
// adapter calls it and names the answer ErrUnsupported, which only the
// local setting takes as done. A missing identity is ErrIdentityMissing,
// not ErrUnsupported, and deleting one is fine.
func TestIdentitiesOverMoto(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	client := sesv2.NewFromConfig(env.Config)
	name := "identities-over-moto.example.com"
	strict := Identities{SES: client, Region: "us-east-1"}
	local := Identities{SES: client, Region: "us-east-1", LocalAutoVerify: true}

	tokens, err := strict.Create(ctx, name)
	require.NoError(t, err)
	assert.Empty(t, tokens, "moto returns no DKIM tokens")
	assert.ErrorIs(t, strict.SetMailFrom(ctx, name, "mail."+name), ErrUnsupported)
	assert.NoError(t, local.SetMailFrom(ctx, name, "mail."+name))

	c, err := strict.Check(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, check{DKIMStatus: "NOT_STARTED"}, c)
	c, err = local.Check(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, check{Verified: true, DKIMStatus: "SUCCESS", MailFromStatus: "SUCCESS"}, c)

	tokens, err = local.Create(ctx, name)
	require.NoError(t, err)
	assert.Len(t, tokens, 3, "stand-ins under the local setting")
	assert.Equal(t, tokens, standInTokens(name), "the same name, the same stand-ins")
	assert.NotEqual(t, tokens, standInTokens("other.example.com"))

	require.NoError(t, strict.Delete(ctx, name))
	require.NoError(t, strict.Delete(ctx, name), "an identity already deleted is fine")
	c, err = strict.Check(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, check{Missing: true}, c)
	assert.ErrorIs(t, strict.SetMailFrom(ctx, name, "mail."+name), ErrUnsupported, "moto's 404 has no NotFoundException body")
}

// fakeSES answers what moto never does: AlreadyExistsException, and
// throttling and limits by their SES types.
type fakeSES struct {
	SES
	create error
	got    *sesv2.GetEmailIdentityOutput
	gets   int
}

func (f *fakeSES) CreateEmailIdentity(context.Context, *sesv2.CreateEmailIdentityInput, ...func(*sesv2.Options)) (*sesv2.CreateEmailIdentityOutput, error) {
	return nil, f.create
}

func (f *fakeSES) GetEmailIdentity(context.Context, *sesv2.GetEmailIdentityInput, ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error) {
	f.gets++
	return f.got, nil
}

// An identity SES already has (its creator died before recording it) is
// adopted with its tokens; SES's throttling is Unavailable and its limit
// Unprocessable.
func TestCreateAdoptsAnExistingIdentityAndMapsFailures(t *testing.T) {
	ctx := context.Background()
	f := &fakeSES{create: &types.AlreadyExistsException{Message: aws.String("exists")},
		got: &sesv2.GetEmailIdentityOutput{DkimAttributes: &types.DkimAttributes{Tokens: []string{"t1", "t2", "t3"}}}}
	tokens, err := Identities{SES: f}.Create(ctx, "example.com")
	require.NoError(t, err)
	assert.Equal(t, []string{"t1", "t2", "t3"}, tokens)
	assert.Equal(t, 1, f.gets)

	f.create = &types.TooManyRequestsException{Message: aws.String("slow down")}
	_, err = Identities{SES: f}.Create(ctx, "example.com")
	var un *errs.Unavailable
	assert.ErrorAs(t, err, &un)
	assert.Equal(t, 1, f.gets, "no read after a failure")

	f.create = &types.LimitExceededException{Message: aws.String("too many identities")}
	_, err = Identities{SES: f}.Create(ctx, "example.com")
	var u *errs.Unprocessable
	assert.ErrorAs(t, err, &u)
}

func TestNormaliseName(t *testing.T) {
	for in, want := range map[string]string{
		" Example.COM ":         "example.com",
		"bücher.example":        "xn--bcher-kva.example",
		"ÉCOLE.fr":              "xn--cole-9oa.fr",
		"news.example.co.uk":    "news.example.co.uk",
		"sendwell.local":        "sendwell.local",
		"a-b.c-d.example.com":   "a-b.c-d.example.com",
		"xn--bcher-kva.example": "xn--bcher-kva.example",
	} {
		got, err := NormaliseName(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	for _, in := range []string{"http://example.com", "example.com/x", "example.com:25", "example.com.", "10.0.0.1", "co.uk", "com", "a..b", strings.Repeat("x", 2000)} {
		_, err := NormaliseName(in)
		var v *errs.Validation
		if assert.ErrorAs(t, err, &v, in) {
			assert.Equal(t, "name", v.Field, in)
		}
	}
}

// go test -bench . -benchmem ./shared/domains/
func BenchmarkNormaliseName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NormaliseName("  News.Bücher.Example.CO.UK "); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDomainAPI(b *testing.B) {
	it := item{ID: "dom_x", Name: "example.com", Records: records("example.com", "mail.example.com", "eu-west-1", standInTokens("example.com"))}
	b.ReportAllocs()
	for b.Loop() {
		_ = it.API()
	}
}
