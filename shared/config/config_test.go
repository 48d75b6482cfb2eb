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

// The link secret is read like the JWT secret, from its own variables:
// the value locally, the SSM parameter in AWS, at least 32 characters.
func TestLoadLinkSecret(t *testing.T) {
	secret := "link-secret-link-secret-link-secret-0123"
	ssm := func(_ context.Context, name string) (string, error) {
		switch name {
		case "/sendwell/dev/link-secret":
			return secret, nil
		case "/sendwell/dev/short":
			return "short", nil
		}
		return "", errors.New("ParameterNotFound")
	}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"local", map[string]string{"LINK_SECRET": secret}, ""},
		{"aws", map[string]string{"LINK_SECRET_PARAMETER": "/sendwell/dev/link-secret"}, ""},
		{"short", map[string]string{"LINK_SECRET": "short"}, "link secret must be at least 32"},
		{"short parameter", map[string]string{"LINK_SECRET_PARAMETER": "/sendwell/dev/short"}, "link secret must be at least 32"},
		{"missing parameter", map[string]string{"LINK_SECRET_PARAMETER": "/nope"}, "link secret from SSM parameter /nope"},
		{"missing", nil, "set LINK_SECRET (locally) or LINK_SECRET_PARAMETER"},
		// The JWT secret's variables are not the link secret's.
		{"only the JWT secret", map[string]string{"JWT_SECRET": secret, "JWT_SECRET_PARAMETER": "/sendwell/dev/link-secret"}, "set LINK_SECRET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"LINK_SECRET", "LINK_SECRET_PARAMETER", "JWT_SECRET", "JWT_SECRET_PARAMETER"} {
				t.Setenv(k, c.env[k])
			}
			var got Config
			err := got.LoadLinkSecret(context.Background(), ssm)
			if c.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.wantErr)
				assert.Nil(t, got.LinkSecret)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, Config{LinkSecret: []byte(secret)}, got, "only the link secret is set")
		})
	}
}

// Both secrets can be loaded side by side, each from its own source.
func TestLoadBothSecrets(t *testing.T) {
	t.Setenv("JWT_SECRET", "jwt-secret-jwt-secret-jwt-secret-0123")
	t.Setenv("JWT_SECRET_PARAMETER", "")
	t.Setenv("LINK_SECRET", "")
	t.Setenv("LINK_SECRET_PARAMETER", "/links")
	var c Config
	require.NoError(t, c.LoadJWTSecret(context.Background(), nil))
	require.NoError(t, c.LoadLinkSecret(context.Background(), func(_ context.Context, name string) (string, error) {
		return "from-ssm-from-ssm-from-ssm-from-ssm-0123", nil
	}))
	assert.Equal(t, "jwt-secret-jwt-secret-jwt-secret-0123", string(c.JWTSecret))
	assert.Equal(t, "from-ssm-from-ssm-from-ssm-from-ssm-0123", string(c.LinkSecret))
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
