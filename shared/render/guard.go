package render

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	lrender "github.com/osteele/liquid/render"

	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/errs"
)

// guardKey holds a render's guard in its bindings. It is not a Liquid
// identifier, so no template can read or replace it.
const guardKey = "\x00guard"

// errStopped is what the guard's checks return once a limit is reached; the
// reason is kept on the guard, which Render reads after Liquid returns.
var errStopped = errors.New("render: stopped")

// errStringLimit is what the capped string filters return. osteele/liquid's
// FilterError does not unwrap, so failure recognises it by its text.
var errStringLimit = errors.New("render: a value is larger than the output limit")

// guard is one render's budget: bytes written, loop iterations run, time.
// A render runs on one goroutine, so it needs no lock.
type guard struct {
	ctx        context.Context
	clock      clock.Clock
	deadline   time.Time
	written    int
	iterations int
	reason     error // the limit reached, or ctx's error; nil while running
	writers    [3]limitWriter
}

func newGuard(ctx context.Context, c clock.Clock) *guard {
	g := &guard{ctx: ctx, clock: c, deadline: c.Now().Add(MaxRenderTime)}
	for i := range g.writers {
		g.writers[i].g = g
	}
	return g
}

// stop records why the render stops (the first reason wins) and returns
// errStopped for Liquid to carry out.
func (g *guard) stop(reason error) error {
	if g.reason == nil {
		g.reason = reason
	}
	return errStopped
}

// check stops the render once ctx is done or the time is up.
func (g *guard) check() error {
	if g.reason != nil {
		return errStopped
	}
	if err := g.ctx.Err(); err != nil {
		return g.stop(contextError(err))
	}
	if g.clock.Now().After(g.deadline) {
		return g.stop(errTimeLimit())
	}
	return nil
}

// iteration counts one loop iteration and checks every limit: time, the
// iteration budget, and the size of variables a loop may grow with assign
// or capture without writing anything.
func (g *guard) iteration(bindings map[string]any) error {
	g.iterations++
	if g.iterations > MaxLoopIterations {
		return g.stop(errLoopLimit())
	}
	for _, v := range bindings {
		if s, ok := v.(string); ok && len(s) > MaxOutputBytes {
			return g.stop(errOutputLimit())
		}
	}
	return g.check()
}

// failure turns the error Liquid returned for part into the render's error.
func (g *guard) failure(part string, err error) error {
	if g.reason != nil {
		return g.reason
	}
	if strings.Contains(err.Error(), errStringLimit.Error()) {
		return errOutputLimit()
	}
	line := 0
	var le interface{ LineNumber() int }
	if errors.As(err, &le) {
		line = le.LineNumber()
	}
	return &errs.Unprocessable{
		Message: "The template could not be rendered.",
		Details: []errs.Problem{{Part: part, Line: line, Message: cleanMessage(err)}},
	}
}

// limitWriter collects one part's output and counts it against the guard.
type limitWriter struct {
	g   *guard
	buf strings.Builder
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if err := w.g.check(); err != nil {
		return 0, err
	}
	w.g.written += len(p)
	if w.g.written > MaxOutputBytes {
		return 0, w.g.stop(errOutputLimit())
	}
	return w.buf.Write(p)
}

// loopGuardCompiler compiles the loop guard tag: it writes nothing (so it
// changes no whitespace trimming) and counts an iteration on the render's
// guard. Outside a render by this package (no guard) it does nothing.
func loopGuardCompiler(string) (func(io.Writer, lrender.Context) error, error) {
	return func(_ io.Writer, ctx lrender.Context) error {
		g, ok := ctx.Get(guardKey).(*guard)
		if !ok {
			return nil
		}
		return g.iteration(ctx.Bindings())
	}, nil
}

// guardLoops puts tick at the head of the body of every for and tablerow
// block under n. The body is rendered afresh at every iteration, so the tick
// runs once per iteration however the loop is nested or what it iterates.
func guardLoops(n lrender.Node, tick lrender.Node) {
	switch n := n.(type) {
	case *lrender.SeqNode:
		for _, c := range n.Children {
			guardLoops(c, tick)
		}
	case *lrender.BlockNode:
		for _, c := range n.Body {
			guardLoops(c, tick)
		}
		for _, c := range n.Clauses {
			guardLoops(c, tick)
		}
		if n.Name == "for" || n.Name == "tablerow" {
			n.Body = append([]lrender.Node{tick}, n.Body...)
		}
	}
}

// addCappedFilters replaces the string filters that can build a value larger
// than the output limit without printing it.
func addCappedFilters(cfg *lrender.Config) {
	capped := func(s string) (string, error) {
		if len(s) > MaxOutputBytes {
			return "", errStringLimit
		}
		return s, nil
	}
	fits := func(n int) bool { return n <= MaxOutputBytes }
	cfg.AddFilter("append", func(s, suffix string) (string, error) {
		if !fits(len(s) + len(suffix)) {
			return "", errStringLimit
		}
		return s + suffix, nil
	})
	cfg.AddFilter("prepend", func(s, prefix string) (string, error) {
		if !fits(len(s) + len(prefix)) {
			return "", errStringLimit
		}
		return prefix + s, nil
	})
	cfg.AddFilter("replace", func(s, old, n string) (string, error) {
		if len(n) > len(old) && !fits(len(s)+strings.Count(s, old)*(len(n)-len(old))) {
			return "", errStringLimit
		}
		return capped(strings.ReplaceAll(s, old, n))
	})
	cfg.AddFilter("replace_first", func(s, old, n string) (string, error) {
		return capped(strings.Replace(s, old, n, 1))
	})
	cfg.AddFilter("replace_last", func(s, old, n string) (string, error) {
		i := strings.LastIndex(s, old)
		if i < 0 {
			return s, nil
		}
		return capped(s[:i] + n + s[i+len(old):])
	})
}

// noFiles is the template store: there are no files to include.
type noFiles struct{}

func (noFiles) ReadTemplate(string) ([]byte, error) {
	return nil, errors.New("render: templates cannot include files")
}
