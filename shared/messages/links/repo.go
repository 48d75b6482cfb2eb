package links

import (
	"context"
	"errors"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// repo is the links' own reads; the send's writes go through the ledger
// and the contact's through the contacts service.
type repo struct {
	st *store.Store
}

// orgName is the organisation's name (the org item's "name", written by
// the auth group); errs.ErrNotFound when the organisation is gone.
func (r repo) orgName(ctx context.Context, orgID string) (string, error) {
	var org struct {
		Name string `dynamodbav:"name"`
	}
	if err := r.st.Get(ctx, store.OrgKey(orgID), &org); err != nil {
		return "", err
	}
	return org.Name, nil
}

// suppressed says whether the address is on the tenant's suppression list,
// read consistently: it tells a refused conditional put from a failure.
func (r repo) suppressed(ctx context.Context, orgID, email string) (bool, error) {
	var entry struct {
		Reason string `dynamodbav:"reason"`
	}
	err := r.st.GetConsistent(ctx, store.SuppressionKey(orgID, email), &entry)
	if errors.Is(err, errs.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
