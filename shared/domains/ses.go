package domains

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/sendwell/sendwell/shared/errs"
)

// SES is the part of the Amazon SES v2 client the domains group uses.
type SES interface {
	CreateEmailIdentity(context.Context, *sesv2.CreateEmailIdentityInput, ...func(*sesv2.Options)) (*sesv2.CreateEmailIdentityOutput, error)
	GetEmailIdentity(context.Context, *sesv2.GetEmailIdentityInput, ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error)
	DeleteEmailIdentity(context.Context, *sesv2.DeleteEmailIdentityInput, ...func(*sesv2.Options)) (*sesv2.DeleteEmailIdentityOutput, error)
	PutEmailIdentityMailFromAttributes(context.Context, *sesv2.PutEmailIdentityMailFromAttributesInput, ...func(*sesv2.Options)) (*sesv2.PutEmailIdentityMailFromAttributesOutput, error)
}

var _ SES = (*sesv2.Client)(nil)

// Failures of SES calls the service tells apart.
var (
	// ErrIdentityMissing is SES's NotFoundException: no such identity.
	ErrIdentityMissing = errors.New("domains: no such SES identity")
	// ErrUnsupported is an endpoint that does not know the operation at
	// all: an HTTP 404 that is not SES's NotFoundException. moto answers
	// PutEmailIdentityMailFromAttributes so.
	ErrUnsupported = errors.New("domains: the SES endpoint does not support this operation")
	// errIdentityExists is SES's AlreadyExistsException.
	errIdentityExists = errors.New("domains: the SES identity exists")
)

// Identities is the SES adapter: sending domains as SES v2 email identities
// with Easy DKIM and a custom MAIL FROM domain.
//
// LocalAutoVerify is for a local emulator (moto) only, never for AWS. moto
// reports an identity unverified with DKIM NOT_STARTED forever, returns no
// DKIM tokens and lacks PutEmailIdentityMailFromAttributes (an HTTP 404).
// With LocalAutoVerify, Check finds every existing identity verified, a new
// identity without tokens gets three stand-in tokens derived from its name
// (so the records look as in AWS), and ErrUnsupported from the MAIL FROM
// call counts as done. Without it, each of these is what SES said: an
// unsupported call is an error.
type Identities struct {
	SES             SES
	Region          string // the SES region, for the MAIL FROM MX record
	LocalAutoVerify bool
}

// Create makes the identity of name with Easy DKIM and returns its DKIM
// tokens. An identity SES already has (one whose owner died before
// recording it) is adopted: its tokens are read back.
func (x Identities) Create(ctx context.Context, name string) ([]string, error) {
	out, err := x.SES.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(name)})
	err = sesErr("create identity", err)
	var tokens []string
	switch {
	case errors.Is(err, errIdentityExists):
		got, err := x.SES.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(name)})
		if err != nil {
			return nil, sesErr("get existing identity", err)
		}
		if got.DkimAttributes != nil {
			tokens = got.DkimAttributes.Tokens
		}
	case err != nil:
		return nil, err
	case out.DkimAttributes != nil:
		tokens = out.DkimAttributes.Tokens
	}
	if len(tokens) == 0 && x.LocalAutoVerify {
		tokens = standInTokens(name)
	}
	return tokens, nil
}

// SetMailFrom makes mailFrom the identity's MAIL FROM domain; SES falls back
// to its own while the MX record is missing.
func (x Identities) SetMailFrom(ctx context.Context, name, mailFrom string) error {
	_, err := x.SES.PutEmailIdentityMailFromAttributes(ctx, &sesv2.PutEmailIdentityMailFromAttributesInput{
		EmailIdentity:       aws.String(name),
		MailFromDomain:      aws.String(mailFrom),
		BehaviorOnMxFailure: types.BehaviorOnMxFailureUseDefaultValue,
	})
	err = sesErr("set MAIL FROM", err)
	if errors.Is(err, ErrUnsupported) && x.LocalAutoVerify {
		return nil
	}
	return err
}

// Check reads the identity's verification now.
func (x Identities) Check(ctx context.Context, name string) (check, error) {
	out, err := x.SES.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(name)})
	err = sesErr("get identity", err)
	if errors.Is(err, ErrIdentityMissing) {
		return check{Missing: true}, nil
	}
	if err != nil {
		return check{}, err
	}
	if x.LocalAutoVerify {
		return check{Verified: true, DKIMStatus: string(types.DkimStatusSuccess), MailFromStatus: string(types.MailFromDomainStatusSuccess)}, nil
	}
	c := check{Verified: out.VerifiedForSendingStatus}
	if out.DkimAttributes != nil {
		c.DKIMStatus = string(out.DkimAttributes.Status)
	}
	if out.MailFromAttributes != nil {
		c.MailFromStatus = string(out.MailFromAttributes.MailFromDomainStatus)
	}
	return c, nil
}

// Delete deletes the identity; one SES does not have is already deleted.
func (x Identities) Delete(ctx context.Context, name string) error {
	_, err := x.SES.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String(name)})
	if err = sesErr("delete identity", err); errors.Is(err, ErrIdentityMissing) {
		return nil
	}
	return err
}

// sesRetryAfter is the Retry-After, in seconds, of an SES that throttles.
const sesRetryAfter = 1

// sesErr maps an SES failure (after the SDK's retries) at the boundary:
// throttling and 5xx are *errs.Unavailable, the account's identity limit an
// *errs.Unprocessable, and the sentinels above what the service tells
// apart. Anything else stays an error (a 500).
func sesErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var (
		notFound *types.NotFoundException
		exists   *types.AlreadyExistsException
		limit    *types.LimitExceededException
		api      smithy.APIError
		status   interface{ HTTPStatusCode() int }
	)
	code := 0
	if errors.As(err, &status) {
		code = status.HTTPStatusCode()
	}
	switch {
	case errors.As(err, &notFound):
		return fmt.Errorf("domains: ses %s: %w", op, ErrIdentityMissing)
	case errors.As(err, &exists):
		return fmt.Errorf("domains: ses %s: %w", op, errIdentityExists)
	case errors.As(err, &limit):
		return &errs.Unprocessable{Message: "The account's limit of SES identities is reached; delete a domain first."}
	case errors.As(err, &api) && (api.ErrorCode() == "TooManyRequestsException" || api.ErrorCode() == "ThrottlingException"),
		code == http.StatusTooManyRequests, code >= 500:
		return errs.NewUnavailable(sesRetryAfter, fmt.Errorf("domains: ses %s: %w", op, err))
	case code == http.StatusNotFound:
		return fmt.Errorf("domains: ses %s: %w", op, ErrUnsupported)
	}
	return fmt.Errorf("domains: ses %s: %w", op, err)
}

// standInTokens are three DKIM tokens derived from name, for an emulator
// that returns none: the same name always gets the same tokens.
func standInTokens(name string) []string {
	out := make([]string, 3)
	for i := range out {
		sum := sha256.Sum256([]byte("sendwell local dkim " + strconv.Itoa(i) + " " + name))
		out[i] = hex.EncodeToString(sum[:16])
	}
	return out
}
