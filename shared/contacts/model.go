// Package contacts is the audience: contacts, their uniqueness by email, the
// list and its filters, batch upserts and bulk imports.
package contacts

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/validate"
)

// Limits of a contact.
const (
	MaxProperties    = 100
	MaxPropertyBytes = 16 << 10
	MaxTags          = 50
	MaxTagLen        = 64
	MaxNameLen       = 100
	MaxBatch         = 100
	maxTxItems       = 100
)

// validPropertyKey is [A-Za-z0-9_]{1,64}.
func validPropertyKey(k string) bool { return validate.Identifier(k, 64, "") }

// Contact is a contact as the API shows it.
type Contact struct {
	ID             string         `json:"id"`
	Email          string         `json:"email"`
	FirstName      *string        `json:"firstName"`
	LastName       *string        `json:"lastName"`
	Properties     map[string]any `json:"properties"`
	Tags           []string       `json:"tags"`
	Subscribed     bool           `json:"subscribed"`
	UnsubscribedAt *time.Time     `json:"unsubscribedAt"`
	CreatedAt      time.Time      `json:"createdAt"`
	UpdatedAt      time.Time      `json:"updatedAt"`
}

// Item is a contact as stored. It carries its own index keys: GSI1 by
// subscription state (newest first), GSI2 by email.
type Item struct {
	store.Key
	GSI1PK         string         `dynamodbav:"GSI1PK"`
	GSI1SK         string         `dynamodbav:"GSI1SK"`
	GSI2PK         string         `dynamodbav:"GSI2PK"`
	GSI2SK         string         `dynamodbav:"GSI2SK"`
	Type           string         `dynamodbav:"type"`
	OrgID          string         `dynamodbav:"orgId"`
	ID             string         `dynamodbav:"id"`
	Email          string         `dynamodbav:"email"`
	FirstName      *string        `dynamodbav:"firstName"`
	LastName       *string        `dynamodbav:"lastName"`
	Properties     map[string]any `dynamodbav:"properties"`
	Tags           []string       `dynamodbav:"tags"`
	Subscribed     bool           `dynamodbav:"subscribed"`
	UnsubscribedAt *time.Time     `dynamodbav:"unsubscribedAt"`
	CreatedAt      time.Time      `dynamodbav:"createdAt"`
	UpdatedAt      time.Time      `dynamodbav:"updatedAt"`
	Version        int            `dynamodbav:"version"`
	// Source names the import row that created the contact, so a resumed
	// import counts that row as created again, not as updated.
	Source string `dynamodbav:"source,omitempty"`
}

// ItemType marks contact items (the stream consumer tells items apart by it).
const ItemType = "contact"

func (it *Item) setIndexKeys() {
	it.Key = store.ContactKey(it.OrgID, it.ID)
	it.Type = ItemType
	it.GSI1PK = store.SubscribedPK(it.OrgID, it.Subscribed)
	it.GSI1SK = store.ContactSK(it.ID)
	it.GSI2PK = store.EmailIndexPK(it.OrgID)
	it.GSI2SK = it.Email
}

