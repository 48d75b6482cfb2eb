package render_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/sendwell/sendwell/shared/render"
)

func TestHTMLToText(t *testing.T) {
	cases := []struct {
		name string
		html string
		want string
	}{
		{"paragraphs and headings", "<h1>Welcome</h1><p>First   para\n  graph.</p><p>Second.</p>", "Welcome\n\nFirst para graph.\n\nSecond."},
		{"divs and br break lines", "<div>one</div><div>two<br>three</div>", "one\ntwo\nthree"},
		{"links keep their url", `<p>Read <a href="https://example.com/a?x=1&amp;y=2">the guide</a> now</p>`, "Read the guide (https://example.com/a?x=1&y=2) now"},
		{"a link whose text is its url", `<a href="https://example.com">https://example.com</a> <a href="https://example.com">example.com</a>`, "https://example.com https://example.com"},
		{"anchors and mailto", `<a href="#top">Top</a> <a href="mailto:ada@example.com">ada@example.com</a>`, "Top ada@example.com"},
		{"an image link reads as its alt", `<a href="https://example.com"><img src="l.png" alt="Logo"></a>`, "Logo (https://example.com)"},
		{"images become their alt", `<p>Hi <img src="a.png" alt="wave"> there<img src="spacer.gif"></p>`, "Hi wave there"},
		{"lists", "<p>Items:</p><ul><li>one</li><li>two<ul><li>deep</li></ul></li></ul><ol><li>a</li><li>b</li></ol>", "Items:\n\n- one\n- two\n  - deep\n\n1. a\n2. b"},
		{"head, style, script and hidden preheader dropped", `<html><head><title>T</title><style>p{color:red}</style></head><body><div style="display: none; max-height:0">preview</div><script>alert(1)</script><p>Body</p></body></html>`, "Body"},
		{"entities decoded", "<p>Fish &amp; chips&nbsp;&mdash; &lt;3 &#39;yum&#39;</p>", "Fish & chips — <3 'yum'"},
		{"table cells", "<table><tr><td>Name</td><td>Ada</td></tr><tr><td>Plan</td><td>Pro</td></tr></table><p>After</p>", "Name Ada\nPlan Pro\n\nAfter"},
		{"pre keeps its lines", "<pre>a\n  b</pre>", "a\n  b"},
		{"liquid survives", `<p>Hi {{ contact.firstName | default: "there" }},</p><a href="{{ unsubscribeUrl }}">Unsubscribe</a>`, "Hi {{ contact.firstName | default: \"there\" }},\n\nUnsubscribe ({{ unsubscribeUrl }})"},
		{"empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, render.HTMLToText(c.html))
		})
	}
}

func TestHTMLToTextWrapsLongLines(t *testing.T) {
	long := strings.Repeat("word ", 40)
	got := render.HTMLToText("<p>" + long + "{{ contact.firstName | default: 'a friend of ours' }} " + long + "</p><ul><li>" + long + "</li></ul><p>https://example.com/" + strings.Repeat("x", 100) + "</p>")
	lines := strings.Split(got, "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, "https://") {
			assert.LessOrEqual(t, utf8.RuneCountInString(l), 78, l)
		}
	}
	assert.Contains(t, got, "{{ contact.firstName | default: 'a friend of ours' }}", "a Liquid tag is never split")
	assert.Contains(t, got, "\n- word word", "a list item starts with its bullet")
	assert.Contains(t, got, "\n  word word", "its continuation is indented under its text")
	assert.Contains(t, got, "https://example.com/"+strings.Repeat("x", 100), "a long word is not broken")
}
