package templates

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/errs"
)

// A valid MJML template compiles to HTML that keeps its Liquid for sends.
func TestCompileMJML(t *testing.T) {
	src, err := os.ReadFile("testdata/newsletter.mjml")
	require.NoError(t, err)
	html, warnings, err := CompileMJML(context.Background(), string(src))
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.Contains(t, html, "<!doctype html>")
	assert.Contains(t, html, "{{ contact.firstName }}")
	assert.Contains(t, html, "{% for item in data.news %}")
}

// Problems come back with the line MJML found them on: attribute problems
// as warnings beside the HTML, others as a 422 listing each.
func TestCompileMJMLProblems(t *testing.T) {
	ctx := context.Background()
	html, warnings, err := CompileMJML(ctx, "<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n<mj-text colr=\"red\">Hi</mj-text>\n</mj-column>\n</mj-section>\n</mj-body>\n</mjml>")
	require.NoError(t, err)
	assert.Contains(t, html, "Hi")
	assert.Equal(t, []Warning{{Line: 5, Message: "Attribute colr is illegal"}}, warnings)

	_, _, err = CompileMJML(ctx, "<mjml>\n<mj-body>\n<mj-text>Hi</mj-text>\n<mj-section><mj-column>\n<mj-foo>x</mj-foo>\n</mj-column></mj-section>\n</mj-body>\n</mjml>")
	var u *errs.Unprocessable
	require.ErrorAs(t, err, &u)
	require.Len(t, u.Details, 2)
	assert.Equal(t, errs.Problem{Part: "html", Line: 3, Message: "mj-text cannot be used inside mj-body, only inside: mj-attributes, mj-column, mj-hero"}, u.Details[0])
	assert.Equal(t, 5, u.Details[1].Line)
	assert.Contains(t, u.Details[1].Message, "mj-foo")

	_, _, err = CompileMJML(ctx, "<mj-body><mj-section>")
	require.ErrorAs(t, err, &u)
	assert.Equal(t, "html", u.Details[0].Part)
	assert.Contains(t, u.Message, "Malformed MJML")
}

// Template ids are ^[a-z0-9][a-z0-9_-]{0,63}$.
func TestValidID(t *testing.T) {
	for _, id := range []string{"a", "welcome-email", "order_shipped-2", "0", "x" + strings.Repeat("-", 63)} {
		assert.True(t, ValidID(id), id)
	}
	for _, id := range []string{"", "-a", "_a", "Welcome", "a b", "a.b", "a/b", "é", "x" + strings.Repeat("a", 64)} {
		assert.False(t, ValidID(id), id)
	}
}

// The same template hashes the same however its sample data is spelt, and
// any change of content changes the hash.
func TestInputHash(t *testing.T) {
	in := func(name, sample string) Input {
		html := "<p>Hi</p>"
		i := Input{Name: name, Subject: "S", HTML: &html, SampleData: []byte(sample)}
		require.NoError(t, i.Validate())
		return i
	}
	a, b := in(" Welcome ", `{"b": 1, "a": {"y": 2.50, "x": "z"}}`), in("Welcome", `{"a":{"x":"z","y":2.50},"b":1}`)
	assert.Equal(t, a.Hash(), b.Hash())
	c, d := in("Welcome!", `{"a":{"x":"z","y":2.50},"b":1}`), in("Welcome", `{"a":{"x":"z","y":2.5},"b":1}`)
	assert.NotEqual(t, a.Hash(), c.Hash())
	assert.NotEqual(t, a.Hash(), d.Hash(), "numbers keep their digits")
}

// BenchmarkCompileMJML compiles a 5 KB MJML template
// (testdata/newsletter.mjml) and reports the median compile (p50-ms) beside
// the mean (ns/op).
func BenchmarkCompileMJML(b *testing.B) {
	src, err := os.ReadFile("testdata/newsletter.mjml")
	require.NoError(b, err)
	ctx := context.Background()
	_, _, err = CompileMJML(ctx, string(src)) // the first compile instantiates a module of the pool
	require.NoError(b, err)
	b.ReportAllocs()
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, _, err := CompileMJML(ctx, string(src)); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "p50-ms")
}