// API is the contact as the API shows it.
func (it *Item) API() Contact {
	c := Contact{ID: it.ID, Email: it.Email, FirstName: it.FirstName, LastName: it.LastName, Properties: it.Properties,
		Tags: it.Tags, Subscribed: it.Subscribed, UnsubscribedAt: it.UnsubscribedAt, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt}
	if c.Properties == nil {
		c.Properties = map[string]any{}
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	return c
}

// Input is the body of a create, and of each batch item (an upsert by
// email). On an upsert, the fields sent change the contact as a PATCH does.
type Input struct {
	Email string `json:"email"`
	Patch
}

// Validate checks and normalises the input.
func (in *Input) Validate() error {
	e, err := validate.Email("email", in.Email)
	if err != nil {
		return err
	}
	in.Email = e
	in.Patch.Email = httpx.Optional[string]{Set: true, Value: e}
	return in.Patch.Validate()
}

// Patch is the body of PATCH /api/contacts/{id}: properties merge (a null
// value deletes the key), tags replace, a null name clears it.
type Patch struct {
	Email      httpx.Optional[string]         `json:"email"`
	FirstName  httpx.Optional[string]         `json:"firstName"`
	LastName   httpx.Optional[string]         `json:"lastName"`
	Properties httpx.Optional[map[string]any] `json:"properties"`
	Tags       httpx.Optional[[]string]       `json:"tags"`
	Subscribed httpx.Optional[bool]           `json:"subscribed"`
}

// Validate checks and normalises the fields that were sent.
func (p *Patch) Validate() error {
	if p.Email.Set {
		if p.Email.Null {
			return errs.Invalid("email", "The 'email' field cannot be null.")
		}
		e, err := validate.Email("email", p.Email.Value)
		if err != nil {
			return err
		}
		p.Email.Value = e
	}
	for _, f := range []struct {
		name string
		v    *httpx.Optional[string]
	}{{"firstName", &p.FirstName}, {"lastName", &p.LastName}} {
		if f.v.Set && !f.v.Null {
			f.v.Value = strings.TrimSpace(f.v.Value)
			if err := validate.MaxLen(f.name, f.v.Value, MaxNameLen); err != nil {
				return err
			}
		}
	}
	if p.Properties.Set {
		if p.Properties.Null {
			return errs.Invalid("properties", "The 'properties' field must be an object; set a key to null to delete it.")
		}
		if err := ValidateProperties(p.Properties.Value); err != nil {
			return err
		}
	}
	if p.Tags.Set {
		if p.Tags.Null {
			p.Tags.Value = nil
		}
		tags, err := normaliseTags(p.Tags.Value)
		if err != nil {
			return err
		}
		p.Tags.Value = tags
	}
	if p.Subscribed.Set && p.Subscribed.Null {
		return errs.Invalid("subscribed", "The 'subscribed' field must be a boolean.")
	}
	return nil
}

// ValidateProperties checks a properties object: at most 100 keys matching
// [A-Za-z0-9_]{1,64}, each a string, number, boolean, null or a list of those,
// and at most 16 KB as JSON.
func ValidateProperties(props map[string]any) error {
	if err := checkPropertiesSize(props); err != nil {
		return err
	}
	if len(props) > MaxProperties {
		return errs.Invalid("properties", "The 'properties' field may have at most %d keys.", MaxProperties)
	}
	for k, v := range props {
		if !validPropertyKey(k) {
			return errs.Invalid("properties", "Property name '%s' must match [A-Za-z0-9_]{1,64}.", k)
		}
		if !scalar(v) {
			list, ok := v.([]any)
			if !ok {
				return errs.Invalid("properties."+k, "Property '%s' must be a string, number, boolean, null or a list of those.", k)
			}
			for _, e := range list {
				if !scalar(e) {
					return errs.Invalid("properties."+k, "Property '%s' must be a list of strings, numbers, booleans or nulls.", k)
				}
			}
		}
	}
	return nil
}

func scalar(v any) bool {
	switch v.(type) {
	case nil, string, float64, bool, json.Number:
		return true
	}
	return false
}

// checkPropertiesSize holds merged properties to the limits.
func checkPropertiesSize(props map[string]any) error {
	if len(props) > MaxProperties {
		return errs.Invalid("properties", "The 'properties' field may have at most %d keys.", MaxProperties)
	}
	raw, _ := json.Marshal(props)
	if len(raw) > MaxPropertyBytes {
		return errs.Invalid("properties", "The 'properties' field must be at most 16 KB as JSON.")
	}
	return nil
}

func normaliseTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" {
			return nil, errs.Invalid("tags", "Tags cannot be empty.")
		}
		if err := validate.MaxLen("tags", t, MaxTagLen); err != nil {
			return nil, errs.Invalid("tags", "Each tag must be at most %d characters long.", MaxTagLen)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > MaxTags {
		return nil, errs.Invalid("tags", "A contact may have at most %d tags.", MaxTags)
	}
	return out, nil
}

// apply changes it by p at now and reports whether anything changed.
func (it *Item) apply(p *Patch, now time.Time) bool {
	before := *it
	before.Properties = clonedProps(it.Properties)
	before.Tags = slices.Clone(it.Tags)
	if p.Email.Set {
		it.Email = p.Email.Value
	}
	setName := func(dst **string, o httpx.Optional[string]) {
		switch {
		case !o.Set:
		case o.Null || o.Value == "":
			*dst = nil
		default:
			v := o.Value
			*dst = &v
		}
	}
	setName(&it.FirstName, p.FirstName)
	setName(&it.LastName, p.LastName)
	if p.Properties.Set {
		if it.Properties == nil {
			it.Properties = map[string]any{}
		}
		for k, v := range p.Properties.Value {
			if v == nil {
				delete(it.Properties, k)
			} else {
				it.Properties[k] = v
			}
		}
		if len(it.Properties) == 0 {
			it.Properties = nil
		}
	}
	if p.Tags.Set {
		it.Tags = p.Tags.Value
		if len(it.Tags) == 0 {
			it.Tags = nil
		}
	}
	if p.Subscribed.Set && p.Subscribed.Value != it.Subscribed {
		it.Subscribed = p.Subscribed.Value
		if it.Subscribed {
			it.UnsubscribedAt = nil
		} else {
			t := now
			it.UnsubscribedAt = &t
		}
	}
	changed := !equalItems(&before, it)
	if changed {
		it.UpdatedAt = now
	}
	it.setIndexKeys()
	return changed
}

func clonedProps(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func equalItems(a, b *Item) bool {
	ja, _ := json.Marshal(a.API())
	jb, _ := json.Marshal(b.API())
	return string(ja) == string(jb)
}
