package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sendwell/sendwell/shared/automation/sequence"
	"github.com/sendwell/sendwell/shared/segments/rules"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
)

// Bounds of what LoadFacts reads of a contact's history: as the segments'
// counters, at most MaxEvents events of a name (the newest; events expire
// with their retention), and the newest MaxSends sends.
const (
	MaxEvents = 1000
	MaxSends  = 100
)

// TimezoneProperty is the contact property that names its IANA zone.
const TimezoneProperty = "timezone"

// contactItem is the part of a contact item (shared/contacts) the
// conditions read.
type contactItem struct {
	ID         string         `dynamodbav:"id"`
	Email      string         `dynamodbav:"email"`
	FirstName  *string        `dynamodbav:"firstName"`
	LastName   *string        `dynamodbav:"lastName"`
	Properties map[string]any `dynamodbav:"properties"`
	Tags       []string       `dynamodbav:"tags"`
	Subscribed bool           `dynamodbav:"subscribed"`
	CreatedAt  time.Time      `dynamodbav:"createdAt"`
}

// sendItem is the part of a send (shared/sends) email conditions read.
type sendItem struct {
	TemplateID string    `dynamodbav:"templateId"`
	Status     string    `dynamodbav:"status"`
	StatusAt   time.Time `dynamodbav:"statusAt"`
	CreatedAt  time.Time `dynamodbav:"createdAt"`
	Opens      int       `dynamodbav:"opens"`
	Clicks     int       `dynamodbav:"clicks"`
}

// eventItem is the part of a tracked event (shared/tracking) counters read.
type eventItem struct {
	Properties map[string]any `dynamodbav:"properties"`
	Timestamp  time.Time      `dynamodbav:"timestamp"`
}

// LoadFacts reads what def's conditions need to know of a stored contact
// (its fields, properties and tags; the events, segments and sends its
// rules depend on) and its timezone property ("" when none).
// errs.ErrNotFound when the contact does not exist.
//
// Reads: the contact (one GetItem, strongly consistent); when the
// conditions name segments, its memberships (one Query); when they test
// emails, its newest sends (one Query); per event name the conditions
// count, its events of that name (one Query, paged). The events are read
// by name, not from the segments' counters, which keep only the events
// some segment counts.
func LoadFacts(ctx context.Context, st *store.Store, orgID, contactID string, def *sequence.Definition) (rules.Facts, string, error) {
	return LoadFactsFor(ctx, st, orgID, contactID, Conditions(def))
}

// LoadFactsFor is LoadFacts for some conditions only: the worker reads, at
// each step, what exitWhen's condition and the step's own branch need.
func LoadFactsFor(ctx context.Context, st *store.Store, orgID, contactID string, conds []*rules.Rule) (rules.Facts, string, error) {
	var c contactItem
	if err := st.GetConsistent(ctx, store.ContactKey(orgID, contactID), &c); err != nil {
		return rules.Facts{}, "", err
	}
	f := rules.Facts{Contact: rules.Contact{ID: c.ID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName,
		Subscribed: c.Subscribed, CreatedAt: c.CreatedAt, Properties: c.Properties, Tags: c.Tags}}
	tz, _ := c.Properties[TimezoneProperty].(string)
	segs, email := false, false
	for _, r := range conds {
		d := r.Deps()
		segs = segs || len(d.Segments) > 0
		email = email || d.Email
	}
	var err error
	if segs {
		if f.Segments, err = memberships(ctx, st, orgID, contactID); err != nil {
			return rules.Facts{}, "", err
		}
	}
	if email {
		if f.Sends, err = recentSends(ctx, st, orgID, contactID); err != nil {
			return rules.Facts{}, "", err
		}
	}
	if f.Events, err = counted(ctx, st, orgID, contactID, counters(conds)); err != nil {
		return rules.Facts{}, "", err
	}
	return f, tz, nil
}

