package imports

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
)

// ErrUnfinished says Run stopped at a checkpoint because its time ran out;
// the caller queues the import to go on.
var ErrUnfinished = errors.New("imports: stopped at a checkpoint, to be continued")

// Reasons an import fails as a whole.
const (
	ReasonReplaced = "The file was replaced while it was being imported; start a new import."
	ReasonDeleted  = "The file was deleted before it was imported; start a new import."
	ReasonNotCSV   = "The file is empty or not a CSV."
)

// errReplaced and errDeleted say the object the counting pass opened is no
// longer there to read; errPastEnd that a read began at the end of the file.
var (
	errReplaced = errors.New("imports: the upload changed since it was counted")
	errDeleted  = errors.New("imports: the upload is gone")
	errPastEnd  = errors.New("imports: read past the end of the upload")
)

// Run imports (or resumes) an uploaded file, until it is done or until
// stopBy, whichever comes first (a zero stopBy: no limit). Running it twice,
// or two at once, is safe: every step is a conditional write on the
// import's version.
//
// It first counts the rows (checkpointing the count when stopBy comes
// first), then upserts them a batch at a time, checkpointing after each.
// A batch the store fails (errs.Retryable) is not counted: Run returns the
// error before the checkpoint, and the next run redoes the batch.
func (s *Service) Run(ctx context.Context, orgID, importID string, stopBy time.Time) error {
	it, err := s.Get(ctx, orgID, importID)
	if errors.Is(err, errs.ErrNotFound) {
		slog.WarnContext(ctx, "imports: upload for an unknown import", "importId", importID)
		return nil
	}
	if err != nil {
		return err
	}
	if it.Status == StatusCompleted || it.Status == StatusFailed {
		return nil // a repeated notice
	}
	if it.Status == StatusPending {
		if err := s.count(ctx, it, stopBy); err != nil {
			return err
		}
		if it.Status != StatusRunning {
			return nil // failed, or another worker has it
		}
	}
	return s.resume(ctx, it, stopBy)
}

// count reads the header and counts the rows, so progress has a total. It
// goes on from its own checkpoint, and leaves one when stopBy passes: a
// file too large to count in one invocation is counted over several.
func (s *Service) count(ctx context.Context, it *Item, stopBy time.Time) error {
	first := it.StartedAt == nil
	from := it.CountOffset
	if first {
		from = 0
	} else if it.Size > 0 && from >= it.Size {
		return s.counted(ctx, it, from) // stopped at the end: nothing left to count
	}
	body, err := s.open(ctx, it, from)
	if errors.Is(err, errPastEnd) {
		return s.counted(ctx, it, from)
	}
	if err != nil {
		return s.failOnRead(ctx, it, err)
	}
	defer body.Close()
	lines := &lineCounter{r: body}
	r := csv.NewReader(lines)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	if first {
		now := s.clock.Now()
		it.StartedAt = &now
		header, err := r.Read()
		var pe *csv.ParseError
		if errors.Is(err, io.EOF) || errors.As(err, &pe) {
			return s.fail(ctx, it, ReasonNotCSV)
		}
		if err != nil {
			return s.readErr(it, err)
		}
		cols, reason := parseHeader(header)
		if reason != "" {
			return s.fail(ctx, it, reason)
		}
		it.Header = cols
		it.Offset = r.InputOffset()
		it.Line = 1 + lines.consume(it.Offset) // a quoted header cell may hold line breaks
		it.CountOffset = it.Offset
	}
	lines.stop() // only the header's lines are counted here
	for n := 1; ; n++ {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			return s.readErr(it, err)
		}
		it.Counted++
		if n%s.countStride == 0 && past(s.clock.Now(), stopBy) {
			it.CountOffset = from + r.InputOffset()
			won, err := s.repo.save(ctx, it)
			if err != nil || !won {
				return err
			}
			return ErrUnfinished
		}
	}
	return s.counted(ctx, it, from+r.InputOffset())
}

// counted ends the counting pass at end, the end of the file: the import
// has its total and runs.
func (s *Service) counted(ctx context.Context, it *Item, end int64) error {
	it.CountOffset = end
	it.Total, it.Status = it.Counted, StatusRunning
	won, err := s.repo.save(ctx, it)
	if err != nil || !won {
		it.Status = "" // another worker has it
	}
	return err
}

