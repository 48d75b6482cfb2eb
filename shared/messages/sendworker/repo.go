package sendworker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
)

// repo is the worker's only DynamoDB speaker (the ledger writes the rest).
type repo struct{ s *store.Store }

// claim moves a send that is queued or scheduled, and due, to sending with
// a lease until leaseUntil, in one conditional write that answers the item
// as it now is. The Due keys move to the lease's end, so the scheduler
// finds a claim that lapsed. Due compares RFC 3339 strings, so now is
// cut to the whole second: "10:00:05Z" sorts after "10:00:05.3Z", and a
// send due at 10:00:05 must be claimable at 10:00:05.3 (a sendAt with a
// fraction of a second may go up to that fraction early; the scheduler's
// delay already makes it due). errs.ErrConflict: the send is already claimed,
// sent, cancelled, rescheduled, or gone.
//
// The claim carries a random token. When DynamoDB applies the claim but its
// answer is lost, the SDK's retry meets the claim's own condition; the
// condition failure's copy of the item names the token, so the claim is
// known as ours and goes on, instead of being dropped (and lapsing to
// unknown without ever reaching SES).
func (r repo) claim(ctx context.Context, orgID, sendID string, now, leaseUntil time.Time) (sends.Item, error) {
	gsi5pk, gsi5sk := sends.StatusIndexKeys(orgID, sendID, sends.Sending, nil)
	duePK, dueSK := sends.DueKeys(sendID, leaseUntil)
	token := rand.Text()
	out, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &r.s.Table,
		Key:       store.SendKey(orgID, sendID).KeyAV(),
		UpdateExpression: aws.String("SET #status = :sending, #statusAt = :now, #rev = #rev + :one, #lease = :lease, #claim = :claim, " +
			"#g5pk = :g5pk, #g5sk = :g5sk, #duePK = :duePK, #dueSK = :dueSK"),
		ConditionExpression: aws.String("#status IN (:queued, :scheduled) AND (attribute_not_exists(#sendAt) OR #sendAt <= :due)"),
		ExpressionAttributeNames: map[string]string{
			"#status": "status", "#statusAt": "statusAt", "#rev": "rev", "#lease": "leaseUntil", "#sendAt": "sendAt", "#claim": attrClaim,
			"#g5pk": store.AttrGSI5PK, "#g5sk": store.AttrGSI5SK, "#duePK": store.AttrDuePK, "#dueSK": store.AttrDueSK,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sending": str(sends.Sending), ":queued": str(sends.Queued), ":scheduled": str(sends.Scheduled),
			":now": timeAV(now), ":due": timeAV(now.Truncate(time.Second)), ":lease": timeAV(leaseUntil), ":one": &types.AttributeValueMemberN{Value: "1"},
			":claim": str(token), ":g5pk": str(gsi5pk), ":g5sk": str(gsi5sk), ":duePK": str(duePK), ":dueSK": str(dueSK),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var attrs map[string]types.AttributeValue
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		attrs = out.Attributes
	case errors.As(err, &failed) && isClaim(failed.Item, token):
		attrs = failed.Item // our own claim, applied: the retry of a lost answer met it
	default:
		return sends.Item{}, store.MapErr(err)
	}
	var it sends.Item
	if err := attributevalue.UnmarshalMap(attrs, &it); err != nil {
		return sends.Item{}, fmt.Errorf("sendworker: decode send: %w", err)
	}
	return it, nil
}

// attrClaim is the send's attribute holding the token of its latest claim.
const attrClaim = "claim"

// isClaim says whether item is a send claimed with token.
func isClaim(item map[string]types.AttributeValue, token string) bool {
	v, ok := item[attrClaim].(*types.AttributeValueMemberS)
	st, _ := item["status"].(*types.AttributeValueMemberS)
	return ok && v.Value == token && st != nil && st.Value == sends.Sending
}

// release puts a claimed send back to queued for SQS to try again, if
// nothing changed it since the claim (its Rev). errs.ErrConflict when
// something did.
func (r repo) release(ctx context.Context, it *sends.Item, now time.Time) error {
	gsi5pk, gsi5sk := sends.StatusIndexKeys(it.OrgID, it.ID, sends.Queued, it.SendAt)
	_, err := r.s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &r.s.Table,
		Key:                 it.KeyAV(),
		UpdateExpression:    aws.String("SET #status = :queued, #statusAt = :now, #rev = #rev + :one, #g5pk = :g5pk, #g5sk = :g5sk REMOVE #lease, #duePK, #dueSK"),
		ConditionExpression: aws.String("#rev = :rev AND #status = :sending"),
		ExpressionAttributeNames: map[string]string{
			"#status": "status", "#statusAt": "statusAt", "#rev": "rev", "#lease": "leaseUntil",
			"#g5pk": store.AttrGSI5PK, "#g5sk": store.AttrGSI5SK, "#duePK": store.AttrDuePK, "#dueSK": store.AttrDueSK,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":queued": str(sends.Queued), ":sending": str(sends.Sending), ":now": timeAV(now),
			":one": &types.AttributeValueMemberN{Value: "1"}, ":rev": &types.AttributeValueMemberN{Value: fmt.Sprint(it.Rev)},
			":g5pk": str(gsi5pk), ":g5sk": str(gsi5sk),
		},
	})
	return store.MapErr(err)
}

