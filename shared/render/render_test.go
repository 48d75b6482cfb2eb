package render_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/render"
)

func unprocessable(t *testing.T, err error) *errs.Unprocessable {
	t.Helper()
	var u *errs.Unprocessable
	require.ErrorAs(t, err, &u)
	return u
}

func TestCompileReportsEachBrokenPartWithItsLine(t *testing.T) {
	cases := []struct {
		name string
		src  render.Source
		want []errs.Problem // Message is matched as a substring
	}{
		{
			name: "subject",
			src:  render.Source{Subject: "Hi {{ contact.firstName | }}", HTML: "<p>ok</p>"},
			want: []errs.Problem{{Part: render.PartSubject, Line: 1, Message: "contact.firstName"}},
		},
		{
			name: "html on line 3",
			src:  render.Source{Subject: "Hi", HTML: "<p>a</p>\n<p>b</p>\n{% if contact.firstName %}<p>c</p>"},
			want: []errs.Problem{{Part: render.PartHTML, Line: 3, Message: "if"}},
		},
		{
			name: "text",
			src:  render.Source{Subject: "Hi", HTML: "<p>ok</p>", Text: "ok\n\n{% endfor %}"},
			want: []errs.Problem{{Part: render.PartText, Line: 3, Message: "endfor"}},
		},
		{
			name: "two parts at once",
			src:  render.Source{Subject: "{% if %}", HTML: "<p>\n{{ x | }}</p>"},
			want: []errs.Problem{{Part: render.PartSubject, Line: 1}, {Part: render.PartHTML, Line: 2}},
		},
		{
			name: "an unknown tag",
			src:  render.Source{Subject: "Hi", HTML: "{% include '/etc/passwd' %}"},
			want: []errs.Problem{{Part: render.PartHTML, Line: 1, Message: "include"}},
		},
	}
	e := render.NewEngine()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.Compile(c.src)
			u := unprocessable(t, err)
			assert.Equal(t, "The template's Liquid is not valid.", u.Message)
			require.Len(t, u.Details, len(c.want))
			for i, w := range c.want {
				assert.Equal(t, w.Part, u.Details[i].Part)
				assert.Equal(t, w.Line, u.Details[i].Line)
				assert.Contains(t, u.Details[i].Message, w.Message)
				assert.NotContains(t, u.Details[i].Message, "Liquid error")
			}
		})
	}
}

func TestRenderEscapesValuesOnlyInTheHTMLPart(t *testing.T) {
	evil := `<a href="https://evil">x</a>`
	cases := []struct {
		name string
		src  render.Source
		want render.Output
	}{
		{
			name: "escaped in html, as is in subject and text",
			src:  render.Source{Subject: "Hi {{ contact.firstName }}", HTML: "<p>Hi {{ contact.firstName }}</p>", Text: "Hi {{ contact.firstName }}"},
			want: render.Output{
				Subject: "Hi " + evil,
				HTML:    "<p>Hi &lt;a href=&#34;https://evil&#34;&gt;x&lt;/a&gt;</p>",
				Text:    "Hi " + evil,
			},
		},
		{
			name: "escaped through filters and loops",
			src:  render.Source{Subject: "s", HTML: "{{ contact.firstName | upcase }}{% for b in data.blocks %}{{ b }}{% endfor %}"},
			want: render.Output{Subject: "s", HTML: "&lt;A HREF=&#34;HTTPS://EVIL&#34;&gt;X&lt;/A&gt;&lt;i&gt;"},
		},
		{
			name: "safe prints trusted html",
			src:  render.Source{Subject: "{{ data.banner | safe }}", HTML: "<div>{{ data.banner | safe }}</div>"},
			want: render.Output{Subject: "<b>Sale</b>", HTML: "<div><b>Sale</b></div>"},
		},
	}
	e := render.NewEngine()
	vars := render.Vars{
		Contact: map[string]any{"firstName": evil},
		Data:    map[string]any{"banner": "<b>Sale</b>", "blocks": []any{"<i>"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tpl, err := e.Compile(c.src)
			require.NoError(t, err)
			out, err := tpl.Render(context.Background(), vars, render.Options{})
			require.NoError(t, err)
			assert.Equal(t, c.want, out)
		})
	}
}

