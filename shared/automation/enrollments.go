package automation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/sendwell/sendwell/shared/automation/journey"
	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/validate"
)

// Enrollment statuses a list filters by.
var enrollmentStatuses = []string{journey.EnrActive, journey.EnrCompleted, journey.EnrExited, journey.EnrFailed}

// TriggerManual is the Trigger of an enrollment made by the API.
const TriggerManual = "manual"

// triggerKeyPrefix prefixes the key that names one manual trigger.
const triggerKeyPrefix = "mtr"

// bulkWorkers is how many contacts of a bulk trigger enrol at once.
const bulkWorkers = 8

// Enrollments reads one page of a sequence's enrollments (of one status,
// or all), newest first; those of an earlier generation of its id are
// left out.
func (s *Service) Enrollments(ctx context.Context, orgID, id, status string, limit int, start map[string]string) ([]Enrollment, map[string]string, error) {
	seq, err := s.get(ctx, orgID, id, false)
	if err != nil {
		return nil, nil, err
	}
	items, next, err := s.repo.enrollments(ctx, sequenceEnrollments(orgID, id, status), seq.Generation, limit, start)
	if err != nil {
		return nil, nil, err
	}
	return enrollmentsAPI(items), next, nil
}

// ContactEnrollments reads one page of a contact's enrollments, newest
// first. An empty first page costs a GetItem more, to tell a contact with
// none from one the tenant does not have (404).
func (s *Service) ContactEnrollments(ctx context.Context, orgID, contactID string, limit int, start map[string]string) ([]Enrollment, map[string]string, error) {
	if !ids.Valid(ids.Contact, contactID) {
		return nil, nil, errContactNotFound
	}
	items, next, err := s.repo.enrollments(ctx, contactEnrollments(orgID, contactID), "", limit, start)
	if err != nil {
		return nil, nil, err
	}
	if len(items) == 0 && start == nil {
		ok, err := s.repo.contactExists(ctx, orgID, contactID)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, errContactNotFound
		}
	}
	return enrollmentsAPI(items), next, nil
}

func enrollmentsAPI(items []journey.Enrollment) []Enrollment {
	out := make([]Enrollment, len(items))
	for i := range items {
		out[i] = enrollmentAPI(&items[i], false)
	}
	return out
}

// Enrollment reads one enrollment with every step it took.
func (s *Service) Enrollment(ctx context.Context, orgID, id string) (Enrollment, error) {
	enr, err := s.enrollment(ctx, orgID, id, false)
	if err != nil {
		return Enrollment{}, err
	}
	return enrollmentAPI(enr, true), nil
}

func (s *Service) enrollment(ctx context.Context, orgID, id string, consistent bool) (*journey.Enrollment, error) {
	if !ids.Valid(ids.Enrollment, id) {
		return nil, errEnrollmentNotFound
	}
	enr, err := s.repo.enrollment(ctx, orgID, id, consistent)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, errEnrollmentNotFound
	}
	return enr, err
}

// ExitEnrollment takes an active enrollment out of its sequence; one that
// has finished is a 409.
func (s *Service) ExitEnrollment(ctx context.Context, orgID, id string) (Enrollment, error) {
	enr, err := s.enrollment(ctx, orgID, id, true)
	if err != nil {
		return Enrollment{}, err
	}
	err = s.exit(ctx, enr, ExitByAPI, stepTypes{})
	if errors.Is(err, errFinished) {
		return Enrollment{}, errs.NewConflict(fmt.Sprintf("The enrollment has already finished (%s).", enr.Status))
	}
	if err != nil {
		return Enrollment{}, err
	}
	return enrollmentAPI(enr, true), nil
}

// NotEnrolledError is a contact the sequence would not take (it is in the
// sequence now, or its re-entry rule refuses): a 409 that names the
// enrollment in the way.
type NotEnrolledError struct {
	Message      string
	EnrollmentID string
}

func (e *NotEnrolledError) Error() string { return e.Message }

// Unwrap makes it an errs.ErrConflict.
func (e *NotEnrolledError) Unwrap() error { return errs.ErrConflict }

// Validate checks a trigger's body: one contact, or 1 to MaxBulkTrigger in
// contacts, each by id or by email with an optional data object.
func (r *TriggerRequest) Validate() error {
	if r.Contacts != nil {
		if r.ContactID != "" || r.Email != "" || r.Data != nil {
			return errs.Invalid("contacts", "The 'contacts' field cannot be given with 'contactId', 'email' or 'data': put each contact's in its entry.")
		}
		if len(r.Contacts) == 0 || len(r.Contacts) > MaxBulkTrigger {
			return errs.Invalid("contacts", "The 'contacts' field must have 1 to %d entries.", MaxBulkTrigger)
		}
		for i := range r.Contacts {
			if err := r.Contacts[i].validate(fmt.Sprintf("contacts[%d].", i)); err != nil {
				return err
			}
		}
		return nil
	}
	return r.TriggerTarget.validate("")
}

func (t *TriggerTarget) validate(path string) error {
	switch {
	case t.ContactID != "" && t.Email != "":
		return errs.Invalid(path+"contactId", "Give one of '%scontactId' and '%semail', not both.", path, path)
	case t.ContactID == "" && t.Email == "":
		return errs.Invalid(path+"contactId", "The '%scontactId' or '%semail' field is required.", path, path)
	case t.Email != "":
		e, err := validate.Email(path+"email", t.Email)
		if err != nil {
			return err
		}
		t.Email = e
	}
	if t.Data != nil && string(bytes.TrimSpace(t.Data)) != "null" {
		var m map[string]json.RawMessage
		if json.Unmarshal(t.Data, &m) != nil || m == nil {
			return errs.Invalid(path+"data", "The '%sdata' field must be an object.", path)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, t.Data); err != nil {
			return errs.Invalid(path+"data", "The '%sdata' field must be an object.", path)
		}
		if buf.Len() > MaxTriggerData {
			return errs.Invalid(path+"data", "The '%sdata' field must be at most %d KB as JSON.", path, MaxTriggerData>>10)
		}
		t.Data = buf.Bytes()
	} else {
		t.Data = nil
	}
	return nil
}

