package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Creator is the part of the DynamoDB client that creates tables.
type Creator interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// EnsureTable creates the table as template.yaml declares it (keys, GSI1 to GSI5, Due,
// stream, TTL) unless it exists. Used by the local stack and the tests; in AWS
// the template creates it.
func EnsureTable(ctx context.Context, db Creator, name string) error {
	if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name}); err == nil {
		return nil
	} else if !errors.As(err, new(*types.ResourceNotFoundException)) {
		return fmt.Errorf("store: describe table %s: %w", name, err)
	}
	s := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	k := func(n string, t types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(n), KeyType: t}
	}
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   &name,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{s(AttrPK), s(AttrSK), s(AttrGSI1PK), s(AttrGSI1SK), s(AttrGSI2PK), s(AttrGSI2SK),
			s(AttrGSI3PK), s(AttrGSI3SK), s(AttrGSI4PK), s(AttrGSI4SK), s(AttrGSI5PK), s(AttrGSI5SK), s(AttrDuePK), s(AttrDueSK)},
		KeySchema: []types.KeySchemaElement{k(AttrPK, types.KeyTypeHash), k(AttrSK, types.KeyTypeRange)},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String(IndexGSI1),
			KeySchema:  []types.KeySchemaElement{k(AttrGSI1PK, types.KeyTypeHash), k(AttrGSI1SK, types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}, {
			IndexName:  aws.String(IndexGSI2),
			KeySchema:  []types.KeySchemaElement{k(AttrGSI2PK, types.KeyTypeHash), k(AttrGSI2SK, types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}, {
			IndexName:  aws.String(IndexGSI3),
			KeySchema:  []types.KeySchemaElement{k(AttrGSI3PK, types.KeyTypeHash), k(AttrGSI3SK, types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}, {
			IndexName:  aws.String(IndexGSI4),
			KeySchema:  []types.KeySchemaElement{k(AttrGSI4PK, types.KeyTypeHash), k(AttrGSI4SK, types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}, {
			IndexName:  aws.String(IndexGSI5),
			KeySchema:  []types.KeySchemaElement{k(AttrGSI5PK, types.KeyTypeHash), k(AttrGSI5SK, types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}, {
			IndexName:  aws.String(IndexDue),
			KeySchema:  []types.KeySchemaElement{k(AttrDuePK, types.KeyTypeHash), k(AttrDueSK, types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
	})
	if err != nil && !errors.As(err, new(*types.ResourceInUseException)) {
		return fmt.Errorf("store: create table %s: %w", name, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, time.Minute); err != nil {
		return fmt.Errorf("store: wait for table %s: %w", name, err)
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               &name,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(AttrTTL), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("store: enable TTL on %s: %w", name, err)
	}
	return nil
}
