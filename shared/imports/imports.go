// Package imports is the bulk import of contacts from a CSV file: the client
// uploads the file to a presigned S3 URL, a worker counts its rows, then
// upserts them in batches of 100 and checkpoints after each, so the client
// can show progress and a worker that dies resumes without losing or
// double-counting a row. Every read of the file after the first asks S3 for
// the object the first one got, so a second upload is never spliced in.
// The item is written in one place, repo.go.
package imports

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/imports/importitem"
	"github.com/sendwell/sendwell/shared/store"
)

// Statuses of an import.
const (
	StatusPending   = importitem.StatusPending
	StatusRunning   = importitem.StatusRunning
	StatusCompleted = importitem.StatusCompleted
	StatusFailed    = importitem.StatusFailed
)

// The import's item and its API form live in importitem, which links no
// S3 client, so the changes function can read them.
type (
	// RowError is one row that could not be imported.
	RowError = importitem.RowError
	// Import is an import as the API shows it.
	Import = importitem.Import
	// Item is an import as stored.
	Item = importitem.Item
)

// Limits.
const (
	MaxErrors  = 100                 // row errors an import keeps
	UploadTTL  = time.Hour           // how long the upload URL works
	RecordTTL  = 30 * 24 * time.Hour // how long an import is kept
	objectRoot = "imports/"
	batchSize  = contacts.MaxBatch
	idPrefix   = "imp"
	ItemType   = importitem.ItemType // the type attribute of import items

	// countStride is how many rows the counting pass counts between two
	// looks at its deadline: a thousand rows take about a millisecond.
	countStride = 1000
)

// ObjectReader reads (part of) an uploaded file.
type ObjectReader interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Service creates, reads and runs imports.
type Service struct {
	repo        repo
	contacts    *contacts.Service
	clock       clock.Clock
	presign     *s3.PresignClient
	objects     ObjectReader
	bucket      string
	countStride int
}

// NewService returns the imports service over the bucket uploads go to.
func NewService(st *store.Store, cs *contacts.Service, clk clock.Clock, s3c *s3.Client, bucket string) *Service {
	return &Service{repo: repo{st}, contacts: cs, clock: clk, presign: s3.NewPresignClient(s3c), objects: s3c, bucket: bucket,
		countStride: countStride}
}

// Contacts is the contacts service the imports write through.
func (s *Service) Contacts() *contacts.Service { return s.contacts }

// ObjectKey is where an import's file is uploaded: it names the tenant and
// the import, so the worker knows both from the upload notice alone.
func ObjectKey(orgID, importID string) string {
	return objectRoot + orgID + "/" + importID + ".csv"
}

// ParseObjectKey is ObjectKey's inverse.
func ParseObjectKey(key string) (orgID, importID string, ok bool) {
	rest, ok := strings.CutPrefix(key, objectRoot)
	if !ok {
		return "", "", false
	}
	orgID, file, ok := strings.Cut(rest, "/")
	importID, isCSV := strings.CutSuffix(file, ".csv")
	if !ok || !isCSV || !ids.Valid(ids.Org, orgID) || !ids.Valid(idPrefix, importID) {
		return "", "", false
	}
	return orgID, importID, true
}

// Create records a pending import and returns it with the URL to PUT the CSV to.
func (s *Service) Create(ctx context.Context, orgID string) (*Import, error) {
	now := s.clock.Now()
	it := &Item{Type: ItemType, OrgID: orgID, ID: ids.New(idPrefix, now), Status: StatusPending, Version: 1, CreatedAt: now,
		TTL: now.Add(RecordTTL).Unix()}
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: aws.String(ObjectKey(orgID, it.ID))},
		s3.WithPresignExpires(UploadTTL))
	if err != nil {
		return nil, fmt.Errorf("imports: presign upload: %w", err)
	}
	if err := s.repo.create(ctx, it); err != nil {
		return nil, err
	}
	out := it.API()
	exp := now.Add(UploadTTL)
	out.UploadURL, out.UploadExpiresAt = &req.URL, &exp
	return &out, nil
}

var errNotFound = errs.NewNotFound("Import not found.")

// Get reads an import: one GetItem.
func (s *Service) Get(ctx context.Context, orgID, id string) (*Item, error) {
	if !ids.Valid(idPrefix, id) {
		return nil, errNotFound
	}
	return s.repo.get(ctx, orgID, id)
}
