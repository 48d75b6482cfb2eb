package journey

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/store"
)

// Counters are named counts.
type Counters map[string]int

// Add adds o's counts to c.
func (c Counters) Add(o Counters) {
	for k, v := range o {
		c[k] += v
	}
}

// SequenceCounters reads a sequence's counters, summed over its shards
// (one Query): enrolled, active, completed, exited, failed, and per step
// StepCounter(step, …).
func SequenceCounters(ctx context.Context, st *store.Store, orgID, sequenceID string) (Counters, error) {
	out := Counters{}
	in := &dynamodb.QueryInput{
		TableName:                 &st.Table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.SequenceStatsPK(orgID, sequenceID)}},
	}
	pages := dynamodb.NewQueryPaginator(st.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, store.MapErr(err)
		}
		for _, it := range page.Items {
			addNumbers(out, it)
		}
	}
	return out, nil
}

// SourceCounters reads the send counters (sends.Count…) of every source
// starting with prefix (a StepSource, SequenceSourcePrefix or
// BroadcastSource), by source, summed over the tenant's counter shards
// (one Query per shard, in parallel).
func SourceCounters(ctx context.Context, st *store.Store, orgID, prefix string) (map[string]Counters, error) {
	results := make([]map[string]Counters, store.StatsShards)
	errs := make([]error, store.StatsShards)
	var wg sync.WaitGroup
	for shard := range store.StatsShards {
		wg.Go(func() {
			results[shard], errs[shard] = sourceShard(ctx, st, store.StatsPK(orgID, shard), prefix)
		})
	}
	wg.Wait()
	out := map[string]Counters{}
	for i, r := range results {
		if errs[i] != nil {
			return nil, errs[i]
		}
		for src, c := range r {
			if out[src] == nil {
				out[src] = Counters{}
			}
			out[src].Add(c)
		}
	}
	return out, nil
}

func sourceShard(ctx context.Context, st *store.Store, pk, prefix string) (map[string]Counters, error) {
	in := &dynamodb.QueryInput{
		TableName:              &st.Table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk},
			":sk": &types.AttributeValueMemberS{Value: store.StatsSourcePrefix(prefix)},
		},
	}
	out := map[string]Counters{}
	pages := dynamodb.NewQueryPaginator(st.DB, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, store.MapErr(err)
		}
		for _, it := range page.Items {
			sk, _ := it[store.AttrSK].(*types.AttributeValueMemberS)
			if sk == nil {
				continue
			}
			c := Counters{}
			addNumbers(c, it)
			out[store.SourceFromStatsSK(sk.Value)] = c
		}
	}
	return out, nil
}

// addNumbers adds an item's number attributes (but ttl) to c.
func addNumbers(c Counters, it map[string]types.AttributeValue) {
	for k, v := range it {
		n, ok := v.(*types.AttributeValueMemberN)
		if !ok || k == store.AttrTTL || strings.HasPrefix(k, "GSI") {
			continue
		}
		x, err := strconv.Atoi(n.Value)
		if err == nil {
			c[k] += x
		}
	}
}
