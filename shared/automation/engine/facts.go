package engine

import (
	"context"
	"errors"

	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/segments/rules"
	"github.com/sendwell/sendwell/shared/store"
)

// LoadFacts reads what def's conditions need to know of a stored contact
// (its fields, properties and tags; the events, segments and sends its
// rules depend on) and its timezone property ("" when none).
// errs.ErrNotFound when the contact does not exist.
func LoadFacts(ctx context.Context, st *store.Store, orgID, contactID string, def *sequence.Definition) (rules.Facts, string, error) {
	return rules.Facts{}, "", errors.New("engine: LoadFacts is not written yet")
}