func TestCompileRefusesALoopOverAHugeLiteralRange(t *testing.T) {
	_, err := render.NewEngine().Compile(render.Source{Subject: "s", HTML: "<p>x</p>\n{% for i in (1..100000000) %}{% endfor %}"})
	u := unprocessable(t, err)
	require.Len(t, u.Details, 1)
	assert.Equal(t, render.PartHTML, u.Details[0].Part)
	assert.Equal(t, 2, u.Details[0].Line)
	assert.Contains(t, u.Details[0].Message, "100000000")

	_, err = render.NewEngine().Compile(render.Source{Subject: "s", HTML: "{% for i in (1..100000) %}{% endfor %}"})
	assert.NoError(t, err, "a range of MaxLoopIterations is allowed")
}

func TestRenderStopsRunawayTemplates(t *testing.T) {
	outputLimit := "The rendered message is larger than 2 MB."
	loopLimit := fmt.Sprintf("The template's loops ran more than %d iterations.", render.MaxLoopIterations)
	cases := []struct {
		name string
		html string
		want string
	}{
		{"output over the cap", "{% for i in (1..100000) %}xxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}", outputLimit},
		{"a silent loop over a range from the data", "{% for i in (1..data.n) %}{% endfor %}", loopLimit},
		{"silent nested loops", "{% for i in (1..1000) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}", loopLimit},
		{"a silent loop over a list", "{% for i in data.list %}{% for j in data.list %}{% endfor %}{% endfor %}", loopLimit},
		{"a tablerow (it writes its cells)", "{% tablerow i in (1..data.n) %}{% endtablerow %}", outputLimit},
		{"a value doubled by append", `{% assign s = "x" %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}`, outputLimit},
		{"a value doubled by capture", `{% capture s %}x{% endcapture %}{% for i in (1..64) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}`, outputLimit},
		{"a value grown by replace", `{% assign s = "xxxxxxxxxxxxxxxx" %}{% for i in (1..8) %}{% assign s = s | replace: "x", s %}{% endfor %}`, outputLimit},
		{"output over the cap across parts", "{% for i in (1..50000) %}xxxxxxxxxxxxxxxxxxxxxx{% endfor %}", outputLimit},
	}
	// The clock stands still: each case must be stopped by its own limit,
	// however slow the machine (the time limit has its own tests below).
	e := render.NewEngine().WithClock(clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)))
	list := make([]any, 1000)
	vars := render.Vars{Data: map[string]any{"n": 100_000_000, "list": list}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := render.Source{Subject: "s", HTML: c.html}
			if c.name == "output over the cap across parts" {
				src.Text = c.html // 1.1 MB each, 2.2 MB together
			}
			tpl, err := e.Compile(src)
			require.NoError(t, err)
			_, err = tpl.Render(context.Background(), vars, render.Options{})
			u := unprocessable(t, err)
			assert.Equal(t, c.want, u.Message)
		})
	}
}

// steppingClock moves a fake clock forward by step at every reading, so a
// render reaches MaxRenderTime after a known number of checks, without sleeping.
type steppingClock struct {
	fake  *clock.Fake
	step  time.Duration
	reads int
	// onRead, if set, runs at every reading (the render is on one goroutine).
	onRead func(reads int)
}

func (c *steppingClock) Now() time.Time {
	c.reads++
	if c.onRead != nil {
		c.onRead(c.reads)
	}
	c.fake.Advance(c.step)
	return c.fake.Now()
}