// resume goes on from the checkpoint a batch of rows at a time.
func (s *Service) resume(ctx context.Context, it *Item, stopBy time.Time) error {
	if it.Size > 0 && it.Offset >= it.Size {
		return s.complete(ctx, it) // stopped at the end: nothing left to read
	}
	// Every row counts against the plan's contacts quota: the plan is read
	// once per run, not once per batch.
	ctx, err := s.contacts.WithPlan(ctx, it.OrgID)
	if err != nil {
		return fmt.Errorf("imports: %s: read the plan: %w", it.ID, err)
	}
	body, err := s.open(ctx, it, it.Offset)
	if errors.Is(err, errPastEnd) {
		return s.complete(ctx, it)
	}
	if err != nil {
		return s.failOnRead(ctx, it, err)
	}
	defer body.Close()
	seen := &lineCounter{r: body}
	r := csv.NewReader(seen)
	r.FieldsPerRecord = len(it.Header)
	base, baseLine := it.Offset, it.Line // r's offsets and lines count from here
	for {
		batch, lines, eof, err := readBatch(r, it.Header, it.ID, baseLine)
		if err != nil {
			return s.readErr(it, err)
		}
		results := s.contacts.Upsert(ctx, it.OrgID, batch)
		for i, res := range results {
			// A row the store failed (not the row's fault) is not a failed
			// row: stop before the checkpoint, and the retry redoes the batch.
			if res.Status == contacts.StatusError && errs.Retryable(res.Err) {
				return fmt.Errorf("imports: %s line %d: %w", it.ID, lines[i], res.Err)
			}
		}
		for i, res := range results {
			switch res.Status {
			case contacts.StatusCreated:
				it.Created++
			case contacts.StatusUpdated:
				it.Updated++
			default:
				it.Failed++
				if len(it.Errors) < MaxErrors {
					it.Errors = append(it.Errors, RowError{Line: lines[i], Email: batch[i].Input.Email, Message: rowMessage(res.Err)})
				}
			}
		}
		it.Processed += len(batch)
		it.Line += seen.consume(base + r.InputOffset() - it.Offset)
		it.Offset = base + r.InputOffset()
		if eof {
			now := s.clock.Now()
			it.Status, it.CompletedAt = StatusCompleted, &now
		}
		won, err := s.repo.save(ctx, it)
		if err != nil || !won || eof {
			return err
		}
		if past(s.clock.Now(), stopBy) {
			return ErrUnfinished
		}
	}
}

// past reports whether now is after stopBy (never, for a zero stopBy).
func past(now, stopBy time.Time) bool { return !stopBy.IsZero() && now.After(stopBy) }

// complete marks an import whose checkpoint is at the end of the file done.
func (s *Service) complete(ctx context.Context, it *Item) error {
	now := s.clock.Now()
	it.Status, it.CompletedAt = StatusCompleted, &now
	_, err := s.repo.save(ctx, it)
	return err
}

// rowMessage is why a row failed, as the API would answer for that contact.
func rowMessage(err error) string {
	var (
		v *errs.Validation
		u *errs.Unprocessable
	)
	switch {
	case errors.As(err, &v):
		return v.Message
	case errors.As(err, &u):
		return u.Message
	}
	if m, ok := errs.PublicMessage(err); ok {
		return m
	}
	return "The row could not be imported."
}

// readBatch reads up to one batch of rows. lines are their line numbers in
// the file; a malformed row becomes an item with its error.
func readBatch(r *csv.Reader, header []string, importID string, baseLine int) (batch []contacts.UpsertItem, lines []int, eof bool, err error) {
	for len(batch) < batchSize {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return batch, lines, true, nil
		}
		var pe *csv.ParseError
		var line int
		if errors.As(err, &pe) {
			line = pe.StartLine // FieldPos is not defined after an error
		} else {
			line, _ = r.FieldPos(0)
		}
		line += baseLine - 1
		switch {
		case errors.As(err, &pe) && !errors.Is(err, csv.ErrFieldCount):
			batch = append(batch, contacts.UpsertItem{Err: errs.Invalid("row", "The row is not valid CSV: %v.", pe.Err)})
		case err != nil && !errors.Is(err, csv.ErrFieldCount):
			return nil, nil, false, err
		case errors.Is(err, csv.ErrFieldCount):
			batch = append(batch, contacts.UpsertItem{Err: errs.Invalid("row", "The row has %d fields; the header has %d.", len(rec), len(header))})
		default:
			batch = append(batch, rowItem(header, rec, importID, line))
		}
		lines = append(lines, line)
	}
	return batch, lines, false, nil
}