// recipient is what one read tells about a send's recipient and template.
type recipient struct {
	suppressed string       // the suppression's reason, "" when the address is not suppressed
	contact    *contactItem // nil when the send has no contact, or it was deleted
	head       int          // the template's latest version number (when asked), 0 when the template is gone
}

// readProjection is every attribute recipient needs from the three items
// it may read (suppression entry, contact, template head): the template's
// bodies are not read.
const readProjection = "#pk, #sk, #reason, #id, #email, #first, #last, #props, #tags, #subscribed, #version"

var readNames = map[string]string{
	"#pk": store.AttrPK, "#sk": store.AttrSK, "#reason": "reason", "#id": "id", "#email": "email", "#first": "firstName",
	"#last": "lastName", "#props": "properties", "#tags": "tags", "#subscribed": "subscribed", "#version": "version",
}

// readAttempts bounds the calls spent on keys DynamoDB leaves unprocessed.
const readAttempts = 4

// recipient reads, in one BatchGetItem, the suppression entry of the send's
// address, the send's contact (if any) and, when latest, the template's
// head (for its latest version number).
func (r repo) recipient(ctx context.Context, it *sends.Item, latest bool) (recipient, error) {
	supp := store.SuppressionKey(it.OrgID, it.To)
	keys := []store.Key{supp}
	var contactKey, headKey store.Key
	if it.ContactID != "" {
		contactKey = store.ContactKey(it.OrgID, it.ContactID)
		keys = append(keys, contactKey)
	}
	if latest {
		headKey = store.TemplateKey(it.OrgID, it.TemplateID)
		keys = append(keys, headKey)
	}
	ka := types.KeysAndAttributes{ProjectionExpression: aws.String(readProjection), ExpressionAttributeNames: readNames}
	for _, k := range keys {
		ka.Keys = append(ka.Keys, k.KeyAV())
	}
	pending := map[string]types.KeysAndAttributes{r.s.Table: ka}
	var rec recipient
	for attempt := 0; len(pending[r.s.Table].Keys) > 0; attempt++ {
		if attempt == readAttempts {
			return recipient{}, fmt.Errorf("sendworker: read recipient: keys left unprocessed: %w", errs.NewUnavailable(1, nil))
		}
		if attempt > 0 {
			if err := store.Sleep(ctx, time.Duration(attempt)*50*time.Millisecond); err != nil {
				return recipient{}, err
			}
		}
		out, err := r.s.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
		if err != nil {
			return recipient{}, store.MapErr(err)
		}
		for _, av := range out.Responses[r.s.Table] {
			var k store.Key
			if err := attributevalue.UnmarshalMap(av, &k); err != nil {
				return recipient{}, fmt.Errorf("sendworker: decode key: %w", err)
			}
			switch k {
			case supp:
				var s struct {
					Reason string `dynamodbav:"reason"`
				}
				if err := attributevalue.UnmarshalMap(av, &s); err != nil {
					return recipient{}, fmt.Errorf("sendworker: decode suppression: %w", err)
				}
				rec.suppressed = s.Reason
				if rec.suppressed == "" {
					rec.suppressed = sends.ReasonManual
				}
			case contactKey:
				var c contactItem
				if err := attributevalue.UnmarshalMap(av, &c); err != nil {
					return recipient{}, fmt.Errorf("sendworker: decode contact: %w", err)
				}
				rec.contact = &c
			case headKey:
				var h struct {
					Version int `dynamodbav:"version"`
				}
				if err := attributevalue.UnmarshalMap(av, &h); err != nil {
					return recipient{}, fmt.Errorf("sendworker: decode template: %w", err)
				}
				rec.head = h.Version
			}
		}
		pending = out.UnprocessedKeys
	}
	return rec, nil
}

// domainVerified says whether the tenant owns the (lower-cased) domain name
// and SES has verified it: the name's claim, then the domain.
func (r repo) domainVerified(ctx context.Context, orgID, name string) (bool, error) {
	var c domainClaim
	if err := r.s.Get(ctx, store.DomainClaimKey(name), &c); errors.Is(err, errs.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if c.OrgID != orgID {
		return false, nil
	}
	var d domainItem
	if err := r.s.Get(ctx, store.DomainKey(orgID, c.DomainID), &d); errors.Is(err, errs.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return d.Status == domainVerified, nil
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// timeAV is t as the SDK stores a time.Time (RFC 3339, UTC), so it
// compares with the item's times.
func timeAV(t time.Time) types.AttributeValue {
	av, _ := attributevalue.Marshal(t.UTC()) // a time always marshals
	return av
}
