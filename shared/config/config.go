// Package config reads a function's settings from the environment once, at
// cold start, and fails fast with a message that says what is missing.
package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Config is what the API functions need.
type Config struct {
	TableName          string
	JWTSecret          []byte
	RateLimitPerMinute int // 0: each plan's own limit
	Stage              string
	EventRetention     time.Duration // how long events are kept (EVENT_RETENTION_DAYS, default 400)

	ImportsBucket        string // IMPORTS_BUCKET: where import files are uploaded
	ImportQueueURL       string // IMPORT_QUEUE_URL: the import worker's queue
	DomainEventsQueueURL string // DOMAIN_EVENTS_QUEUE_URL: where the changes function publishes
	S3PathStyle          bool   // path-style S3 URLs (the local emulator)
}

// SecretReader reads a SecureString parameter (SSM Parameter Store in AWS).
type SecretReader func(ctx context.Context, name string) (string, error)

// FromEnv reads TABLE_NAME, the JWT secret (JWT_SECRET locally, or the SSM
// parameter named by JWT_SECRET_PARAMETER in AWS) and RATE_LIMIT_PER_MINUTE.
func FromEnv(ctx context.Context, readSecret SecretReader) (Config, error) {
	c := Config{TableName: os.Getenv("TABLE_NAME"), Stage: os.Getenv("STAGE"), ImportsBucket: os.Getenv("IMPORTS_BUCKET"),
		ImportQueueURL: os.Getenv("IMPORT_QUEUE_URL"), DomainEventsQueueURL: os.Getenv("DOMAIN_EVENTS_QUEUE_URL")}
	if c.TableName == "" {
		return c, errors.New("config: TABLE_NAME is not set: name the DynamoDB table")
	}
	switch secret, param := os.Getenv("JWT_SECRET"), os.Getenv("JWT_SECRET_PARAMETER"); {
	case secret != "":
		c.JWTSecret = []byte(secret)
	case param != "":
		v, err := readSecret(ctx, param)
		if err != nil {
			return c, fmt.Errorf("config: read the JWT secret from SSM parameter %s: %w", param, err)
		}
		c.JWTSecret = []byte(v)
	default:
		return c, errors.New("config: set JWT_SECRET (locally) or JWT_SECRET_PARAMETER (the SSM SecureString holding it)")
	}
	if len(c.JWTSecret) < 32 {
		return c, errors.New("config: the JWT secret must be at least 32 characters")
	}
	if v := os.Getenv("RATE_LIMIT_PER_MINUTE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("config: RATE_LIMIT_PER_MINUTE must be a whole number >= 0, got %q", v)
		}
		c.RateLimitPerMinute = n
	}
	c.EventRetention = 400 * 24 * time.Hour
	if v := os.Getenv("EVENT_RETENTION_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3650 {
			return c, fmt.Errorf("config: EVENT_RETENTION_DAYS must be a whole number of days from 1 to 3650, got %q", v)
		}
		c.EventRetention = time.Duration(n) * 24 * time.Hour
	}
	return c, nil
}
