package render

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	lrender "github.com/osteele/liquid/render"

	"github.com/sendwell/sendwell/shared/errs"
)

// use is a variable of the data a part uses, where it first does.
type use struct {
	path string
	part string
	line int
}

// keywords are the words of Liquid's expressions that are not variables.
var keywords = map[string]bool{
	"true": true, "false": true, "nil": true, "null": true, "empty": true, "blank": true,
	"and": true, "or": true, "contains": true, "in": true, "reversed": true,
}

// scope is what a template binds itself: loop variables (inside their loop)
// and assigned or captured names (from where they are set on: Liquid's assign
// is global to the render).
type scope struct {
	part   string
	loops  map[string]int
	set    map[string]bool
	seen   map[string]bool
	uses   []use
	lineNo int
}

// collectUses lists, in order of first use, the variables of the data part's
// tree uses. It reads the expressions' source text from the parsed tree:
// osteele/liquid keeps the compiled expressions unexported.
func collectUses(part string, root lrender.Node) []use {
	s := &scope{part: part, loops: map[string]int{}, set: map[string]bool{}, seen: map[string]bool{}}
	s.walk(root)
	return s.uses
}

func (s *scope) walk(n lrender.Node) {
	switch n := n.(type) {
	case *lrender.SeqNode:
		for _, c := range n.Children {
			s.walk(c)
		}
	case *lrender.ObjectNode:
		s.lineNo = n.SourceLoc.LineNo
		s.expr(n.Args)
	case *lrender.TagNode:
		s.lineNo = n.SourceLoc.LineNo
		switch n.Name {
		case "assign":
			name, value, _ := strings.Cut(n.Args, "=")
			s.expr(value)
			s.set[strings.TrimSpace(name)] = true
		case "break", "continue", loopGuardTag:
		default:
			s.expr(n.Args)
		}
	case *lrender.BlockNode:
		s.block(n)
	}
}

func (s *scope) block(n *lrender.BlockNode) {
	s.lineNo = n.SourceLoc.LineNo
	switch n.Name {
	case "comment", "raw":
		return
	case "for", "tablerow":
		name, rest, _ := strings.Cut(strings.TrimSpace(n.Args), " ")
		rest = strings.TrimSpace(rest)
		rest = strings.TrimPrefix(rest, "in")
		s.expr(rest)
		bound := []string{name, "forloop", "tablerowloop"}
		for _, b := range bound {
			s.loops[b]++
		}
		for _, c := range n.Body {
			s.walk(c)
		}
		for _, b := range bound {
			s.loops[b]--
		}
		s.clauses(n.Clauses)
	case "capture":
		for _, c := range n.Body {
			s.walk(c)
		}
		s.set[strings.TrimSpace(n.Args)] = true
	default: // if, unless, case and any other block
		s.expr(n.Args)
		for _, c := range n.Body {
			s.walk(c)
		}
		s.clauses(n.Clauses)
	}
}

func (s *scope) clauses(cs []*lrender.BlockNode) {
	for _, c := range cs {
		s.lineNo = c.SourceLoc.LineNo
		s.expr(c.Args)
		for _, b := range c.Body {
			s.walk(b)
		}
	}
}

// expr scans one expression's source for the free variables it reads:
// identifiers that are not keywords, filter names, keyword-argument names,
// loop variables or assigned names, with the dotted properties that follow.
func (s *scope) expr(src string) {
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '"' || c == '\'':
			i = skipString(src, i)
		case isDigit(c):
			i = skipNumber(src, i)
		case c == '|': // a filter's name is not a variable
			i = skipSpaces(src, i+1)
			i = skipIdent(src, i)
		case strings.HasPrefix(src[i:], ".."): // a range: what follows is an expression
			i += 2
		case c == '.': // a property after ] or )
			i++
			if i < len(src) && isIdentStart(src[i]) {
				i = skipIdent(src, i)
			}
		case isIdentStart(c):
			end := skipIdent(src, i)
			root := src[i:end]
			path := []string{root}
			for end+1 < len(src) && src[end] == '.' && isIdentStart(src[end+1]) {
				next := skipIdent(src, end+1)
				path = append(path, src[end+1:next])
				end = next
			}
			keyword := end < len(src) && src[end] == ':' && len(path) == 1
			if !keyword && !keywords[root] && s.loops[root] == 0 && !s.set[root] {
				s.add(path)
			}
			i = end
		default:
			i++
		}
	}
}