// rowItem turns a row into an upsert: email, firstName, lastName and tags
// (separated by ';') are the contact's fields, any other column a string
// property. Empty cells are left out.
func rowItem(header, rec []string, importID string, line int) contacts.UpsertItem {
	in := contacts.Input{}
	props := map[string]any{}
	for i, col := range header {
		v := strings.TrimSpace(rec[i])
		if v == "" && col != colEmail {
			continue
		}
		switch col {
		case colEmail:
			in.Email = v
		case colFirstName:
			in.FirstName = httpx.Optional[string]{Set: true, Value: v}
		case colLastName:
			in.LastName = httpx.Optional[string]{Set: true, Value: v}
		case colTags:
			in.Tags = httpx.Optional[[]string]{Set: true, Value: strings.Split(v, ";")}
		default:
			props[col] = v
		}
	}
	if len(props) > 0 {
		in.Properties = httpx.Optional[map[string]any]{Set: true, Value: props}
	}
	err := in.Validate()
	return contacts.UpsertItem{Input: in, Err: err, Source: fmt.Sprintf("%s:%d", importID, line)}
}

// open reads the upload from offset. The first read (the counting pass's,
// from the start) records which object it got; every later one asks for
// that object only (If-Match on its ETag, and its version when the bucket
// keeps versions), so a second upload to the same URL is never read as the
// rest of the first: it makes errReplaced instead.
func (s *Service) open(ctx context.Context, it *Item, offset int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(ObjectKey(it.OrgID, it.ID))}
	if it.ETag != "" {
		in.IfMatch = aws.String(it.ETag)
	}
	if it.VersionID != "" {
		in.VersionId = aws.String(it.VersionID)
	}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.objects.GetObject(ctx, in)
	if err != nil {
		return nil, objectErr(it, err)
	}
	etag := aws.ToString(out.ETag)
	switch {
	case it.ETag == "" && offset == 0:
		it.ETag, it.VersionID, it.Size = etag, aws.ToString(out.VersionId), aws.ToInt64(out.ContentLength)
	case it.ETag != "" && etag != it.ETag: // a store that ignored If-Match
		out.Body.Close()
		return nil, errReplaced
	}
	return out.Body, nil
}

// objectErr says what a failed read of the upload means for the import.
func objectErr(it *Item, err error) error {
	var api smithy.APIError
	code := ""
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	var status interface{ HTTPStatusCode() int }
	httpStatus := 0
	if errors.As(err, &status) {
		httpStatus = status.HTTPStatusCode()
	}
	switch {
	case code == "PreconditionFailed" || httpStatus == http.StatusPreconditionFailed:
		return errReplaced
	case code == "NoSuchKey" || code == "NoSuchVersion" || httpStatus == http.StatusNotFound:
		return errDeleted
	case code == "InvalidRange" || httpStatus == http.StatusRequestedRangeNotSatisfiable:
		return errPastEnd
	}
	return fmt.Errorf("imports: read the upload of %s: %w", it.ID, err)
}

// failOnRead fails the import when its file is gone or replaced, and
// returns any other read error for the message to be retried.
func (s *Service) failOnRead(ctx context.Context, it *Item, err error) error {
	switch {
	case errors.Is(err, errReplaced):
		return s.fail(ctx, it, ReasonReplaced)
	case errors.Is(err, errDeleted):
		return s.fail(ctx, it, ReasonDeleted)
	}
	return err
}

// readErr is a failure to read the body of the upload once it was opened.
func (s *Service) readErr(it *Item, err error) error {
	return fmt.Errorf("imports: read the upload of %s: %w", it.ID, err)
}

// fail ends the import with reason, once: a worker that lost the race to
// another leaves the import as that one left it.
func (s *Service) fail(ctx context.Context, it *Item, reason string) error {
	now := s.clock.Now()
	it.Status, it.FailureReason, it.CompletedAt = StatusFailed, &reason, &now
	_, err := s.repo.save(ctx, it)
	return err
}

// lineCounter remembers what the CSV reader has read ahead, so the lines of
// the bytes it has consumed can be counted exactly (a quoted field may hold
// line breaks).
type lineCounter struct {
	r       io.Reader
	held    []byte
	stopped bool
}

func (l *lineCounter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if !l.stopped {
		l.held = append(l.held, p[:n]...)
	}
	return n, err
}

// consume forgets the next n bytes and returns how many line breaks they held.
func (l *lineCounter) consume(n int64) int {
	lines := bytes.Count(l.held[:n], []byte{'\n'})
	l.held = l.held[n:]
	return lines
}

// stop makes it a plain reader: nothing more is held or counted.
func (l *lineCounter) stop() { l.stopped, l.held = true, nil }
