package worker

import (
	"context"
	"slices"

	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/httpx"
)

// ContactsUpdater makes update steps through the contacts service, as
// PATCH /api/contacts/{id} does (the same conditional write, the same
// contact.updated change): properties set and unset, tags added and
// removed. The tags are the contact's as read just before, changed: a tag
// written by another writer between that read and the update's own is
// lost, as with two API calls.
type ContactsUpdater struct {
	Service *contacts.Service
}

var _ ContactUpdater = ContactsUpdater{}

// Update changes the contact; errs.ErrNotFound when it is gone.
func (u ContactsUpdater) Update(ctx context.Context, orgID, contactID string, up *sequence.Update) error {
	var p contacts.Patch
	if len(up.Set) > 0 || len(up.Unset) > 0 {
		props := make(map[string]any, len(up.Set)+len(up.Unset))
		for k, v := range up.Set {
			props[k] = v
		}
		for _, k := range up.Unset {
			props[k] = nil
		}
		p.Properties = httpx.Optional[map[string]any]{Set: true, Value: props}
	}
	if len(up.AddTags) > 0 || len(up.RemoveTags) > 0 {
		cur, err := u.Service.Get(ctx, orgID, contactID)
		if err != nil {
			return err
		}
		tags := slices.Clone(cur.Tags)
		for _, t := range up.AddTags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		tags = slices.DeleteFunc(tags, func(t string) bool { return slices.Contains(up.RemoveTags, t) })
		p.Tags = httpx.Optional[[]string]{Set: true, Value: tags}
	}
	if err := p.Validate(); err != nil {
		return err
	}
	_, err := u.Service.Patch(ctx, orgID, contactID, p)
	return err
}