// StepConditions are the conditions a step is decided on: exitWhen's and,
// for a branch, its if.
func StepConditions(def *sequence.Definition, stepID string) []*rules.Rule {
	var out []*rules.Rule
	if def.ExitWhen != nil && def.ExitWhen.Condition != nil {
		out = append(out, def.ExitWhen.Condition)
	}
	if s, ok := def.Step(stepID); ok && s.Branch != nil && s.Branch.If != nil {
		out = append(out, s.Branch.If)
	}
	return out
}

// memberships are the segments the contact is a member of.
func memberships(ctx context.Context, st *store.Store, orgID, contactID string) (map[string]bool, error) {
	out := map[string]bool{}
	err := st.QueryKeys(ctx, store.ContactSegmentsPK(orgID, contactID), store.SegmentPrefix(), func(ks []store.Key) error {
		for _, k := range ks {
			out[strings.TrimPrefix(k.SK, store.SegmentPrefix())] = true
		}
		return nil
	})
	return out, err
}

// recentSends are the contact's newest MaxSends sends (GSI3).
func recentSends(ctx context.Context, st *store.Store, orgID, contactID string) ([]rules.Send, error) {
	res, err := st.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:              &st.Table,
		IndexName:              aws.String(store.IndexGSI3),
		KeyConditionExpression: aws.String("GSI3PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.SendsByContactPK(orgID, contactID)},
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(MaxSends),
	})
	if err != nil {
		return nil, store.MapErr(err)
	}
	var items []sendItem
	if err := attributevalue.UnmarshalListOfMaps(res.Items, &items); err != nil {
		return nil, fmt.Errorf("engine: decode sends: %w", err)
	}
	out := make([]rules.Send, 0, len(items))
	for _, s := range items {
		clicked := s.Status == sends.Clicked || s.Clicks > 0
		opened := clicked || s.Status == sends.Opened || s.Opens > 0
		delivered := opened || s.Status == sends.Delivered || s.Status == sends.Complained
		out = append(out, rules.Send{TemplateID: s.TemplateID, CreatedAt: s.CreatedAt, Delivered: delivered, Opened: opened,
			Clicked: clicked, Bounced: s.Status == sends.Bounced, At: s.StatusAt})
	}
	return out, nil
}

// counted reads the contact's events of each name the counters count and
// files each event's time under every counter it matches.
func counted(ctx context.Context, st *store.Store, orgID, contactID string, counters []rules.Counter) (map[string][]time.Time, error) {
	out := map[string][]time.Time{}
	byName := map[string][]rules.Counter{}
	for _, c := range counters {
		byName[c.Event] = append(byName[c.Event], c)
	}
	for name, cs := range byName {
		evs, err := eventsOf(ctx, st, orgID, contactID, name)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			for _, c := range cs {
				if c.Matches(e.Properties) {
					out[c.Key] = append(out[c.Key], e.Timestamp)
				}
			}
		}
	}
	return out, nil
}

// eventsOf reads the contact's newest MaxEvents events of one name (GSI1).
func eventsOf(ctx context.Context, st *store.Store, orgID, contactID, name string) ([]eventItem, error) {
	in := &dynamodb.QueryInput{
		TableName:              &st.Table,
		IndexName:              aws.String(store.IndexGSI1),
		KeyConditionExpression: aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.EventNamePK(orgID, contactID, name)},
		},
		ProjectionExpression:     aws.String("#p, #ts"),
		ExpressionAttributeNames: map[string]string{"#p": "properties", "#ts": "timestamp"},
		ScanIndexForward:         aws.Bool(false),
	}
	var out []eventItem
	pages := dynamodb.NewQueryPaginator(st.DB, in)
	for pages.HasMorePages() && len(out) < MaxEvents {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, store.MapErr(err)
		}
		var items []eventItem
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return nil, fmt.Errorf("engine: decode events: %w", err)
		}
		out = append(out, items...)
	}
	if len(out) > MaxEvents {
		out = out[:MaxEvents]
	}
	return out, nil
}
