package imports

import (
	"context"
	"errors"
	"fmt"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// repo is where the imports group speaks DynamoDB: one item per import, in
// the tenant's partition, written on its version.
type repo struct{ st *store.Store }

// create stores a new import. Its id was just made, so no other writer has
// it: the write is unconditional, and the SDK's retry of a write whose
// answer was lost is not a conflict.
func (r repo) create(ctx context.Context, it *Item) error {
	it.Key = store.ImportKey(it.OrgID, it.ID)
	if err := r.st.Put(ctx, it); err != nil {
		return fmt.Errorf("imports: create: %w", err)
	}
	return nil
}

// get reads an import: one GetItem. A missing import is errNotFound.
func (r repo) get(ctx context.Context, orgID, id string) (*Item, error) {
	var it Item
	if err := r.st.Get(ctx, store.ImportKey(orgID, id), &it); err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return nil, errNotFound
		}
		return nil, fmt.Errorf("imports: read: %w", err)
	}
	return &it, nil
}

// save writes the import's new state if nobody else has since it was read
// (two workers on one import: only one moves it on), and reports whether it
// won. it.Version moves on only when it did.
func (r repo) save(ctx context.Context, it *Item) (bool, error) {
	read := it.Version
	it.Version++
	err := r.st.PutIfVersion(ctx, it, read)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errs.ErrConflict):
		it.Version = read
		return false, nil
	default:
		it.Version = read
		return false, fmt.Errorf("imports: checkpoint: %w", err)
	}
}
