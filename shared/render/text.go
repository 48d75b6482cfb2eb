package render

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// textWidth is the longest line HTMLToText writes, unless one word (a URL) is
// longer.
const textWidth = 78

// HTMLToText makes a readable plain-text version of an email's HTML. Block
// elements become line breaks (paragraphs, headings, lists and tables a blank
// line), list items get "- " (numbered items "1. "), links are kept as
// "text (url)" (just "url" when the text is the url), images become their alt
// text, <head>, <style>, <script> and elements hidden with display:none (an
// email's preheader) are dropped, entities are decoded, whitespace is
// collapsed and lines are wrapped at 78 columns. Liquid tags ({{ … }} and
// {% … %}) are never split across lines, so the text of a template's HTML is
// still a valid Liquid template.
func HTMLToText(src string) string {
	c := &textConverter{}
	z := html.NewTokenizer(strings.NewReader(src))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return wrapText(c.finish())
		case html.TextToken:
			if c.skipDepth == 0 {
				c.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, attrs := readTag(z)
			c.start(name, attrs, tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			name, _ := z.TagName()
			c.end(string(name))
		}
	}
}

func readTag(z *html.Tokenizer) (string, map[string]string) {
	name, more := z.TagName()
	var attrs map[string]string
	for more {
		var k, v []byte
		k, v, more = z.TagAttr()
		switch key := string(k); key {
		case "href", "alt", "style", "hidden":
			if attrs == nil {
				attrs = map[string]string{}
			}
			attrs[key] = string(v)
		}
	}
	return string(name), attrs
}

// Elements by how they break the text.
var (
	droppedElements   = map[string]bool{"head": true, "style": true, "script": true, "title": true, "noscript": true, "template": true}
	paragraphElements = map[string]bool{"p": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "table": true, "blockquote": true, "pre": true, "hr": true, "dl": true}
	lineElements      = map[string]bool{"div": true, "tr": true, "section": true, "article": true, "header": true, "footer": true, "nav": true, "main": true, "aside": true, "center": true, "dd": true, "dt": true, "address": true, "figure": true, "figcaption": true, "caption": true, "form": true}
	voidElements      = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}
)

type htmlList struct {
	ordered bool
	n       int
}

// textConverter writes text as the tokens come, holding line breaks and
// spaces back until the next word so none is doubled or left trailing.
type textConverter struct {
	out          strings.Builder
	pendingSpace bool
	breaks       int    // line breaks to write before the next word
	prefix       string // a list item's bullet, written before its first word
	atLineStart  bool

	skipTag   string // the dropped element being skipped
	skipDepth int
	preDepth  int
	lists     []htmlList

	inLink   bool
	linkHref string
	linkText strings.Builder
}

func (c *textConverter) start(name string, attrs map[string]string, selfClosing bool) {
	if c.skipDepth > 0 {
		if name == c.skipTag && !selfClosing && !voidElements[name] {
			c.skipDepth++
		}
		return
	}
	if droppedElements[name] || isHidden(attrs) {
		if !selfClosing && !voidElements[name] {
			c.skipTag, c.skipDepth = name, 1
		}
		return
	}
	switch {
	case name == "br":
		c.lineBreak(1)
	case name == "img":
		if alt := strings.TrimSpace(attrs["alt"]); alt != "" {
			c.text(" " + alt + " ")
		}
	case name == "a":
		if !c.inLink {
			c.inLink, c.linkHref = true, strings.TrimSpace(attrs["href"])
			c.linkText.Reset()
		}
	case name == "ul" || name == "ol":
		c.lineBreak(breakFor(len(c.lists) == 0))
		c.lists = append(c.lists, htmlList{ordered: name == "ol"})
	case name == "li":
		c.lineBreak(1)
		indent := strings.Repeat("  ", max(len(c.lists)-1, 0))
		bullet := "- "
		if n := len(c.lists); n > 0 && c.lists[n-1].ordered {
			c.lists[n-1].n++
			bullet = strconv.Itoa(c.lists[n-1].n) + ". "
		}
		c.prefix = indent + bullet
	case name == "td" || name == "th":
		c.space()
	case paragraphElements[name]:
		c.lineBreak(2)
		if name == "pre" {
			c.preDepth++
		}
	case lineElements[name]:
		c.lineBreak(1)
	}
}

func (c *textConverter) end(name string) {
	if c.skipDepth > 0 {
		if name == c.skipTag {
			c.skipDepth--
		}
		return
	}
	switch {
	case name == "a":
		if c.inLink {
			c.inLink = false
			c.text(" " + linkText(collapse(c.linkText.String()), c.linkHref) + " ")
		}
	case name == "ul" || name == "ol":
		if len(c.lists) > 0 {
			c.lists = c.lists[:len(c.lists)-1]
		}
		c.lineBreak(breakFor(len(c.lists) == 0))
	case name == "li":
		c.lineBreak(1)
	case name == "td" || name == "th":
		c.space()
	case paragraphElements[name]:
		if name == "pre" && c.preDepth > 0 {
			c.preDepth--
		}
		c.lineBreak(2)
	case lineElements[name]:
		c.lineBreak(1)
	}
}