// add records path, without a trailing size, first or last (properties of a
// list or string, not of the data) below the second segment.
func (s *scope) add(path []string) {
	for len(path) > 2 {
		last := path[len(path)-1]
		if last != "size" && last != "first" && last != "last" {
			break
		}
		path = path[:len(path)-1]
	}
	p := strings.Join(path, ".")
	if s.seen[p] {
		return
	}
	s.seen[p] = true
	s.uses = append(s.uses, use{path: p, part: s.part, line: s.lineNo})
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isIdentStart matches Liquid's identifier start: a letter, '_' or any
// multi-byte UTF-8 character.
func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func skipIdent(src string, i int) int {
	for i < len(src) && (isIdentStart(src[i]) || isDigit(src[i]) || src[i] == '-') {
		i++
	}
	if i < len(src) && src[i] == '?' {
		i++
	}
	return i
}

func skipSpaces(src string, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
		i++
	}
	return i
}

func skipString(src string, i int) int {
	quote := src[i]
	for i++; i < len(src); i++ {
		switch {
		case src[i] == '\\' && quote == '"':
			i++
		case src[i] == quote:
			return i + 1
		}
	}
	return i
}

// skipNumber skips an integer or a decimal, but not the .. of a range.
func skipNumber(src string, i int) int {
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	if i+1 < len(src) && src[i] == '.' && isDigit(src[i+1]) {
		i++
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	return i
}

// variableNames is the sorted, deduplicated list of the uses' paths.
func variableNames(uses []use) []string {
	seen := make(map[string]bool, len(uses))
	names := make([]string, 0, len(uses))
	for _, u := range uses {
		if !seen[u.path] {
			seen[u.path] = true
			names = append(names, u.path)
		}
	}
	sort.Strings(names)
	return names
}

// checkLoops refuses every for or tablerow over a literal range (a..b) larger
// than MaxLoopIterations: it could never finish, so it is an error of the
// template, found when it is written rather than at every send.
func checkLoops(part string, n lrender.Node) []errs.Problem {
	var problems []errs.Problem
	var walk func(lrender.Node)
	walk = func(n lrender.Node) {
		switch n := n.(type) {
		case *lrender.SeqNode:
			for _, c := range n.Children {
				walk(c)
			}
		case *lrender.BlockNode:
			if n.Name == "for" || n.Name == "tablerow" {
				if size, ok := literalRange(n.Args); ok && size > MaxLoopIterations {
					problems = append(problems, errs.Problem{
						Part: part, Line: n.SourceLoc.LineNo,
						Message: fmt.Sprintf("The loop runs over %d items; a template may run at most %d loop iterations.", size, MaxLoopIterations),
					})
				}
			}
			for _, c := range n.Body {
				walk(c)
			}
			for _, c := range n.Clauses {
				walk(c)
			}
		}
	}
	walk(n)
	return problems
}

// literalRange reads the size of the range in a loop's arguments
// ("i in (1..100)"), when both ends are integer literals.
func literalRange(args string) (int64, bool) {
	_, rest, ok := strings.Cut(args, "(")
	if !ok {
		return 0, false
	}
	rng, _, ok := strings.Cut(rest, ")")
	if !ok {
		return 0, false
	}
	from, to, ok := strings.Cut(rng, "..")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseInt(strings.TrimSpace(from), 10, 64)
	b, err2 := strconv.ParseInt(strings.TrimSpace(to), 10, 64)
	if err1 != nil || err2 != nil || b < a {
		return 0, false
	}
	return b - a + 1, true
}

// checkStrict reports every variable the template uses that v lacks, each
// with the part and line of its first use.
func (t *Template) checkStrict(v Vars) error {
	var problems []errs.Problem
	reported := map[string]bool{}
	for _, u := range t.uses {
		if reported[u.path] || present(v, u.path) {
			continue
		}
		reported[u.path] = true
		problems = append(problems, errs.Problem{Part: u.part, Line: u.line, Message: missingMessage(u.path)})
	}
	if len(problems) == 0 {
		return nil
	}
	return &errs.Unprocessable{Message: problems[0].Message, Details: problems}
}

func missingMessage(path string) string {
	return fmt.Sprintf("The variable '%s' is not in the data.", path)
}

// present reports whether v holds the dotted path: each segment a key of a
// map. A path that goes on below a value that is not a map (a list's index, a
// string) is present when that value is.
func present(v Vars, path string) bool {
	root, rest, _ := strings.Cut(path, ".")
	var cur any
	switch root {
	case "contact":
		if v.Contact == nil {
			return false
		}
		cur = v.Contact
	case "data":
		if v.Data == nil {
			return false
		}
		cur = v.Data
	case "unsubscribeUrl":
		return v.UnsubscribeURL != ""
	default:
		return false
	}
	for rest != "" {
		var key string
		key, rest, _ = strings.Cut(rest, ".")
		var ok bool
		switch m := cur.(type) {
		case map[string]any:
			cur, ok = m[key]
		case map[string]string:
			cur, ok = m[key]
		default:
			return true
		}
		if !ok {
			return false
		}
	}
	return true
}
