package platform

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/config"
)

const (
	jwtValue  = "jwt-secret-jwt-secret-jwt-secret-0123"
	linkValue = "link-secret-link-secret-link-secret-0123"
)

// ssmFake answers the two parameters and records which were read.
func ssmFake(read *[]string) config.SecretReader {
	return func(_ context.Context, name string) (string, error) {
		*read = append(*read, name)
		return map[string]string{"/jwt": jwtValue, "/link": linkValue}[name], nil
	}
}

func setParams(t *testing.T) {
	t.Setenv("JWT_SECRET", "")
	t.Setenv("LINK_SECRET", "")
	t.Setenv("JWT_SECRET_PARAMETER", "/jwt")
	t.Setenv("LINK_SECRET_PARAMETER", "/link")
}

// The send worker reads the link secret and never the JWT secret's
// parameter; its deps have no API guards.
func TestWorkerReadsOnlyTheLinkSecret(t *testing.T) {
	setParams(t)
	var read []string
	cfg := config.Config{TableName: "t"}
	require.NoError(t, loadSecrets(t.Context(), &cfg, ssmFake(&read), false, true))
	assert.Equal(t, []string{"/link"}, read)
	assert.Equal(t, linkValue, string(cfg.LinkSecret))
	assert.Nil(t, cfg.JWTSecret)

	d, err := NewDeps(aws.Config{}, cfg, nil)
	require.NoError(t, err)
	assert.Nil(t, d.Tokens, "no JWT secret, no token signer")
	assert.Equal(t, linkValue, string(d.Config.LinkSecret))
}

// An API function reads the link secret only when one of its groups asks.
func TestAPIReadsTheLinkSecretOnlyWhenAsked(t *testing.T) {
	setParams(t)
	plain := API{Name: "contacts"}
	links := API{Name: "links", LinkSecret: true}

	var read []string
	cfg := config.Config{}
	require.NoError(t, loadSecrets(t.Context(), &cfg, ssmFake(&read), true, wantsLinkSecret([]API{plain})))
	assert.Equal(t, []string{"/jwt"}, read)
	assert.Nil(t, cfg.LinkSecret)

	read, cfg = nil, config.Config{}
	require.NoError(t, loadSecrets(t.Context(), &cfg, ssmFake(&read), true, wantsLinkSecret([]API{plain, links})))
	assert.Equal(t, []string{"/jwt", "/link"}, read)
	assert.Equal(t, jwtValue, string(cfg.JWTSecret))
	assert.Equal(t, linkValue, string(cfg.LinkSecret))
}

// A function that asks for the link secret does not start without it.
func TestMissingLinkSecretStopsTheStart(t *testing.T) {
	setParams(t)
	t.Setenv("LINK_SECRET_PARAMETER", "")
	var read []string
	cfg := config.Config{}
	err := loadSecrets(t.Context(), &cfg, ssmFake(&read), false, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "LINK_SECRET")
	assert.Empty(t, read)
}
