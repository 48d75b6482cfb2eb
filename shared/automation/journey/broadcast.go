package journey

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// What the broadcasts API (shared/automation/campaigns) and the broadcast
// fan-out (shared/automation/fanout) both do to a broadcast's item.

// CancelBroadcast moves a scheduled or sending broadcast to cancelled and
// clears its Due keys: the fan-out finds the status before its next page.
// errs.ErrConflict when it is neither.
func CancelBroadcast(ctx context.Context, st *store.Store, orgID, id string, now time.Time) error {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	_, err := st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &st.Table, Key: store.BroadcastKey(orgID, id).KeyAV(),
		UpdateExpression:    aws.String("SET #st = :cancelled, #fin = :now, #up = :now, #rev = #rev + :one REMOVE #dpk, #dsk"),
		ConditionExpression: aws.String("#st IN (:scheduled, :sending)"),
		ExpressionAttributeNames: map[string]string{"#st": AttrStatus, "#fin": "finishedAt", "#up": AttrUpdatedAt, "#rev": AttrRev,
			"#dpk": store.AttrDuePK, "#dsk": store.AttrDueSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":cancelled": s(BcCancelled), ":now": s(now.UTC().Format(time.RFC3339Nano)),
			":one": &types.AttributeValueMemberN{Value: strconv.Itoa(1)}, ":scheduled": s(BcScheduled), ":sending": s(BcSending)},
	})
	return store.MapErr(err)
}

// SenderDomain is the lower-cased domain of a broadcast's sender address.
func SenderDomain(from string) (string, error) {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return "", err
	}
	domain := strings.ToLower(a.Address[strings.LastIndexByte(a.Address, '@')+1:])
	if !strings.Contains(domain, ".") {
		return "", fmt.Errorf("campaigns: no dot in the domain of %q", from)
	}
	return domain, nil
}

// DomainVerified says whether domain is a verified sending domain of the
// tenant, as the send API checks it: its claim names the tenant and the
// tenant's domain item is verified.
func DomainVerified(ctx context.Context, st *store.Store, orgID, domain string) (bool, error) {
	var claim struct {
		OrgID    string `dynamodbav:"orgId"`
		DomainID string `dynamodbav:"domainId"`
	}
	err := st.Get(ctx, store.DomainClaimKey(domain), &claim)
	if errors.Is(err, errs.ErrNotFound) || err == nil && claim.OrgID != orgID {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var d struct {
		Status string `dynamodbav:"status"`
	}
	err = st.Get(ctx, store.DomainKey(orgID, claim.DomainID), &d)
	if errors.Is(err, errs.ErrNotFound) {
		return false, nil
	}
	return err == nil && d.Status == "verified", err
}
