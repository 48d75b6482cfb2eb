package stored

import (
	"context"
	"errors"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// Version is one version of a template, ready to render: its subject,
// compiled HTML and text, and its defaults.
type Version struct {
	TemplateID  string
	Number      int
	Subject     string
	HTML        string
	Text        string
	From        *string
	ReplyTo     *string
	PreviewText *string
	SampleData  string // a JSON object, or ""
}

// versioned is the part of a head or version item the reader decodes.
type versioned struct {
	Version int `dynamodbav:"version"`
	Content
}

// Reader reads templates' versions from the table.
type Reader struct{ Store *store.Store }

// Latest is a template's latest version (one read of its head item);
// errs.ErrNotFound when the tenant has no such template.
func (r Reader) Latest(ctx context.Context, orgID, templateID string) (Version, error) {
	return r.read(ctx, store.TemplateKey(orgID, templateID), templateID, "No template with this id exists in the organisation.")
}

// Version is version n of a template (immutable: callers may cache it);
// errs.ErrNotFound when there is none, or it was pruned.
func (r Reader) Version(ctx context.Context, orgID, templateID string, n int) (Version, error) {
	return r.read(ctx, store.TemplateVersionKey(orgID, templateID, n), templateID, "No such version of this template (it may have been deleted to keep the plan's quota of versions).")
}

func (r Reader) read(ctx context.Context, k store.Key, templateID, notFound string) (Version, error) {
	var it versioned
	if err := r.Store.Get(ctx, k, &it); errors.Is(err, errs.ErrNotFound) {
		return Version{}, errs.NewNotFound(notFound)
	} else if err != nil {
		return Version{}, err
	}
	return it.Content.version(templateID, it.Version)
}

// version decompresses the content into a Version.
func (c *Content) version(templateID string, n int) (Version, error) {
	v := Version{TemplateID: templateID, Number: n, Subject: c.Subject, From: c.From, ReplyTo: c.ReplyTo,
		PreviewText: c.PreviewText, SampleData: c.SampleData}
	source, err := Gunzip(c.Source)
	if err != nil {
		return Version{}, err
	}
	v.HTML = source
	if len(c.HTML) > 0 {
		if v.HTML, err = Gunzip(c.HTML); err != nil {
			return Version{}, err
		}
	}
	if v.Text, err = Gunzip(c.Text); err != nil {
		return Version{}, err
	}
	return v, nil
}
