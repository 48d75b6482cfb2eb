package imports

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
)

// ErrUnfinished says Run stopped at a checkpoint because its time ran out;
// the caller queues the import to go on.
var ErrUnfinished = errors.New("imports: stopped at a checkpoint, to be continued")

// Run imports (or resumes) an uploaded file, until it is done or until
// stopBy, whichever comes first. Running it twice, or two at once, is safe:
// every step is a conditional write on the import's version.
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
		if err := s.start(ctx, it); err != nil {
			return err
		}
		if it.Status != StatusRunning {
			return nil
		}
	}
	return s.resume(ctx, it, stopBy)
}

// start reads the header and counts the rows, so progress has a total.
func (s *Service) start(ctx context.Context, it *Item) error {
	body, err := s.open(ctx, it, 0)
	if err != nil {
		return err
	}
	defer body.Close()
	r := csv.NewReader(body)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	now := s.clock.Now()
	it.StartedAt = &now
	if err != nil {
		return s.fail(ctx, it, "The file is empty or not a CSV.")
	}
	it.Header = normaliseHeader(header)
	if !contains(it.Header, "email") {
		return s.fail(ctx, it, "The CSV's header row has no 'email' column.")
	}
	it.Offset, it.Line = r.InputOffset(), 2
	total := 0
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			return fmt.Errorf("imports: read %s: %w", it.ID, err)
		}
		total++
	}
	it.Total, it.Status = total, StatusRunning
	won, err := s.save(ctx, it)
	if err != nil || !won {
		it.Status = "" // another worker has it
	}
	return err
}

// resume goes on from the checkpoint a batch of rows at a time.
func (s *Service) resume(ctx context.Context, it *Item, stopBy time.Time) error {
	body, err := s.open(ctx, it, it.Offset)
	if err != nil {
		return err
	}
	defer body.Close()
	seen := &lineCounter{r: body}
	r := csv.NewReader(seen)
	r.FieldsPerRecord = len(it.Header)
	base, baseLine := it.Offset, it.Line
	for {
		batch, lines, eof, err := readBatch(r, it.Header, it.ID, baseLine)
		if err != nil {
			return err
		}
		results := s.contacts.Upsert(ctx, it.OrgID, batch)
		for i, res := range results {
			// A row the store failed (not the row's fault) is not a failed
			// row: stop before the checkpoint, and the retry redoes the batch.
			if status, _, _ := httpx.Classify(res.Err); res.Err != nil && status >= 500 {
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
					_, _, msg := httpx.Classify(res.Err)
					it.Errors = append(it.Errors, RowError{Line: lines[i], Email: batch[i].Input.Email, Message: msg})
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
		won, err := s.save(ctx, it)
		if err != nil || !won || eof {
			return err
		}
		if !stopBy.IsZero() && s.clock.Now().After(stopBy) {
			return ErrUnfinished
		}
	}
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
			return nil, nil, false, fmt.Errorf("imports: read %s: %w", importID, err)
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
// (separated by ';') are the contact's fields, any other column a property.
// Empty cells are left out.
func rowItem(header, rec []string, importID string, line int) contacts.UpsertItem {
	in := contacts.Input{}
	props := map[string]any{}
	for i, col := range header {
		v := strings.TrimSpace(rec[i])
		if v == "" && col != "email" {
			continue
		}
		switch col {
		case "email":
			in.Email = v
		case "firstname":
			in.FirstName = httpx.Optional[string]{Set: true, Value: v}
		case "lastname":
			in.LastName = httpx.Optional[string]{Set: true, Value: v}
		case "tags":
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

// normaliseHeader lower-cases the known columns and keeps others as written.
func normaliseHeader(h []string) []string {
	out := make([]string, len(h))
	for i, c := range h {
		c = strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))
		switch l := strings.ToLower(c); l {
		case "email", "firstname", "lastname", "tags":
			c = l
		case "first_name":
			c = "firstname"
		case "last_name":
			c = "lastname"
		}
		out[i] = c
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Service) open(ctx context.Context, it *Item, offset int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(ObjectKey(it.OrgID, it.ID))}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.objects.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("imports: read the upload of %s: %w", it.ID, err)
	}
	return out.Body, nil
}

func (s *Service) fail(ctx context.Context, it *Item, reason string) error {
	now := s.clock.Now()
	it.Status, it.FailureReason, it.CompletedAt = StatusFailed, &reason, &now
	_, err := s.save(ctx, it)
	return err
}

// lineCounter remembers what the CSV reader has read ahead, so the lines of
// the bytes it has consumed can be counted exactly (a quoted field may hold
// line breaks).
type lineCounter struct {
	r    io.Reader
	held []byte
}

func (l *lineCounter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.held = append(l.held, p[:n]...)
	return n, err
}

// consume forgets the next n bytes and returns how many line breaks they held.
func (l *lineCounter) consume(n int64) int {
	lines := bytes.Count(l.held[:n], []byte{'\n'})
	l.held = l.held[n:]
	return lines
}