// triggerable reads an active sequence and its definition, or says why it
// cannot be triggered (409 for a draft, paused or archived one).
func (s *Service) triggerable(ctx context.Context, orgID, id string) (*journey.Sequence, *sequence.Definition, error) {
	seq, err := s.get(ctx, orgID, id, true)
	if err != nil {
		return nil, nil, err
	}
	switch seq.Status {
	case journey.Paused:
		return nil, nil, errs.NewConflict("The sequence is paused: activate it (POST /api/sequences/" + id + "/activate) before triggering it.")
	case journey.Draft:
		return nil, nil, errs.NewConflict("The sequence is a draft: activate it (POST /api/sequences/" + id + "/activate) before triggering it.")
	case journey.Archived:
		return nil, nil, errs.NewConflict("The sequence is archived: it enrols nobody.")
	}
	def, err := sequence.Parse(json.RawMessage(seq.Definition))
	if err != nil {
		return nil, nil, fmt.Errorf("automation: stored definition of %s: %w", id, err)
	}
	return seq, def, nil
}

// Trigger enrols one contact in an active sequence (any trigger type
// allows the manual one).
func (s *Service) Trigger(ctx context.Context, orgID, id string, t TriggerTarget) (Enrollment, error) {
	seq, def, err := s.triggerable(ctx, orgID, id)
	if err != nil {
		return Enrollment{}, err
	}
	return s.enrol(ctx, seq, def, t)
}

// TriggerMany enrols up to MaxBulkTrigger contacts, a few at a time; each
// contact's outcome is its own (the enrollment, or why not).
func (s *Service) TriggerMany(ctx context.Context, orgID, id string, ts []TriggerTarget) ([]TriggerResult, error) {
	seq, def, err := s.triggerable(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	out := make([]TriggerResult, len(ts))
	failed := make([]error, len(ts))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(bulkWorkers, len(ts)) {
		wg.Go(func() {
			for i := range work {
				t := ts[i]
				out[i] = TriggerResult{ContactID: t.ContactID, Email: t.Email}
				enr, err := s.enrol(ctx, seq, def, t)
				if err == nil {
					out[i].ContactID, out[i].Enrollment = enr.ContactID, &enr
					continue
				}
				if re, ok := resultError(err); ok {
					out[i].Error = re
					continue
				}
				failed[i] = err
			}
		})
	}
	for i := range ts {
		work <- i
	}
	close(work)
	wg.Wait()
	if i := slices.IndexFunc(failed, func(e error) bool { return e != nil }); i >= 0 {
		return nil, failed[i]
	}
	return out, nil
}

// resultError is the per-contact error of a bulk trigger for a domain
// error; false for a failure of the service (which fails the call).
func resultError(err error) (*ResultError, bool) {
	var ne *NotEnrolledError
	switch {
	case errors.As(err, &ne):
		return &ResultError{Code: httpx.CodeConflict, Message: ne.Message, EnrollmentID: ne.EnrollmentID}, true
	case errors.Is(err, errs.ErrNotFound):
		msg, _ := errs.PublicMessage(err)
		return &ResultError{Code: httpx.CodeNotFound, Message: msg}, true
	case errors.Is(err, errs.ErrConflict):
		msg, _ := errs.PublicMessage(err)
		return &ResultError{Code: httpx.CodeConflict, Message: msg}, true
	}
	return nil, false
}

// enrol finds the contact and enrols it, with a key of its own (a manual
// trigger is a new trigger each time; the entry guard still refuses a
// contact in the sequence, or one its re-entry rule keeps out).
func (s *Service) enrol(ctx context.Context, seq *journey.Sequence, def *sequence.Definition, t TriggerTarget) (Enrollment, error) {
	contactID, err := s.contact(ctx, seq.OrgID, t)
	if err != nil {
		return Enrollment{}, err
	}
	now := s.clock.Now().UTC()
	enr, _, err := s.enroller.Enroll(ctx, journey.EnrollRequest{Sequence: seq, Reentry: def.Reentry, Entry: def.Entry().ID,
		ContactID: contactID, Trigger: TriggerManual, Data: string(t.Data), Key: ids.New(triggerKeyPrefix, now), At: now})
	var ne *journey.NotEnrolled
	if errors.As(err, &ne) {
		msg := "The contact was not enrolled: " + ne.Reason
		if ne.Existing != "" {
			msg += " (enrollment " + ne.Existing + ")"
		}
		return Enrollment{}, &NotEnrolledError{Message: msg + ".", EnrollmentID: ne.Existing}
	}
	if err != nil {
		return Enrollment{}, err
	}
	return enrollmentAPI(enr, true), nil
}

// contact is the id of the tenant's contact a trigger names; 404 when the
// tenant has none.
func (s *Service) contact(ctx context.Context, orgID string, t TriggerTarget) (string, error) {
	id := t.ContactID
	if id == "" {
		var err error
		id, err = s.repo.contactByEmail(ctx, orgID, t.Email)
		if errors.Is(err, errs.ErrNotFound) {
			return "", errs.NewNotFound("No contact with the email " + t.Email + " exists in the organisation.")
		}
		if err != nil {
			return "", err
		}
	}
	if !ids.Valid(ids.Contact, id) {
		return "", errContactNotFound
	}
	ok, err := s.repo.contactExists(ctx, orgID, id)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errContactNotFound
	}
	return id, nil
}
