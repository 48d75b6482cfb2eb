package config

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFromEnv(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	ssm := func(_ context.Context, name string) (string, error) {
		if name == "/sendwell/dev/jwt-secret" {
			return secret, nil
		}
		return "", errors.New("ParameterNotFound")
	}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
		want    Config
	}{
		{"worker without a secret", map[string]string{"TABLE_NAME": "t", "IMPORT_QUEUE_URL": "q"}, "", Config{TableName: "t", ImportQueueURL: "q", EventRetention: DefaultEventRetention}},
		{"short secret", map[string]string{"TABLE_NAME": "t", "JWT_SECRET": "short"}, "at least 32", Config{}},
		{"missing parameter", map[string]string{"TABLE_NAME": "t", "JWT_SECRET_PARAMETER": "/nope"}, "SSM parameter /nope", Config{}},
		{"bad retention", map[string]string{"TABLE_NAME": "t", "JWT_SECRET": secret, "EVENT_RETENTION_DAYS": "0"}, "EVENT_RETENTION_DAYS", Config{}},
		{"bad rate limit", map[string]string{"TABLE_NAME": "t", "JWT_SECRET": secret, "RATE_LIMIT_PER_MINUTE": "lots"}, "RATE_LIMIT_PER_MINUTE", Config{}},
		{"local", map[string]string{"TABLE_NAME": "t", "JWT_SECRET": secret, "RATE_LIMIT_PER_MINUTE": "7"}, "", Config{TableName: "t", JWTSecret: []byte(secret), RateLimitPerMinute: 7, EventRetention: 400 * 24 * time.Hour}},
		{"aws", map[string]string{"TABLE_NAME": "t", "JWT_SECRET_PARAMETER": "/sendwell/dev/jwt-secret", "STAGE": "dev", "EVENT_RETENTION_DAYS": "30"}, "", Config{TableName: "t", JWTSecret: []byte(secret), Stage: "dev", EventRetention: 30 * 24 * time.Hour}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"IMPORT_QUEUE_URL", "TABLE_NAME", "JWT_SECRET", "JWT_SECRET_PARAMETER", "RATE_LIMIT_PER_MINUTE", "STAGE", "EVENT_RETENTION_DAYS"} {
				t.Setenv(k, c.env[k])
			}
			got, err := FromEnv()
			if err == nil && (c.env["JWT_SECRET"] != "" || c.env["JWT_SECRET_PARAMETER"] != "" || c.want.JWTSecret != nil) {
				err = got.LoadJWTSecret(context.Background(), ssm)
			}
			if c.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

// API functions need the secret; a worker never reads it.
func TestLoadJWTSecretWithoutAnyIsAnError(t *testing.T) {
	t.Setenv("JWT_SECRET", "")
	t.Setenv("JWT_SECRET_PARAMETER", "")
	var c Config
	called := false
	err := c.LoadJWTSecret(context.Background(), func(context.Context, string) (string, error) { called = true; return "", nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set JWT_SECRET")
	assert.False(t, called, "no SSM call without a parameter name")
}

// Only the functions that use the table require it (the changes function
// has none); Require names what is missing.
func TestRequire(t *testing.T) {
	t.Setenv("TABLE_NAME", "")
	t.Setenv("IMPORT_QUEUE_URL", "q")
	c, err := FromEnv()
	require.NoError(t, err)
	assert.Empty(t, c.TableName)
	assert.ErrorContains(t, Require("TABLE_NAME"), "TABLE_NAME is not set: name the DynamoDB table")
	assert.ErrorContains(t, Require("IMPORT_QUEUE_URL", "DOMAIN_EVENTS_QUEUE_URL"), "DOMAIN_EVENTS_QUEUE_URL is not set")
	assert.NoError(t, Require("IMPORT_QUEUE_URL"))
}
