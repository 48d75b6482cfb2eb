// Package config reads a function's settings from the environment once, at
// cold start, and fails fast with a message that says what is missing. The
// Lambdas and the local server (`make run`) read them through the same
// FromEnv, so a setting means the same thing in both.
package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultEventRetention is how long events are kept when EVENT_RETENTION_DAYS is unset.
const DefaultEventRetention = 400 * 24 * time.Hour

// Config is what the functions need. Each function reads it all but checks
// only what it uses (Require: the table, a queue). Only the API functions
// read the JWT secret (LoadJWTSecret), and only the send worker and the
// public function read the link secret (LoadLinkSecret): no other function
// asks SSM for either.
type Config struct {
	TableName string
	JWTSecret []byte // API functions only
	// LinkSecret signs the unsubscribe and tracking links in sent mail (the
	// send worker and the public function only). It is not the JWT secret:
	// rotating that signs everyone out, and must not break the links of
	// mail sent months ago.
	LinkSecret []byte
	// WebhookKey encrypts webhook endpoints' signing secrets at rest (the
	// webhooks API and worker only): a key that is not in the table.
	WebhookKey []byte
	// WebhookAllowedHosts (WEBHOOK_ALLOWED_HOSTS) exempts exact hosts, or
	// host:port, from webhooks' address checks and allows http for them:
	// empty in AWS, "localhost,127.0.0.1" under `make run`.
	WebhookAllowedHosts string
	RateLimitPerMinute  int // 0: each plan's own limit
	Stage               string
	EventRetention      time.Duration // how long events are kept (EVENT_RETENTION_DAYS, default 400)

	ImportsBucket        string // IMPORTS_BUCKET: where import files are uploaded
	ImportQueueURL       string // IMPORT_QUEUE_URL: the import worker's queue
	DomainEventsQueueURL string // DOMAIN_EVENTS_QUEUE_URL: where the changes function publishes
	S3PathStyle          bool   // S3_PATH_STYLE: path-style S3 URLs (the local emulator)

	SendQueueURL     string // SEND_QUEUE_URL: the send worker's queue
	ConfigurationSet string // SES_CONFIGURATION_SET: the SES configuration set every email is sent with
	PublicBaseURL    string // PUBLIC_BASE_URL: where the public function answers (unsubscribe and tracking links), no trailing slash

	SegmentQueueURL string // SEGMENT_QUEUE_URL: the segment worker's job queue
	WebhookQueueURL string // WEBHOOK_QUEUE_URL: the webhook worker's queue (fan-outs and attempts)
	// SEQUENCE_QUEUE_URL: the sequence worker's queue (trigger events,
	// enrollment steps, resumes, broadcast fan-out pages)
	SequenceQueueURL string

	// SESLocalAutoVerify (SES_LOCAL_AUTO_VERIFY=true) is the local stack's
	// stand-in for DNS and SES's checks: a domain's verify finds it verified,
	// and calls moto lacks count as done. `make run` sets it; template.yaml
	// never does.
	SESLocalAutoVerify bool
}

// SecretReader reads a SecureString parameter (SSM Parameter Store in AWS).
type SecretReader func(ctx context.Context, name string) (string, error)

