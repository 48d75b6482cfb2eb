package localaws_test

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/localaws"
	"github.com/sendwell/sendwell/shared/store"
)

// modelItem is what the model of the table keeps of an item.
type modelItem struct {
	pk, sk, gpk, gsk string // gpk, gsk: "" when absent
	pad              int    // bytes of padding (large items split pages by size)
}

// The partition-query and index-query patches hand moto's Query a window
// of one partition, and an index's candidates from postings kept by every
// write. Whatever the writes (puts that replace, updates that move an item
// between index partitions or out of the index, deletes, transactions),
// every Query answers what a model of the table answers: the same items,
// in the same order, over all its pages, for every key condition, direction,
// Limit and page size.
func TestLauncherQueriesMatchAModel(t *testing.T) {
	moto, err := localaws.StartMotoWith(0, nil)
	require.NoError(t, err)
	t.Cleanup(moto.Stop)
	require.Contains(t, moto.Patches, "partition-query")
	require.Contains(t, moto.Patches, "index-query")

	ctx := t.Context()
	cfg, err := localaws.Config(ctx, moto.Endpoint)
	require.NoError(t, err)
	db := dynamodb.NewFromConfig(cfg)
	table := "model-" + strings.ToLower(ulid.Make().String())
	require.NoError(t, store.EnsureTable(ctx, db, table))

	rng := rand.New(rand.NewPCG(7, 11))
	pks := []string{"p0", "p1", "p2"}
	gpks := []string{"g0", "g1", "g2"}
	word := func() string { // short keys from a small alphabet: many share prefixes
		b := make([]byte, 1+rng.IntN(3))
		for i := range b {
			b[i] = "abc"[rng.IntN(3)]
		}
		return string(b)
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	model := map[[2]string]modelItem{}
	key := func(pk, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{store.AttrPK: s(pk), store.AttrSK: s(sk)}
	}
	put := func(it modelItem) types.Put {
		av := key(it.pk, it.sk)
		if it.gpk != "" {
			av["GSI1PK"] = s(it.gpk)
		}
		if it.gsk != "" {
			av["GSI1SK"] = s(it.gsk)
		}
		if it.pad > 0 {
			av["pad"] = s(strings.Repeat("x", it.pad))
		}
		return types.Put{TableName: &table, Item: av}
	}
	randomItem := func() modelItem {
		it := modelItem{pk: pks[rng.IntN(len(pks))], sk: word()}
		if rng.IntN(4) > 0 {
			it.gpk = gpks[rng.IntN(len(gpks))]
		}
		if rng.IntN(5) > 0 {
			it.gsk = word()
		}
		if it.pk == "p0" && rng.IntN(2) == 0 {
			it.pad = 300_000 // four of these pass 1 MB: p0's pages end by size
		}
		return it
	}
	existing := func() (modelItem, bool) {
		if len(model) == 0 {
			return modelItem{}, false
		}
		keys := make([][2]string, 0, len(model))
		for k := range model {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Compare(a[0]+"/"+a[1], b[0]+"/"+b[1]) })
		return model[keys[rng.IntN(len(keys))]], true
	}
	// moveIndex sets (or removes) an item's index partition in place.
	moveIndex := func(it modelItem) (types.Update, modelItem) {
		u := types.Update{TableName: &table, Key: key(it.pk, it.sk)}
		if rng.IntN(4) == 0 {
			u.UpdateExpression = aws.String("REMOVE GSI1PK")
			it.gpk = ""
		} else {
			it.gpk = gpks[rng.IntN(len(gpks))]
			u.UpdateExpression = aws.String("SET GSI1PK = :g")
			u.ExpressionAttributeValues = map[string]types.AttributeValue{":g": s(it.gpk)}
		}
		return u, it
	}

	write := func() {
		switch op := rng.IntN(10); {
		case op < 4: // a put: new, or replacing an item
			it := randomItem()
			p := put(it)
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: p.TableName, Item: p.Item})
			require.NoError(t, err)
			model[[2]string{it.pk, it.sk}] = it
		case op < 7: // an update moving an item between index partitions
			it, ok := existing()
			if !ok {
				return
			}
			u, moved := moveIndex(it)
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: u.TableName, Key: u.Key,
				UpdateExpression: u.UpdateExpression, ExpressionAttributeValues: u.ExpressionAttributeValues})
			require.NoError(t, err)
			model[[2]string{it.pk, it.sk}] = moved
		case op < 9:
			it, ok := existing()
			if !ok {
				return
			}
			_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: key(it.pk, it.sk)})
			require.NoError(t, err)
			delete(model, [2]string{it.pk, it.sk})
		default: // a transaction: an update in place and a put
			it, ok := existing()
			if !ok {
				return
			}
			u, moved := moveIndex(it)
			fresh := randomItem()
			if fresh.pk == it.pk && fresh.sk == it.sk {
				return // one item twice in a transaction is refused
			}
			p := put(fresh)
			_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: &u}, {Put: &p}}})
			require.NoError(t, err)
			model[[2]string{it.pk, it.sk}] = moved
			model[[2]string{fresh.pk, fresh.sk}] = fresh
		}
	}

	query := func(in dynamodb.QueryInput) []string {
		in.TableName = &table
		var got []string
		p := dynamodb.NewQueryPaginator(db, &in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			require.NoError(t, err)
			if in.Limit != nil {
				require.LessOrEqual(t, len(page.Items), int(*in.Limit))
			}
			for _, it := range page.Items {
				got = append(got, it[store.AttrPK].(*types.AttributeValueMemberS).Value+"/"+it[store.AttrSK].(*types.AttributeValueMemberS).Value)
			}
		}
		return got
	}
	type cond struct {
		expr  string
		match func(sk string) bool
	}
	conds := func(a, b string) []cond {
		lo, hi := min(a, b), max(a, b)
		return []cond{
			{"", func(string) bool { return true }},
			{" AND SK = :a", func(sk string) bool { return sk == a }},
			{" AND SK < :a", func(sk string) bool { return sk < a }},
			{" AND SK <= :a", func(sk string) bool { return sk <= a }},
			{" AND SK > :a", func(sk string) bool { return sk > a }},
			{" AND SK >= :a", func(sk string) bool { return sk >= a }},
			{" AND SK BETWEEN :lo AND :hi", func(sk string) bool { return lo <= sk && sk <= hi }},
			{" AND begins_with(SK, :a)", func(sk string) bool { return strings.HasPrefix(sk, a) }},
		}
	}
	check := func(round int) {
		for _, pk := range pks {
			a, b := word(), word()
			for _, c := range conds(a, b) {
				var want []string
				for _, it := range model {
					if it.pk == pk && c.match(it.sk) {
						want = append(want, it.pk+"/"+it.sk)
					}
				}
				slices.Sort(want)
				for _, forward := range []bool{true, false} {
					for _, limit := range []*int32{nil, aws.Int32(1), aws.Int32(3)} {
						vals := map[string]types.AttributeValue{":pk": s(pk)}
						for name, v := range map[string]string{":a": a, ":lo": min(a, b), ":hi": max(a, b)} {
							if strings.Contains(c.expr, name) {
								vals[name] = s(v)
							}
						}
						got := query(dynamodb.QueryInput{KeyConditionExpression: aws.String("PK = :pk" + c.expr),
							ExpressionAttributeValues: vals, ScanIndexForward: aws.Bool(forward), Limit: limit})
						expect := slices.Clone(want)
						if !forward {
							slices.Reverse(expect)
						}
						require.Equal(t, expect, got, "round %d: Query PK = %s%s (:a %q, :lo/:hi %q/%q), forward %v, limit %v", round, pk, c.expr, a, min(a, b), max(a, b), forward, aws.ToInt32(limit))
					}
				}
			}
		}
		require.Empty(t, query(dynamodb.QueryInput{KeyConditionExpression: aws.String("PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("p-none")}}), "a partition never written")
		for _, g := range gpks {
			var want []modelItem
			for _, it := range model {
				if it.gpk == g && it.gsk != "" { // an item lacking the index's sort key is not in it
					want = append(want, it)
				}
			}
			slices.SortFunc(want, func(x, y modelItem) int {
				return cmp.Or(cmp.Compare(x.gsk, y.gsk), cmp.Compare(x.pk, y.pk), cmp.Compare(x.sk, y.sk))
			})
			var names []string
			for _, it := range want {
				names = append(names, it.pk+"/"+it.sk)
			}
			for _, limit := range []*int32{nil, aws.Int32(2)} {
				got := query(dynamodb.QueryInput{IndexName: aws.String(store.IndexGSI1), KeyConditionExpression: aws.String("GSI1PK = :g"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":g": s(g)}, Limit: limit})
				require.Equal(t, names, got, "round %d: Query GSI1PK = %s, limit %v", round, g, aws.ToInt32(limit))
			}
		}
	}

	for round := range 8 {
		for range 25 {
			write()
		}
		check(round)
	}
	t.Logf("%d items at the end", len(model))
}
