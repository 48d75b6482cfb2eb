// Package render parses and renders a template's Liquid (github.com/osteele/liquid
// v1.9.2) for previews and sends, and turns email HTML into plain text.
//
// It is platform-level: it imports no resource group and nothing heavy (no
// mjml-go), and NewEngine is cheap, so every function that renders can link it.
//
// Escaping: values printed with {{ … }} in the HTML part are HTML-escaped
// (osteele/liquid's SetAutoEscapeReplacer), so a contact named
// `<a href="https://evil">x</a>` cannot put markup into mail sent from the
// tenant's domain. A template prints trusted HTML deliberately with the `safe`
// filter, applied last: {{ data.bannerHtml | safe }}. The subject and text parts
// are not HTML, so nothing is escaped there (`safe` is accepted and does nothing).
// The `escape` filter is not needed in the HTML part: it would escape twice.
//
// Limits: osteele/liquid has none of its own, so a render is bounded here.
//   - Output: every part is rendered into a writer that counts the bytes of all
//     parts together and fails the render past MaxOutputBytes. The string
//     filters that can grow a value without printing it (append, prepend,
//     replace, replace_first, replace_last) fail past the same size, and every
//     loop iteration checks that no assigned or captured variable is larger.
//   - Loops: Compile refuses a {% for %} or {% tablerow %} over a literal range
//     larger than MaxLoopIterations, and puts a guard tag at the head of every
//     loop body, so each iteration of every loop, nested or not, over a range
//     or over data, counts against MaxLoopIterations for the whole render and
//     checks the time. A loop that writes nothing therefore still stops.
//   - Time: the render stops at MaxRenderTime after it started, or at ctx's
//     deadline if sooner; the check runs at every loop iteration and every
//     write, so the render itself stops: no goroutine is left behind.
//
// Files: the include and render tags are removed, so a template can never
// read the function's file system.
package render

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/osteele/liquid/filters"
	"github.com/osteele/liquid/parser"
	lrender "github.com/osteele/liquid/render"
	"github.com/osteele/liquid/tags"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
)

// Part names where a problem is.
const (
	PartSubject = "subject"
	PartHTML    = "html"
	PartText    = "text"
)

// Limits bound a render.
const (
	// MaxOutputBytes is the most a render may write, all parts together.
	MaxOutputBytes = 2 << 20
	// MaxRenderTime is the longest a render may run.
	MaxRenderTime = 500 * time.Millisecond
	// MaxLoopIterations is the most loop iterations a render may run, all
	// loops of all parts together (nested loops count every inner iteration).
	MaxLoopIterations = 100_000
)

// Source is a template's three Liquid sources (Text may be empty).
type Source struct {
	Subject, HTML, Text string
}

// Vars is what a render sees: `contact`, `data` and `unsubscribeUrl`.
type Vars struct {
	Contact        map[string]any
	Data           map[string]any
	UnsubscribeURL string
}

// Options of a render.
type Options struct {
	// Strict makes a variable the template uses but Vars lacks an
	// *errs.Unprocessable naming it, instead of an empty string.
	Strict bool
}

// Output is a rendered message.
type Output struct {
	Subject, HTML, Text string
}

// Engine parses and renders Liquid with HTML auto-escaping in the HTML part.
// It is safe for concurrent use, and keeps parsed templates in a bounded LRU
// cache (see Cached).
type Engine struct {
	html, plain *lrender.Config
	// htmlTick and plainTick are the loop guard tags Compile puts at the head
	// of every loop body, compiled once per configuration.
	htmlTick, plainTick lrender.Node
	clock               clock.Clock
	cache               *lru
	compiles            atomic.Int64
}

// loopGuardTag is the tag put at the head of every loop body. A template may
// use it too; it only counts one more iteration.
const loopGuardTag = "sendwell_loop_guard"

// NewEngine returns an Engine on the system clock. It is cheap: two Liquid
// configurations and an empty cache.
func NewEngine() *Engine {
	e := &Engine{
		html:  newConfig(true),
		plain: newConfig(false),
		clock: clock.System{},
		cache: newLRU(maxCacheEntries, maxCacheBytes),
	}
	e.htmlTick = mustTick(e.html)
	e.plainTick = mustTick(e.plain)
	return e
}

// WithClock makes the engine read time from c (tests move a fake clock to
// reach MaxRenderTime) and returns it. Call it before the engine is shared.
func (e *Engine) WithClock(c clock.Clock) *Engine {
	e.clock = c
	return e
}

func newConfig(escapeHTML bool) *lrender.Config {
	cfg := lrender.NewConfig()
	filters.AddStandardFilters(&cfg)
	tags.AddStandardTags(&cfg)
	// No template may read the function's files.
	cfg.UnregisterTag("include")
	cfg.UnregisterTag("render")
	cfg.TemplateStore = noFiles{}
	cfg.AddTag(loopGuardTag, loopGuardCompiler)
	addCappedFilters(&cfg)
	if escapeHTML {
		cfg.SetAutoEscapeReplacer(lrender.HtmlEscaper)
	} else {
		// Nothing is escaped here; `safe` is accepted so one template's
		// habits work in every part.
		cfg.AddFilter("safe", func(in any) any { return in })
	}
	return &cfg
}