// FromEnv reads every setting but the secrets: TABLE_NAME, STAGE, RATE_LIMIT_PER_MINUTE, EVENT_RETENTION_DAYS, IMPORTS_BUCKET,
// IMPORT_QUEUE_URL, DOMAIN_EVENTS_QUEUE_URL, S3_PATH_STYLE,
// SES_LOCAL_AUTO_VERIFY, SEND_QUEUE_URL, SES_CONFIGURATION_SET,
// PUBLIC_BASE_URL, SEGMENT_QUEUE_URL, WEBHOOK_QUEUE_URL and
// WEBHOOK_ALLOWED_HOSTS.
func FromEnv() (Config, error) {
	c := Config{TableName: os.Getenv("TABLE_NAME"), Stage: os.Getenv("STAGE"), ImportsBucket: os.Getenv("IMPORTS_BUCKET"),
		ImportQueueURL: os.Getenv("IMPORT_QUEUE_URL"), DomainEventsQueueURL: os.Getenv("DOMAIN_EVENTS_QUEUE_URL"),
		S3PathStyle: os.Getenv("S3_PATH_STYLE") == "true", EventRetention: DefaultEventRetention,
		SESLocalAutoVerify: os.Getenv("SES_LOCAL_AUTO_VERIFY") == "true",
		SendQueueURL:       os.Getenv("SEND_QUEUE_URL"), ConfigurationSet: os.Getenv("SES_CONFIGURATION_SET"),
		PublicBaseURL:   strings.TrimRight(os.Getenv("PUBLIC_BASE_URL"), "/"),
		SegmentQueueURL: os.Getenv("SEGMENT_QUEUE_URL"), WebhookAllowedHosts: os.Getenv("WEBHOOK_ALLOWED_HOSTS"),
		WebhookQueueURL: os.Getenv("WEBHOOK_QUEUE_URL"), SequenceQueueURL: os.Getenv("SEQUENCE_QUEUE_URL")}
	if v := os.Getenv("RATE_LIMIT_PER_MINUTE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("config: RATE_LIMIT_PER_MINUTE must be a whole number >= 0, got %q", v)
		}
		c.RateLimitPerMinute = n
	}
	if v := os.Getenv("EVENT_RETENTION_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3650 {
			return c, fmt.Errorf("config: EVENT_RETENTION_DAYS must be a whole number of days from 1 to 3650, got %q", v)
		}
		c.EventRetention = time.Duration(n) * 24 * time.Hour
	}
	return c, nil
}

// LoadJWTSecret reads the secret that signs users' tokens and cursors:
// JWT_SECRET locally, or the SSM parameter named by JWT_SECRET_PARAMETER in
// AWS (read once, at cold start).
func (c *Config) LoadJWTSecret(ctx context.Context, readSecret SecretReader) (err error) {
	c.JWTSecret, err = loadSecret(ctx, readSecret, "JWT secret", "JWT_SECRET")
	return err
}

// LoadLinkSecret reads the secret that signs the unsubscribe and tracking
// links: LINK_SECRET locally, or the SSM parameter named by
// LINK_SECRET_PARAMETER in AWS (read once, at cold start).
func (c *Config) LoadLinkSecret(ctx context.Context, readSecret SecretReader) (err error) {
	c.LinkSecret, err = loadSecret(ctx, readSecret, "link secret", "LINK_SECRET")
	return err
}

// LoadWebhookKey reads the key that encrypts webhook secrets at rest:
// WEBHOOK_KEY locally, or the SSM parameter named by WEBHOOK_KEY_PARAMETER
// in AWS (read once, at cold start).
func (c *Config) LoadWebhookKey(ctx context.Context, readSecret SecretReader) (err error) {
	c.WebhookKey, err = loadSecret(ctx, readSecret, "webhook key", "WEBHOOK_KEY")
	return err
}

// loadSecret reads the secret named by the environment variable env (its
// value) or env_PARAMETER (the SSM SecureString holding it); it must be at
// least 32 characters.
func loadSecret(ctx context.Context, readSecret SecretReader, what, env string) ([]byte, error) {
	var v string
	switch secret, param := os.Getenv(env), os.Getenv(env+"_PARAMETER"); {
	case secret != "":
		v = secret
	case param != "":
		var err error
		if v, err = readSecret(ctx, param); err != nil {
			return nil, fmt.Errorf("config: read the %s from SSM parameter %s: %w", what, param, err)
		}
	default:
		return nil, fmt.Errorf("config: set %s (locally) or %s_PARAMETER (the SSM SecureString holding it)", env, env)
	}
	if len(v) < 32 {
		return nil, fmt.Errorf("config: the %s must be at least 32 characters", what)
	}
	return []byte(v), nil
}

// Require fails when one of the named environment variables is unset.
// TABLE_NAME's message says what it is.
func Require(names ...string) error {
	for _, n := range names {
		if os.Getenv(n) == "" && n == "TABLE_NAME" {
			return errors.New("config: TABLE_NAME is not set: name the DynamoDB table")
		}
		if os.Getenv(n) == "" {
			return fmt.Errorf("config: %s is not set", n)
		}
	}
	return nil
}
