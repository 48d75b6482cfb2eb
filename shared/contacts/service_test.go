package contacts_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// Reading a contact by email goes through the same resolution as the
// writes: a lookup with no contact behind it is no contact (a read repairs
// nothing), and once a write has adopted the lookup the same read finds
// the contact under the id the lookup named.
func TestByEmailSeesNoContactBehindAnOrphanedLookup(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	orphan := ids.New(ids.Contact, r.clock.Now())
	require.NoError(t, r.env.Store.Put(ctx, struct {
		store.Key
		ContactID string `dynamodbav:"contactId"`
	}{store.ContactEmailKey(org, "lost@example.com"), orphan}))

	_, err := r.svc.ByEmail(ctx, org, "lost@example.com")
	assert.ErrorIs(t, err, errs.ErrNotFound)

	made, err := r.svc.ForEmail(ctx, org, "lost@example.com")
	require.NoError(t, err)
	assert.Equal(t, orphan, made.ID, "adopted")
	got, err := r.svc.ByEmail(ctx, org, "lost@example.com")
	require.NoError(t, err)
	assert.Equal(t, orphan, got.ID)
	assert.Equal(t, 1, got.Version)

	again, err := r.svc.ForEmail(ctx, org, "lost@example.com")
	require.NoError(t, err)
	assert.Equal(t, orphan, again.ID, "found, not created again")
	_, err = r.svc.Create(ctx, org, contacts.Input{Email: "lost@example.com"})
	assert.ErrorIs(t, err, errs.ErrConflict)
}