func breakFor(outermost bool) int {
	if outermost {
		return 2
	}
	return 1
}

// isHidden reports an element hidden from readers: hidden, or display:none.
func isHidden(attrs map[string]string) bool {
	if _, ok := attrs["hidden"]; ok {
		return true
	}
	style := strings.ToLower(strings.ReplaceAll(attrs["style"], " ", ""))
	return strings.Contains(style, "display:none")
}

// linkText is how a link reads in text.
func linkText(text, href string) string {
	lower := strings.ToLower(href)
	switch {
	case href == "" || strings.HasPrefix(href, "#") || strings.HasPrefix(lower, "javascript:"):
		return text
	case text == "" || text == href || text == strings.TrimPrefix(strings.TrimPrefix(href, "https://"), "http://"):
		return href
	case lower == "mailto:"+strings.ToLower(text) || lower == "tel:"+strings.ToLower(text):
		return text
	}
	return text + " (" + href + ")"
}

func (c *textConverter) text(s string) {
	if c.inLink {
		c.linkText.WriteString(s)
		return
	}
	if c.preDepth > 0 {
		c.flushBreaks()
		c.out.WriteString(s)
		c.atLineStart = strings.HasSuffix(s, "\n")
		return
	}
	for _, r := range s {
		if unicode.IsSpace(r) || r == '\u00a0' {
			c.pendingSpace = true
			continue
		}
		c.flushBreaks()
		if c.pendingSpace && !c.atLineStart {
			c.out.WriteByte(' ')
		}
		c.pendingSpace = false
		c.out.WriteRune(r)
		c.atLineStart = false
	}
}

func (c *textConverter) space() {
	if c.inLink {
		c.linkText.WriteByte(' ')
		return
	}
	c.pendingSpace = true
}

func (c *textConverter) lineBreak(n int) {
	if c.inLink {
		c.linkText.WriteByte(' ')
		return
	}
	c.breaks = max(c.breaks, n)
	c.pendingSpace = false
}

func (c *textConverter) flushBreaks() {
	if c.breaks > 0 && c.out.Len() > 0 {
		c.out.WriteString(strings.Repeat("\n", c.breaks))
		c.atLineStart = true
	}
	c.breaks = 0
	if c.prefix != "" {
		if !c.atLineStart && c.out.Len() > 0 {
			c.out.WriteByte('\n')
		}
		c.out.WriteString(c.prefix)
		c.prefix = ""
		c.atLineStart = true
	}
	if c.out.Len() == 0 {
		c.atLineStart = true
	}
}

func (c *textConverter) finish() string {
	lines := strings.Split(c.out.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRightFunc(l, unicode.IsSpace)
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// collapse joins s's words with single spaces.
func collapse(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\u00a0' }), " ")
}

// wrapText wraps every line longer than textWidth at spaces, indenting the
// continuation of a list item under its text.
func wrapText(s string) string {
	lines := strings.Split(s, "\n")
	var b strings.Builder
	for i, line := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		if utf8.RuneCountInString(line) <= textWidth {
			b.WriteString(line)
			continue
		}
		wrapLine(&b, line)
	}
	return b.String()
}

func wrapLine(b *strings.Builder, line string) {
	body := strings.TrimLeft(line, " ")
	indent := strings.Repeat(" ", len(line)-len(body))
	if strings.HasPrefix(body, "- ") {
		indent += "  "
	} else if dot := strings.Index(body, ". "); dot > 0 && dot <= 4 && isAllDigits(body[:dot]) {
		indent += strings.Repeat(" ", dot+2)
	}
	width := len(line) - len(body) // the first line's indent is in body's place
	b.WriteString(line[:width])
	first := true
	for _, word := range liquidWords(body) {
		n := utf8.RuneCountInString(word)
		switch {
		case first:
			first = false
		case width+1+n > textWidth:
			b.WriteByte('\n')
			b.WriteString(indent)
			width = len(indent)
		default:
			b.WriteByte(' ')
			width++
		}
		b.WriteString(word)
		width += n
	}
}

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// liquidWords splits s at spaces, keeping each Liquid tag ({{ … }}, {% … %})
// whole with the words it touches.
func liquidWords(s string) []string {
	var words []string
	open := 0
	for _, w := range strings.Fields(s) {
		if open > 0 {
			words[len(words)-1] += " " + w
		} else {
			words = append(words, w)
		}
		open += strings.Count(w, "{{") + strings.Count(w, "{%") - strings.Count(w, "}}") - strings.Count(w, "%}")
		open = max(open, 0)
	}
	return words
}