func mustTick(cfg *lrender.Config) lrender.Node {
	root, err := cfg.Compile("{% "+loopGuardTag+" %}", parser.SourceLoc{LineNo: 1})
	if err != nil {
		panic(fmt.Sprintf("render: the loop guard does not compile: %v", err))
	}
	return root.(*lrender.SeqNode).Children[0]
}

// Template is a compiled template: its three parts and the variables they use.
type Template struct {
	parts     [3]part
	variables []string
	uses      []use
	clock     clock.Clock
}

type part struct {
	name string
	root lrender.Node // nil when the part's source is empty
	cfg  *lrender.Config
}

var partNames = [3]string{PartSubject, PartHTML, PartText}

// Compile parses the three parts. A syntax error, or a loop over a literal
// range larger than MaxLoopIterations, is an *errs.Unprocessable whose Details
// hold {Part, Line, Message} for each problem.
func (e *Engine) Compile(src Source) (*Template, error) {
	e.compiles.Add(1)
	t := &Template{clock: e.clock}
	sources := [3]string{src.Subject, src.HTML, src.Text}
	var problems []errs.Problem
	for i, s := range sources {
		cfg, tick := e.plain, e.plainTick
		if partNames[i] == PartHTML {
			cfg, tick = e.html, e.htmlTick
		}
		t.parts[i] = part{name: partNames[i], cfg: cfg}
		if s == "" {
			continue
		}
		root, perr := cfg.Compile(s, parser.SourceLoc{LineNo: 1})
		if perr != nil {
			problems = append(problems, errs.Problem{Part: partNames[i], Line: perr.LineNumber(), Message: cleanMessage(perr)})
			continue
		}
		if ps := checkLoops(partNames[i], root); len(ps) > 0 {
			problems = append(problems, ps...)
			continue
		}
		t.uses = append(t.uses, collectUses(partNames[i], root)...)
		guardLoops(root, tick)
		t.parts[i].root = root
	}
	if len(problems) > 0 {
		return nil, &errs.Unprocessable{Message: "The template's Liquid is not valid.", Details: problems}
	}
	t.variables = variableNames(t.uses)
	return t, nil
}

// Cached is Compile through the cache under key (for example
// "org/template/version"). A key whose sources changed is compiled again.
// Errors are not cached.
func (e *Engine) Cached(key string, src Source) (*Template, error) {
	if t, ok := e.cache.get(key, src); ok {
		return t, nil
	}
	t, err := e.Compile(src)
	if err != nil {
		return nil, err
	}
	e.cache.put(key, src, t)
	return t, nil
}

// Variables lists the variables the template uses, sorted and deduplicated, as
// dotted paths: "contact.firstName", "data.orderId", "unsubscribeUrl". Loop
// variables and assigned or captured names are not variables of the data; a
// loop over data.items uses "data.items". The caller must not change the slice.
func (t *Template) Variables() []string { return t.variables }

// Render renders the three parts. Output over MaxOutputBytes (all parts
// together), more than MaxLoopIterations loop iterations, or a render over
// MaxRenderTime (or past ctx's deadline) stops with an *errs.Unprocessable
// saying which limit. A ctx cancelled without a deadline returns its error.
func (t *Template) Render(ctx context.Context, v Vars, o Options) (Output, error) {
	if err := ctx.Err(); err != nil {
		return Output{}, contextError(err)
	}
	if o.Strict {
		if err := t.checkStrict(v); err != nil {
			return Output{}, err
		}
	}
	g := newGuard(ctx, t.clock)
	bindings := map[string]any{
		"contact":        v.Contact,
		"data":           v.Data,
		"unsubscribeUrl": v.UnsubscribeURL,
		guardKey:         g,
	}
	var out [3]string
	for i := range t.parts {
		p := &t.parts[i]
		if p.root == nil {
			continue
		}
		w := &g.writers[i]
		if err := renderPart(p, w, bindings, g); err != nil {
			return Output{}, g.failure(p.name, err)
		}
		out[i] = w.buf.String()
	}
	return Output{Subject: out[0], HTML: out[1], Text: out[2]}, nil
}

// renderPart renders one part. Some of Liquid's tags (tablerow's cells) panic
// when the writer refuses a write; a refusal by the guard is a stop like any
// other, so that panic becomes errStopped. Any other panic is not ours to hide.
func renderPart(p *part, w *limitWriter, bindings map[string]any, g *guard) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && errors.Is(e, errStopped) && g.reason != nil {
				err = errStopped
				return
			}
			panic(r)
		}
	}()
	return lrender.Render(p.root, w, bindings, *p.cfg)
}

// cleanMessage drops the "Liquid error (line n): " prefix: the line is
// reported beside the message.
func cleanMessage(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "Liquid error") {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	return msg
}

func contextError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errTimeLimit()
	}
	return fmt.Errorf("render: %w", err)
}

func errTimeLimit() error {
	return &errs.Unprocessable{Message: fmt.Sprintf("The template took longer than %s to render.", MaxRenderTime)}
}

func errOutputLimit() error {
	return &errs.Unprocessable{Message: fmt.Sprintf("The rendered message is larger than %d MB.", MaxOutputBytes>>20)}
}

func errLoopLimit() error {
	return &errs.Unprocessable{Message: fmt.Sprintf("The template's loops ran more than %d iterations.", MaxLoopIterations)}
}
