package sendworker

import (
	"html"
	"regexp"
	"strings"
	"sync"

	"github.com/sendwell/sendwell/shared/sends"
)

// maxTrackedURL is the longest link the worker rewrites: a longer one is
// left as it is rather than make a token longer than the public function
// reads (sends.MaxTokenLen).
const maxTrackedURL = 2048

// Patterns of the rewrite, compiled on first use (nothing at package init).
var (
	linkTagRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?is)<(?:a|area)\s[^>]*>`) })
	hrefRE    = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?is)(\shref\s*=\s*)("[^"]*"|'[^']*')`)
	})
)

// tracking rewrites an email's HTML for first-party opens and clicks.
type tracking struct {
	signer *sends.Signer
	base   string // the public function's URL
	orgID  string
	sendID string
	unsub  string // the send's unsubscribe URL, never rewritten
}

// rewrite makes every http(s) link of an <a> or <area> lead through
// /t/c/{token} (when clicks) and adds the open pixel (when opens). The HTML
// part only: the text part is left as written. One URL gets one token in
// one email.
func (t tracking) rewrite(body string, opens, clicks bool) string {
	if clicks {
		body = t.links(body)
	}
	if opens {
		body = t.pixel(body)
	}
	return body
}

func (t tracking) links(body string) string {
	tokens := map[string]string{}
	href := hrefRE()
	return linkTagRE().ReplaceAllStringFunc(body, func(tag string) string {
		m := href.FindStringSubmatchIndex(tag)
		if m == nil {
			return tag
		}
		quoted := tag[m[4]:m[5]]
		raw := strings.TrimSpace(html.UnescapeString(quoted[1 : len(quoted)-1]))
		if !t.trackable(raw) {
			return tag
		}
		raw = lowerScheme(raw)
		u, ok := tokens[raw]
		if !ok {
			u = t.signer.URL(t.base, sends.Link{Kind: sends.LinkClick, OrgID: t.orgID, SendID: t.sendID, URL: raw})
			tokens[raw] = u
		}
		// A token is base64url and a dot: nothing in it needs escaping.
		return tag[:m[4]] + `"` + u + `"` + tag[m[5]:]
	})
}

// trackable says whether a link's URL is rewritten: http(s), not too long,
// and not one of the public function's own links.
func (t tracking) trackable(u string) bool {
	lower := strings.ToLower(u)
	switch {
	case !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://"),
		len(u) > maxTrackedURL,
		u == t.unsub,
		t.base != "" && (strings.HasPrefix(u, t.base+sends.PathUnsubscribe) || strings.HasPrefix(u, t.base+"/t/")):
		return false
	}
	return true
}

// pixel adds the open pixel just before the last </body>, or at the end.
func (t tracking) pixel(body string) string {
	img := `<img src="` + t.signer.URL(t.base, sends.Link{Kind: sends.LinkOpen, OrgID: t.orgID, SendID: t.sendID}) +
		`" width="1" height="1" alt="" style="display:none">`
	if i := lastIndexFold(body, "</body>"); i >= 0 {
		return body[:i] + img + body[i:]
	}
	return body + img
}

// lastIndexFold is the index of the last ASCII-case-insensitive match of
// the lower-case needle in s, or -1.
func lastIndexFold(s, needle string) int {
	for i := len(s) - len(needle); i >= 0; i-- {
		if s[i] == needle[0] && strings.EqualFold(s[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}

// lowerScheme writes a trackable URL's scheme in lower case, as the links'
// verifier wants it.
func lowerScheme(u string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	return strings.ToLower(scheme) + "://" + rest
}