func TestRenderStopsAtMaxRenderTime(t *testing.T) {
	clk := &steppingClock{fake: clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), step: time.Millisecond}
	e := render.NewEngine().WithClock(clk)
	// 50,000 silent iterations: under every limit but time.
	tpl, err := e.Compile(render.Source{Subject: "s", HTML: "{% for i in (1..50000) %}{% endfor %}"})
	require.NoError(t, err)

	_, err = tpl.Render(context.Background(), render.Vars{}, render.Options{})
	u := unprocessable(t, err)
	assert.Equal(t, "The template took longer than 500ms to render.", u.Message)
	// The first reading sets the deadline at +501 ms; the 501st check, one
	// per iteration, reads +502 ms and stops the render.
	assert.Equal(t, 502, clk.reads)
}

// A tablerow writes its cells itself and panics when the writer refuses; the
// time limit reached at a cell is still an answer, never a panic.
func TestATablerowStoppedMidCellAnswersTheLimit(t *testing.T) {
	clk := &steppingClock{fake: clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), step: time.Millisecond}
	tpl, err := render.NewEngine().WithClock(clk).Compile(render.Source{Subject: "s", HTML: "{% tablerow i in (1..50000) %}{% endtablerow %}"})
	require.NoError(t, err)

	_, err = tpl.Render(context.Background(), render.Vars{}, render.Options{})
	u := unprocessable(t, err)
	assert.Equal(t, "The template took longer than 500ms to render.", u.Message)
}

func TestRenderStopsAtTheContextsDeadline(t *testing.T) {
	tpl, err := render.NewEngine().Compile(render.Source{Subject: "s", HTML: "x"})
	require.NoError(t, err)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()

	_, err = tpl.Render(ctx, render.Vars{}, render.Options{})
	u := unprocessable(t, err)
	assert.Equal(t, "The template took longer than 500ms to render.", u.Message)
}

func TestRenderReturnsPromptlyWhenCancelled(t *testing.T) {
	t.Run("before it starts", func(t *testing.T) {
		tpl, err := render.NewEngine().Compile(render.Source{Subject: "s", HTML: "x"})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = tpl.Render(ctx, render.Vars{}, render.Options{})
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("inside a loop that writes nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cancelledAt := 0
		clk := &steppingClock{fake: clock.NewFake(time.Now()), onRead: func(reads int) {
			if reads == 100 {
				cancel()
				cancelledAt = reads
			}
		}}
		tpl, err := render.NewEngine().WithClock(clk).Compile(render.Source{Subject: "s", HTML: "{% for i in (1..90000) %}{% endfor %}"})
		require.NoError(t, err)

		_, err = tpl.Render(ctx, render.Vars{}, render.Options{})
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 100, cancelledAt)
		assert.Equal(t, 100, clk.reads, "the next iteration sees the cancellation")
	})
}

func TestRenderErrorsCarryThePartAndLine(t *testing.T) {
	tpl, err := render.NewEngine().Compile(render.Source{Subject: "s", HTML: "<p>a</p>\n{{ data.n | divided_by: 0 }}"})
	require.NoError(t, err)
	_, err = tpl.Render(context.Background(), render.Vars{Data: map[string]any{"n": 1}}, render.Options{})
	u := unprocessable(t, err)
	assert.Equal(t, "The template could not be rendered.", u.Message)
	require.Len(t, u.Details, 1)
	assert.Equal(t, errs.Problem{Part: render.PartHTML, Line: 2, Message: u.Details[0].Message}, u.Details[0])
	assert.Contains(t, u.Details[0].Message, "divided_by")
}

