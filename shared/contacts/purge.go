package contacts

import (
	"context"
	"errors"
	"time"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
)

// PurgeJob asks for the events of a deleted contact to be deleted. The
// changes function queues one when it sees a contact's removal on the
// table's stream; the import worker, which consumes the contacts group's
// work queue, runs it with PurgeEvents.
type PurgeJob struct {
	OrgID     string `json:"orgId"`
	ContactID string `json:"contactId"`
}

// PurgeMessage is the body of a purge job on the work queue (the import
// queue): {"purgeEvents":{"orgId":"…","contactId":"…"}}. The one field tells
// it from the queue's other messages.
type PurgeMessage struct {
	PurgeEvents *PurgeJob `json:"purgeEvents"`
}

// PurgeEvents deletes the events of a deleted contact, a page of keys at a
// time, until none is left (finished) or until stopBy has passed, when it
// returns finished = false for the caller to queue the job again; a zero
// stopBy is no limit. Each call deletes at least one chunk, so a job always
// progresses.
//
// It is idempotent: what it deleted stays deleted, so a redelivered job, or
// one for a contact already purged, finishes with nothing to do. It never
// deletes the events of a contact that exists: contact ids are ULIDs, never
// given twice, so a contact that exists with the job's id is not the one
// deleted, and the job is dropped (finished) untouched.
func (s *Service) PurgeEvents(ctx context.Context, job PurgeJob, stopBy time.Time) (finished bool, err error) {
	if job.OrgID == "" || !ids.Valid(ids.Contact, job.ContactID) {
		// Not worth retrying (errs.Retryable says no): the same job never gets better.
		return false, errs.Invalid("purgeEvents", "contacts: a purge job names no tenant or no valid contact id")
	}
	_, err = s.repo.get(ctx, job.OrgID, job.ContactID, true)
	switch {
	case err == nil:
		return true, nil // the contact exists: not deleted, nothing to purge
	case !errors.Is(err, errs.ErrNotFound):
		return false, err
	}
	return s.repo.deleteEvents(ctx, job.OrgID, job.ContactID, func() bool {
		return stopBy.IsZero() || s.clock.Now().Before(stopBy)
	})
}
