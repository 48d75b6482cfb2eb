package awsx_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/testenv"
)

// Load reads what Lambda puts in the environment, and nothing else.
func TestLoadReadsLambdasEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "token")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	cfg, err := awsx.Load(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "eu-west-1", cfg.Region)
	assert.Equal(t, "http://127.0.0.1:1", aws.ToString(cfg.BaseEndpoint))
	creds, err := cfg.Credentials.Retrieve(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "AKIDEXAMPLE", creds.AccessKeyID)
	assert.Equal(t, "token", creds.SessionToken)

	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	_, err = awsx.Load(context.Background())
	assert.ErrorContains(t, err, "AWS_REGION")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, err = awsx.Load(context.Background())
	assert.ErrorContains(t, err, "AWS_SECRET_ACCESS_KEY")
}

// The JWT secret is read with one signed GetParameter, decrypted, without
// the SSM client; a missing parameter is an error that names it.
func TestReadParameterFromSSM(t *testing.T) {
	env := testenv.New(t)
	client := ssm.NewFromConfig(env.Config)
	name := "/sendwell/test/" + t.Name()
	_, err := client.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: &name, Value: aws.String("s3cr3t-value-0123456789-0123456789"), Type: ssmtypes.ParameterTypeSecureString,
	})
	require.NoError(t, err)

	got, err := awsx.ReadParameter(context.Background(), env.Config, name)
	require.NoError(t, err)
	assert.Equal(t, "s3cr3t-value-0123456789-0123456789", got)

	_, err = awsx.ReadParameter(context.Background(), env.Config, "/sendwell/test/missing")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ParameterNotFound")
	assert.NotContains(t, err.Error(), "s3cr3t")
}
