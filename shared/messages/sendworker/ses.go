package sendworker

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"
)

// sesVerdict is what an SES failure means for the send.
type sesVerdict int

const (
	// sesRetry: SES did not take the email (throttled, or failing): release
	// the claim and let SQS try again after its backoff.
	sesRetry sesVerdict = iota + 1
	// sesPermanent: SES refused the email and would again: the send fails.
	sesPermanent
	// sesUnknown: SES may have the email (no answer): never try again; the
	// lease lapses and the scheduler marks the send unknown.
	sesUnknown
)

// classifySES says what an error of SendEmail means. SendingPausedException
// (the account's or the configuration set's sending paused) is retried:
// the email is fine, and after SQS's last try it waits in the DLQ for a
// redrive once sending resumes, instead of failing every email of the
// pause.
func classifySES(err error) sesVerdict {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "TooManyRequestsException", "LimitExceededException", "ThrottlingException", "Throttling",
			"SendingPausedException", "InternalFailure", "ServiceUnavailable":
			return sesRetry
		}
		if strings.Contains(api.ErrorMessage(), "Maximum sending rate exceeded") {
			return sesRetry
		}
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		if status.HTTPStatusCode() >= 500 || status.HTTPStatusCode() == 429 {
			return sesRetry
		}
		return sesPermanent
	}
	if api != nil {
		return sesPermanent
	}
	// No answer. A connection that was never made never reached SES; any
	// other failure may have happened after SES took the email.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return sesRetry
	}
	return sesUnknown
}

// sesReason is the send's reason for a permanent SES failure: SES's error
// code only (SES's message may quote addresses; it goes on the timeline).
func sesReason(err error) (string, map[string]any) {
	var api smithy.APIError
	if errors.As(err, &api) {
		return "ses: " + api.ErrorCode(), map[string]any{"code": api.ErrorCode(), "message": api.ErrorMessage()}
	}
	return "ses: the email was refused", nil
}

// SESClient is the SES v2 client of the send worker. The SDK does not
// retry SendEmail: it is not idempotent, so a retry after a lost answer
// could send twice. Throttling goes back to SQS instead (see classifySES).
func SESClient(cfg aws.Config) *sesv2.Client {
	return sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.RetryMaxAttempts = 1 })
}

// sesCause is err as the logs may show it: SES's code and HTTP status,
// never its message (which may quote an address).
func sesCause(err error) error {
	code := "no answer"
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		return fmt.Errorf("ses: %s (HTTP %d)", code, status.HTTPStatusCode())
	}
	return fmt.Errorf("ses: %s", code)
}
