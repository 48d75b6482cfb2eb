package sendworker

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/sends"
)

// The rewrite: which links are tracked, with what URL, and where the pixel
// goes. Tokens are shown as [c:URL] (a click token that verifies to URL)
// and [o] (the open token).
func TestTrackingRewrite(t *testing.T) {
	const base = "https://links.example.net"
	signer := sends.NewSigner([]byte(testSecret))
	unsub := signer.URL(base, sends.Link{Kind: sends.LinkUnsubscribe, OrgID: "org_1", SendID: "msg_1", Email: "a@example.com"})
	long := "https://example.com/" + strings.Repeat("a", maxTrackedURL)
	cases := []struct {
		name          string
		in            string
		opens, clicks bool
		want          string
	}{
		{"double quotes", `<a href="https://example.com/a">x</a>`, false, true, `<a href="[c:https://example.com/a]">x</a>`},
		{"single quotes", `<a class='b' href='http://example.com/a'>x</a>`, false, true, `<a class='b' href="[c:http://example.com/a]">x</a>`},
		{"entities are unescaped before signing", `<a href="https://example.com/?a=1&amp;b=2">x</a>`, false, true, `<a href="[c:https://example.com/?a=1&b=2]">x</a>`},
		{"area", `<map><area shape="rect" href="https://example.com/m"></map>`, false, true, `<map><area shape="rect" href="[c:https://example.com/m]"></map>`},
		{"upper case tag and scheme", `<A HREF="HTTPS://Example.com/P">x</A>`, false, true, `<A HREF="[c:https://Example.com/P]">x</A>`},
		{"spaces around the URL and =", `<a href = " https://example.com/s ">x</a>`, false, true, `<a href = "[c:https://example.com/s]">x</a>`},
		{"mailto, tel, anchors and relative links stay", `<a href="mailto:a@example.com">m</a><a href="tel:+1">t</a><a href="#top">a</a><a href="/x">r</a>`, false, true,
			`<a href="mailto:a@example.com">m</a><a href="tel:+1">t</a><a href="#top">a</a><a href="/x">r</a>`},
		{"the unsubscribe link stays", `<a href="` + unsub + `">u</a>`, false, true, `<a href="` + unsub + `">u</a>`},
		{"a long URL stays", `<a href="` + long + `">l</a>`, false, true, `<a href="` + long + `">l</a>`},
		{"not a link tag", `<link href="https://example.com/css"><img src="https://example.com/i.png">`, false, true, `<link href="https://example.com/css"><img src="https://example.com/i.png">`},
		{"data-href is not href", `<a data-href="https://example.com/d">x</a>`, false, true, `<a data-href="https://example.com/d">x</a>`},
		{"clicks off", `<a href="https://example.com/a">x</a>`, false, false, `<a href="https://example.com/a">x</a>`},
		{"pixel before </body>", `<html><body><p>x</p></BODY></html>`, true, false, `<html><body><p>x</p>[o]</BODY></html>`},
		{"pixel at the end without </body>", `<p>x</p>`, true, false, `<p>x</p>[o]`},
	}
	tr := tracking{signer: signer, base: base, orgID: "org_1", sendID: "msg_1", unsub: unsub}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, readable(t, signer, base, tr.rewrite(tc.in, tc.opens, tc.clicks)))
		})
	}
}

// One URL gets one token in one email; two URLs two.
func TestTrackingOneTokenPerURL(t *testing.T) {
	signer := sends.NewSigner([]byte(testSecret))
	tr := tracking{signer: signer, base: "https://l.example.net", orgID: "org_1", sendID: "msg_1"}
	out := tr.rewrite(`<a href="https://a.example.com">1</a><a href="https://a.example.com">2</a><a href="https://b.example.com">3</a>`, false, true)
	assert.Equal(t, 3, strings.Count(out, "/t/c/"))
	parts := strings.Split(out, `"`)
	assert.Equal(t, parts[1], parts[3])
	assert.NotEqual(t, parts[1], parts[5])
}

// readable replaces the tracking URLs in html by what their tokens say.
func readable(t *testing.T, signer *sends.Signer, base, html string) string {
	for _, prefix := range []string{base + sends.PathClick, base + sends.PathOpen} {
		for {
			i := strings.Index(html, prefix)
			if i < 0 {
				break
			}
			end := i + len(prefix) + strings.IndexByte(html[i+len(prefix):], '"')
			l, err := signer.Verify(html[i+len(prefix) : end])
			require.NoError(t, err)
			assert.Equal(t, "msg_1", l.SendID)
			label := "[o]"
			if l.Kind == sends.LinkClick {
				label = "[c:" + l.URL + "]"
			} else {
				// The pixel's own markup.
				if j := strings.Index(html[end:], ">"); j >= 0 {
					assert.Equal(t, `" width="1" height="1" alt="" style="display:none">`, html[end:end+j+1])
					start := strings.LastIndex(html[:i], "<img")
					html = html[:start] + label + html[end+j+1:]
					continue
				}
			}
			html = html[:i] + label + html[end:]
		}
	}
	return html
}
