package changes

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Handler is the changes Lambda: it processes a batch of stream records and,
// when one fails, reports it so Lambda retries from that record on.
func Handler(pub Publisher) func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		records := make([]Record, 0, len(ev.Records))
		for _, r := range ev.Records {
			rec, err := FromLambda(r)
			if err != nil {
				return events.DynamoDBEventResponse{}, err
			}
			records = append(records, rec)
		}
		done, err := Process(ctx, pub, records)
		if err == nil {
			return events.DynamoDBEventResponse{}, nil
		}
		slog.ErrorContext(ctx, "changes: record failed", "eventId", ev.Records[done].EventID, "error", err.Error())
		return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{
			{ItemIdentifier: ev.Records[done].Change.SequenceNumber},
		}}, nil
	}
}

// FromLambda converts a Lambda stream record.
func FromLambda(r events.DynamoDBEventRecord) (Record, error) {
	old, err := imageFromLambda(r.Change.OldImage)
	if err != nil {
		return Record{}, err
	}
	cur, err := imageFromLambda(r.Change.NewImage)
	if err != nil {
		return Record{}, err
	}
	return Record{EventID: r.EventID, EventName: r.EventName, At: r.Change.ApproximateCreationDateTime.UTC(), Old: old, New: cur}, nil
}

func imageFromLambda(img map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	if img == nil {
		return nil, nil
	}
	out := make(map[string]types.AttributeValue, len(img))
	for k, v := range img {
		av, err := fromLambda(v)
		if err != nil {
			return nil, fmt.Errorf("changes: attribute %s: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

func fromLambda(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		var l []types.AttributeValue
		for _, e := range v.List() {
			av, err := fromLambda(e)
			if err != nil {
				return nil, err
			}
			l = append(l, av)
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case events.DataTypeMap:
		m, err := imageFromLambda(v.Map())
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("unknown attribute type %s", strconv.Itoa(int(v.DataType())))
}
