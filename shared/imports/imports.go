// Package imports is the bulk import of contacts from a CSV file: the client
// uploads the file to a presigned S3 URL, a worker upserts its rows in
// batches of 100 and checkpoints after each, so the client can show progress
// and a worker that dies resumes without losing or double-counting a row.
package imports

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/store"
)

// Statuses of an import.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
)

// Limits.
const (
	MaxErrors  = 100
	UploadTTL  = time.Hour
	RecordTTL  = 30 * 24 * time.Hour
	objectRoot = "imports/"
	batchSize  = contacts.MaxBatch
	idPrefix   = "imp"
	ItemType   = "import"
)

// RowError is one row that could not be imported.
type RowError struct {
	Line    int    `json:"line" dynamodbav:"line"`
	Email   string `json:"email,omitempty" dynamodbav:"email,omitempty"`
	Message string `json:"message" dynamodbav:"message"`
}

// Import is an import as the API shows it.
type Import struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"`
	Total           int        `json:"total"`
	Processed       int        `json:"processed"`
	Created         int        `json:"created"`
	Updated         int        `json:"updated"`
	Failed          int        `json:"failed"`
	Errors          []RowError `json:"errors"`
	FailureReason   *string    `json:"failureReason"`
	CreatedAt       time.Time  `json:"createdAt"`
	StartedAt       *time.Time `json:"startedAt"`
	CompletedAt     *time.Time `json:"completedAt"`
	UploadURL       *string    `json:"uploadUrl,omitempty"`
	UploadExpiresAt *time.Time `json:"uploadExpiresAt,omitempty"`
}

// Item is an import as stored, with its checkpoint: the byte offset and line
// of the next unread row, and the counts up to there.
type Item struct {
	store.Key
	Type          string     `dynamodbav:"type"`
	OrgID         string     `dynamodbav:"orgId"`
	ID            string     `dynamodbav:"id"`
	Status        string     `dynamodbav:"status"`
	Total         int        `dynamodbav:"total"`
	Processed     int        `dynamodbav:"processed"`
	Created       int        `dynamodbav:"created"`
	Updated       int        `dynamodbav:"updated"`
	Failed        int        `dynamodbav:"failed"`
	Errors        []RowError `dynamodbav:"errors"`
	FailureReason *string    `dynamodbav:"failureReason"`
	Header        []string   `dynamodbav:"header"`
	Offset        int64      `dynamodbav:"offset"`
	Line          int        `dynamodbav:"line"`
	Version       int        `dynamodbav:"version"`
	CreatedAt     time.Time  `dynamodbav:"createdAt"`
	StartedAt     *time.Time `dynamodbav:"startedAt"`
	CompletedAt   *time.Time `dynamodbav:"completedAt"`
	TTL           int64      `dynamodbav:"ttl"`
}

// API is the import as the API shows it.
func (it *Item) API() Import {
	out := Import{ID: it.ID, Status: it.Status, Total: it.Total, Processed: it.Processed, Created: it.Created, Updated: it.Updated,
		Failed: it.Failed, Errors: it.Errors, FailureReason: it.FailureReason, CreatedAt: it.CreatedAt, StartedAt: it.StartedAt, CompletedAt: it.CompletedAt}
	if out.Errors == nil {
		out.Errors = []RowError{}
	}
	return out
}

// ObjectReader reads (part of) an uploaded file.
type ObjectReader interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Service creates, reads and runs imports.
type Service struct {
	store    *store.Store
	contacts *contacts.Service
	clock    clock.Clock
	presign  *s3.PresignClient
	objects  ObjectReader
	bucket   string
}

// NewService returns the imports service over the bucket uploads go to.
func NewService(st *store.Store, cs *contacts.Service, clk clock.Clock, s3c *s3.Client, bucket string) *Service {
	return &Service{store: st, contacts: cs, clock: clk, presign: s3.NewPresignClient(s3c), objects: s3c, bucket: bucket}
}

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
	it.Key = store.ImportKey(orgID, it.ID)
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: aws.String(ObjectKey(orgID, it.ID))},
		s3.WithPresignExpires(UploadTTL))
	if err != nil {
		return nil, fmt.Errorf("imports: presign upload: %w", err)
	}
	if err := s.store.PutNew(ctx, it); err != nil {
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
	var it Item
	if err := s.store.Get(ctx, store.ImportKey(orgID, id), &it); err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return nil, errNotFound
		}
		return nil, err
	}
	return &it, nil
}

// save writes the import's new state if nobody else has since it was read
// (two workers on one import: only one moves it on). It reports whether it won.
func (s *Service) save(ctx context.Context, it *Item) (bool, error) {
	old := it.Version
	it.Version++
	av, err := store.Marshal(it)
	if err != nil {
		return false, err
	}
	_, err = s.store.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.store.Table,
		Item:                      av,
		ConditionExpression:       aws.String("version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(old)}},
	})
	if errors.Is(store.MapErr(err), errs.ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("imports: checkpoint: %w", err)
	}
	return true, nil
}