func TestStrictRenderNamesMissingVariables(t *testing.T) {
	src := render.Source{
		Subject: "Order {{ data.orderId }}",
		HTML:    "<p>Hi {{ contact.firstName }}</p>\n<p>{{ contact.properties.plan }}</p>\n<a href=\"{{ unsubscribeUrl }}\">u</a>",
	}
	full := render.Vars{
		Contact:        map[string]any{"firstName": "Ada", "properties": map[string]any{"plan": "pro"}},
		Data:           map[string]any{"orderId": "A-1"},
		UnsubscribeURL: "https://u",
	}
	cases := []struct {
		name    string
		mutate  func(v *render.Vars)
		problem *errs.Problem
	}{
		{"all present", func(*render.Vars) {}, nil},
		{"data key missing", func(v *render.Vars) { v.Data = map[string]any{} },
			&errs.Problem{Part: render.PartSubject, Line: 1, Message: "The variable 'data.orderId' is not in the data."}},
		{"no data at all", func(v *render.Vars) { v.Data = nil },
			&errs.Problem{Part: render.PartSubject, Line: 1, Message: "The variable 'data.orderId' is not in the data."}},
		{"nested property missing", func(v *render.Vars) {
			v.Contact = map[string]any{"firstName": "Ada", "properties": map[string]any{}}
		}, &errs.Problem{Part: render.PartHTML, Line: 2, Message: "The variable 'contact.properties.plan' is not in the data."}},
		{"no unsubscribe url", func(v *render.Vars) { v.UnsubscribeURL = "" },
			&errs.Problem{Part: render.PartHTML, Line: 3, Message: "The variable 'unsubscribeUrl' is not in the data."}},
	}
	tpl, err := render.NewEngine().Compile(src)
	require.NoError(t, err)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := full
			c.mutate(&v)
			_, err := tpl.Render(context.Background(), v, render.Options{Strict: true})
			if c.problem == nil {
				assert.NoError(t, err)
				return
			}
			u := unprocessable(t, err)
			assert.Equal(t, c.problem.Message, u.Message)
			assert.Equal(t, []errs.Problem{*c.problem}, u.Details)

			_, err = tpl.Render(context.Background(), v, render.Options{})
			assert.NoError(t, err, "without strict a missing variable prints nothing")
		})
	}
}

func TestRenderIsSafeForConcurrentUse(t *testing.T) {
	e := render.NewEngine()
	src := render.Source{Subject: "Hi {{ contact.firstName }}", HTML: "{% for i in data.items %}{{ i }}-{{ contact.firstName }};{% endfor %}"}
	var wg sync.WaitGroup
	results := make([]render.Output, 16)
	errors := make([]error, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tpl, err := e.Cached("org/t/1", src)
			if err != nil {
				errors[i] = err
				return
			}
			results[i], errors[i] = tpl.Render(context.Background(), render.Vars{
				Contact: map[string]any{"firstName": fmt.Sprint("c", i)},
				Data:    map[string]any{"items": []any{1, 2}},
			}, render.Options{})
		}()
	}
	wg.Wait()
	for i, out := range results {
		assert.NoError(t, errors[i])
		assert.Equal(t, fmt.Sprintf("1-c%d;2-c%d;", i, i), out.HTML)
		assert.Equal(t, fmt.Sprintf("Hi c%d", i), out.Subject)
	}
}

func TestTrimmingIsUnchangedByTheLoopGuard(t *testing.T) {
	tpl, err := render.NewEngine().Compile(render.Source{Subject: "s", HTML: "<ul>\n{%- for i in data.items -%}\n  <li>{{ i }}</li>\n{%- endfor -%}\n</ul>"})
	require.NoError(t, err)
	out, err := tpl.Render(context.Background(), render.Vars{Data: map[string]any{"items": []any{1, 2}}}, render.Options{})
	require.NoError(t, err)
	assert.Equal(t, "<ul><li>1</li><li>2</li></ul>", out.HTML)
}

func TestUnrelatedErrorsAreNotLimits(t *testing.T) {
	// A failure of the caller's context that is not a deadline stays a
	// context error, so a worker can tell a shutdown from a bad template.
	tpl, err := render.NewEngine().Compile(render.Source{Subject: "s", HTML: strings.Repeat("x", 10)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("shutting down"))
	_, err = tpl.Render(ctx, render.Vars{}, render.Options{})
	var u *errs.Unprocessable
	assert.False(t, errors.As(err, &u))
}
