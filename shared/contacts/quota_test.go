package contacts_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
)

func (r *rig) setPlan(t *testing.T, plan string) {
	t.Helper()
	require.NoError(t, r.env.Store.Put(t.Context(), struct {
		store.Key
		Plan string `dynamodbav:"plan"`
	}{store.OrgKey(org), plan}))
}

func (r *rig) setCount(t *testing.T, n int) {
	t.Helper()
	require.NoError(t, r.env.Store.Put(t.Context(), struct {
		store.Key
		N int `dynamodbav:"contacts"`
	}{store.ContactCountKey(org), n}))
}

// The quota is the plan's: the request's principal names it; without one
// (a worker) the organisation's item does, read once per WithPlan.
func TestQuotaFollowsThePlan(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	free := tenant.PlanByName("free").Quotas.Contacts
	r.setPlan(t, "free")
	r.setCount(t, free)

	_, err := r.svc.Create(ctx, org, contacts.Input{Email: "a@example.com"})
	var u *errs.Unprocessable
	require.ErrorAs(t, err, &u, "no principal: the organisation's plan")
	assert.Equal(t, "The organisation has reached its plan's quota of 2,000 contacts.", u.Message)

	pro := tenant.With(ctx, &tenant.Principal{OrgID: org, Plan: "pro"})
	_, err = r.svc.Create(pro, org, contacts.Input{Email: "a@example.com"})
	require.NoError(t, err, "the principal's plan")
	other := tenant.With(ctx, &tenant.Principal{OrgID: "org_other", Plan: "pro"})
	_, err = r.svc.Create(other, org, contacts.Input{Email: "b@example.com"})
	require.ErrorAs(t, err, &u, "another organisation's principal says nothing of this one")

	r.setPlan(t, "pro")
	wctx, err := r.svc.WithPlan(ctx, org)
	require.NoError(t, err)
	r.setPlan(t, "free") // read once: a later change is not seen by this run
	reads := r.faults.Attempts("DynamoDB.GetItem")
	for i := range 2 {
		res := r.svc.Upsert(wctx, org, []contacts.UpsertItem{{Input: contacts.Input{Email: fmt.Sprintf("w%d@example.com", i)}}})
		require.Equal(t, contacts.StatusCreated, res[0].Status, "%v", res[0].Err)
	}
	assert.Equal(t, reads, r.faults.Attempts("DynamoDB.GetItem"), "the plan is not read again")

	var c struct {
		N int `dynamodbav:"contacts"`
	}
	require.NoError(t, r.env.Store.GetConsistent(ctx, store.ContactCountKey(org), &c))
	assert.Equal(t, free+3, c.N)

	res := r.svc.Upsert(context.Background(), org, []contacts.UpsertItem{{Input: contacts.Input{Email: "x@example.com"}}})
	require.ErrorAs(t, res[0].Err, &u, "a worker without WithPlan reads the plan: free again")
}
