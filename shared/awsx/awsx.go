// Package awsx builds the AWS configuration of a Lambda function and counts
// the calls made through it, so tests can hold each operation to a budget of
// AWS calls.
package awsx

import (
	"context"
	"errors"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Load returns the AWS configuration of a Lambda function, read from the
// environment Lambda gives it: AWS_REGION, the execution role's credentials
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) and, for a
// local emulator, AWS_ENDPOINT_URL.
//
// It does not use config.LoadDefaultConfig on purpose: the default chain
// links the SSO, SSO-OIDC, STS, sign-in and IMDS clients to support
// credential sources a Lambda never has, and their package inits alone cost
// about 1.2 ms of every cold start. Retries are the SDK's standard retryer,
// as with the default chain.
func Load(context.Context) (aws.Config, error) {
	creds := aws.Credentials{
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
		Source:          "Lambda environment",
	}
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	switch {
	case region == "":
		return aws.Config{}, errors.New("awsx: AWS_REGION is not set (Lambda sets it)")
	case creds.AccessKeyID == "" || creds.SecretAccessKey == "":
		return aws.Config{}, errors.New("awsx: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them from the function's role)")
	}
	cfg := aws.Config{Region: region, Credentials: staticCredentials{creds}}
	if ep := os.Getenv("AWS_ENDPOINT_URL"); ep != "" {
		cfg.BaseEndpoint = &ep
	}
	return cfg, nil
}

// staticCredentials are the role credentials Lambda puts in the
// environment, valid for the life of the execution environment.
type staticCredentials struct{ c aws.Credentials }

func (s staticCredentials) Retrieve(context.Context) (aws.Credentials, error) { return s.c, nil }

// Counter counts AWS calls by "Service.Operation" (for example "DynamoDB.GetItem").
type Counter struct {
	mu     sync.Mutex
	counts map[string]int
}

// NewCounter returns an empty Counter.
func NewCounter() *Counter { return &Counter{counts: map[string]int{}} }

// Instrument adds the counter to every client built from cfg afterwards.
func (c *Counter) Instrument(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("sendwellCallCounter",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				c.add(awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx))
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
}

func (c *Counter) add(op string) {
	c.mu.Lock()
	c.counts[op]++
	c.mu.Unlock()
}

// Reset forgets every count.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.counts = map[string]int{}
	c.mu.Unlock()
}

// Snapshot returns a copy of the counts.
func (c *Counter) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// Count returns the calls to one "Service.Operation".
func (c *Counter) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[op]
}
