package links

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/gif"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/config"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/ids"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/public"
	"github.com/sendwell/sendwell/shared/sends"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var (
	t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	// secret is the link secret; jwtSecret, the public function's other
	// secret, must never verify a link.
	secret    = []byte("links-test-secret-0123456789abcdef")
	jwtSecret = []byte("links-test-jwt-secret-0123456789abcdef")
)

const (
	orgID = "org_01J00000000000000000000001"
	email = "jane.doe@example.com"
	// googleUA is what Gmail's image proxy sends.
	googleUA = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
	safariUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"
)

// fixture is the public function's router over a fresh table, with an
// organisation in it.
type fixture struct {
	t      *testing.T
	env    *testenv.Env
	clock  *clock.Fake
	rt     *httpx.Router
	signer *sends.Signer
}

func newFixture(t *testing.T, orgName string, faults ...*awsx.Faults) *fixture {
	env := testenv.New(t)
	clk := clock.NewFake(t0)
	awsCfg := env.Config.Copy()
	for _, f := range faults {
		f.Instrument(&awsCfg)
		awsx.QuickRetries(&awsCfg, 2)
	}
	d, err := platform.NewDeps(awsCfg, config.Config{TableName: env.Store.Table, JWTSecret: jwtSecret, LinkSecret: secret}, clk)
	require.NoError(t, err)
	rt := d.Router()
	require.NoError(t, platform.Mount(d, rt, public.API, API))
	org := struct {
		store.Key
		ID   string `dynamodbav:"id"`
		Name string `dynamodbav:"name"`
	}{store.OrgKey(orgID), orgID, orgName}
	require.NoError(t, env.Store.Put(t.Context(), org))
	return &fixture{t: t, env: env, clock: clk, rt: rt, signer: sends.NewSigner(secret)}
}

// send writes a sent send to addr, of contactID when not empty.
func (f *fixture) send(contactID string) sends.Item {
	it := sends.Item{OrgID: orgID, ID: ids.New("msg", f.clock.Now()), Status: sends.Sent, StatusAt: f.clock.Now(), To: email,
		ContactID: contactID, TemplateID: "welcome", Kind: sends.Marketing, TrackOpens: true, TrackClicks: true, CreatedAt: f.clock.Now()}
	it.SetKeys()
	require.NoError(f.t, f.env.Store.Put(f.t.Context(), it))
	return it
}

func (f *fixture) contact() *contacts.Item {
	c, err := contacts.NewService(f.env.Store, f.clock).Create(f.t.Context(), orgID, contacts.Input{Email: email})
	require.NoError(f.t, err)
	require.True(f.t, c.Subscribed)
	return c
}

func (f *fixture) token(kind string, it sends.Item, mod ...func(*sends.Link)) string {
	l := sends.Link{Kind: kind, OrgID: it.OrgID, SendID: it.ID, Email: it.To, ContactID: it.ContactID}
	for _, m := range mod {
		m(&l)
	}
	return f.signer.Sign(l)
}

func (f *fixture) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.rt.ServeHTTP(w, req)
	return w
}

func (f *fixture) get(id string) sends.Item {
	it, err := (&sends.Ledger{Store: f.env.Store}).Get(f.t.Context(), orgID, id)
	require.NoError(f.t, err)
	return it
}

// timeline is the send's stored timeline items, in order.
func (f *fixture) timeline(id string) []sends.TimelineItem {
	out, err := f.env.DB.Query(f.t.Context(), &dynamodb.QueryInput{
		TableName:              &f.env.Store.Table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :ev)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: store.SendPK(orgID, id)},
			":ev": &types.AttributeValueMemberS{Value: store.TimelinePrefix()},
		},
	})
	require.NoError(f.t, err)
	var items []sends.TimelineItem
	for _, av := range out.Items {
		var tl sends.TimelineItem
		require.NoError(f.t, attributevalue.UnmarshalMap(av, &tl))
		items = append(items, tl)
	}
	return items
}

// counters are today's counters of the send's tenant.
func (f *fixture) counters(id string) map[string]any {
	var day map[string]any
	err := f.env.Store.Get(f.t.Context(), store.StatsDayKey(orgID, store.StatsShard(id), f.clock.Now()), &day)
	if err != nil {
		require.ErrorIs(f.t, err, errs.ErrNotFound)
		return map[string]any{}
	}
	return day
}

func (f *fixture) suppression() (sends.SuppressionItem, bool) {
	var s sends.SuppressionItem
	err := f.env.Store.GetConsistent(f.t.Context(), store.SuppressionKey(orgID, email), &s)
	if err != nil {
		require.ErrorIs(f.t, err, errs.ErrNotFound)
		return s, false
	}
	return s, true
}

func errCode(t *testing.T, w *httptest.ResponseRecorder) string {
	var body httpx.ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	return body.Error.Code
}

// A forged or altered token answers 400 in the envelope on every route,
// and changes nothing.
func TestForgedTokensChangeNothing(t *testing.T) {
	f := newFixture(t, "Acme")
	c := f.contact()
	it := f.send(c.ID)
	other := sends.NewSigner([]byte("another-secret-another-secret-xx"))
	jwtSigned := sends.NewSigner(jwtSecret) // the links must not depend on the JWT secret

	// The click's URL changed, its MAC kept: the open redirect it would be.
	good := f.token(sends.LinkClick, it, func(l *sends.Link) { l.URL = "https://shop.example.com/a" })
	_, mac, _ := strings.Cut(good, ".")
	evil, _ := json.Marshal(sends.Link{Kind: sends.LinkClick, OrgID: orgID, SendID: it.ID, URL: "https://evil.example.net/"})
	altered := base64.RawURLEncoding.EncodeToString(evil) + "." + mac
	// An unsubscribe token moved to another tenant.
	moved, _ := json.Marshal(sends.Link{Kind: sends.LinkUnsubscribe, OrgID: "org_01J00000000000000000000002", SendID: it.ID, Email: email})
	_, umac, _ := strings.Cut(f.token(sends.LinkUnsubscribe, it), ".")
	movedTok := base64.RawURLEncoding.EncodeToString(moved) + "." + umac

	cases := []struct{ name, method, path string }{
		{"click URL altered", "GET", sends.PathClick + altered},
		{"click signed elsewhere", "GET", sends.PathClick + other.Sign(sends.Link{Kind: sends.LinkClick, OrgID: orgID, SendID: it.ID, URL: "https://evil.example.net/"})},
		{"open token as a click", "GET", sends.PathClick + f.token(sends.LinkOpen, it)},
		{"open garbage", "GET", sends.PathOpen + "garbage"},
		{"open truncated", "GET", sends.PathOpen + f.token(sends.LinkOpen, it)[:20]},
		{"open signed elsewhere", "GET", sends.PathOpen + other.Sign(sends.Link{Kind: sends.LinkOpen, OrgID: orgID, SendID: it.ID})},
		{"unsubscribe moved to another tenant", "POST", sends.PathUnsubscribe + movedTok},
		{"unsubscribe signed elsewhere", "POST", sends.PathUnsubscribe + other.Sign(sends.Link{Kind: sends.LinkUnsubscribe, OrgID: orgID, SendID: it.ID, Email: email})},
		{"click token as an unsubscribe", "POST", sends.PathUnsubscribe + good},
		{"unsubscribe signed with the JWT secret", "POST", sends.PathUnsubscribe + jwtSigned.Sign(sends.Link{Kind: sends.LinkUnsubscribe, OrgID: orgID, SendID: it.ID, Email: email})},
		{"click signed with the JWT secret", "GET", sends.PathClick + jwtSigned.Sign(sends.Link{Kind: sends.LinkClick, OrgID: orgID, SendID: it.ID, URL: "https://evil.example.net/"})},
		{"unsubscribe page, garbage", "GET", sends.PathUnsubscribe + "x.y"},
		{"too long", "GET", sends.PathOpen + strings.Repeat("A", sends.MaxTokenLen+1)},
	}
	for _, c := range cases {
		w := f.do(c.method, c.path, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
		assert.Equal(t, http.StatusBadRequest, w.Code, c.name)
		assert.Equal(t, httpx.CodeValidation, errCode(t, w), c.name)
		assert.Empty(t, w.Header().Get("Location"), c.name)
	}

	got := f.get(it.ID)
	assert.Equal(t, 0, got.Rev, "the send is untouched")
	assert.Equal(t, sends.Sent, got.Status)
	assert.Empty(t, f.timeline(it.ID))
	cur, err := contacts.NewService(f.env.Store, f.clock).Get(t.Context(), orgID, c.ID)
	require.NoError(t, err)
	assert.True(t, cur.Subscribed, "the contact is still subscribed")
	_, suppressed := f.suppression()
	assert.False(t, suppressed)

	// Control: the good token works.
	w := f.do("GET", sends.PathClick+good, "")
	assert.Equal(t, http.StatusFound, w.Code)
	assert.Equal(t, "https://shop.example.com/a", w.Header().Get("Location"))
}

// The public function asks for the link secret for this group, and the
// group does not start without it (the JWT secret is no stand-in).
func TestAPINeedsTheLinkSecret(t *testing.T) {
	assert.True(t, API.LinkSecret)
	env := testenv.New(t)
	d, err := platform.NewDeps(env.Config, config.Config{TableName: env.Store.Table, JWTSecret: jwtSecret}, clock.NewFake(t0))
	require.NoError(t, err)
	err = platform.Mount(d, d.Router(), API)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "link secret")
}

// The page names the organisation, masks the address, escapes both, and
// changes nothing: only its button (a POST) unsubscribes.
func TestUnsubscribePage(t *testing.T) {
	f := newFixture(t, `<script>alert("x")</script> & Co`)
	c := f.contact()
	it := f.send(c.ID)
	path := sends.PathUnsubscribe + f.token(sends.LinkUnsubscribe, it)

	w := f.do("GET", path, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	body := w.Body.String()
	assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'", w.Header().Get("Content-Security-Policy"))
	assert.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Contains(t, body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co")
	assert.NotContains(t, body, "<script>")
	assert.Contains(t, body, "j***@example.com")
	assert.NotContains(t, body, "jane.doe")
	assert.Contains(t, body, `<form method="post">`)
	assert.NotContains(t, body, "http", "no external assets")

	assert.Equal(t, 0, f.get(it.ID).Rev, "a GET changes nothing")
	cur, err := contacts.NewService(f.env.Store, f.clock).Get(t.Context(), orgID, c.ID)
	require.NoError(t, err)
	assert.True(t, cur.Subscribed)

	gone := it
	gone.ID = ids.New("msg", t0)
	w = f.do("GET", sends.PathUnsubscribe+f.token(sends.LinkUnsubscribe, gone), "")
	assert.Equal(t, http.StatusNotFound, w.Code, "a send that is gone")
	assert.Equal(t, httpx.CodeNotFound, errCode(t, w))
}

// The one-click POST unsubscribes the contact and records it once: the
// second POST answers 200 and changes and counts nothing.
func TestOneClickUnsubscribesTheContactOnce(t *testing.T) {
	f := newFixture(t, "Acme")
	c := f.contact()
	it := f.send(c.ID)
	path := sends.PathUnsubscribe + f.token(sends.LinkUnsubscribe, it)

	w := f.do("POST", path, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"unsubscribed":true}`, w.Body.String())

	cur, err := contacts.NewService(f.env.Store, f.clock).Get(t.Context(), orgID, c.ID)
	require.NoError(t, err)
	assert.False(t, cur.Subscribed)
	require.NotNil(t, cur.UnsubscribedAt)
	tl := f.timeline(it.ID)
	require.Len(t, tl, 1)
	assert.Equal(t, sends.EventUnsubscribed, tl[0].EventType)
	assert.JSONEq(t, `{"contactId":"`+c.ID+`"}`, tl[0].Detail)
	assert.EqualValues(t, 1, f.counters(it.ID)[sends.CountUnsubscribed])
	_, suppressed := f.suppression()
	assert.False(t, suppressed, "a contact is unsubscribed, not suppressed")
	rev := f.get(it.ID).Rev

	// Again, from the page's button in a browser: 200, an HTML answer, nothing new.
	f.clock.Advance(time.Minute)
	w = f.do("POST", path, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "You are unsubscribed")
	assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Len(t, f.timeline(it.ID), 1)
	assert.EqualValues(t, 1, f.counters(it.ID)[sends.CountUnsubscribed])
	assert.Equal(t, rev, f.get(it.ID).Rev)
}

// Without a contact, the address is suppressed (reason unsubscribed, with
// the send), once; an address suppressed for another reason keeps it.
func TestUnsubscribeWithoutAContactSuppresses(t *testing.T) {
	t.Run("a bare address", func(t *testing.T) {
		f := newFixture(t, "Acme")
		it := f.send("")
		path := sends.PathUnsubscribe + f.token(sends.LinkUnsubscribe, it)
		for range 2 {
			w := f.do("POST", path, "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		}
		s, ok := f.suppression()
		require.True(t, ok)
		assert.Equal(t, sends.ReasonUnsubscribed, s.Reason)
		assert.Equal(t, it.ID, s.SendID)
		assert.Equal(t, email, s.Email)
		assert.Equal(t, store.SuppressionsByReasonPK(orgID, sends.ReasonUnsubscribed), s.GSI1PK)
		tl := f.timeline(it.ID)
		require.Len(t, tl, 1, "recorded once")
		assert.Equal(t, sends.EventUnsubscribed, tl[0].EventType)
		assert.EqualValues(t, 1, f.counters(it.ID)[sends.CountUnsubscribed])
	})
	t.Run("already suppressed for a hard bounce", func(t *testing.T) {
		f := newFixture(t, "Acme")
		it := f.send("")
		require.NoError(t, f.env.Store.Put(t.Context(), sends.NewSuppression(orgID, email, sends.ReasonHardBounce, "msg_earlier", t0)))
		w := f.do("POST", sends.PathUnsubscribe+f.token(sends.LinkUnsubscribe, it), "List-Unsubscribe=One-Click")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		s, _ := f.suppression()
		assert.Equal(t, sends.ReasonHardBounce, s.Reason, "not overwritten")
		assert.Equal(t, "msg_earlier", s.SendID)
		assert.Empty(t, f.timeline(it.ID))
		assert.Nil(t, f.counters(it.ID)[sends.CountUnsubscribed])
	})
	t.Run("the contact was deleted", func(t *testing.T) {
		f := newFixture(t, "Acme")
		c := f.contact()
		it := f.send(c.ID)
		require.NoError(t, contacts.NewService(f.env.Store, f.clock).Delete(t.Context(), orgID, c.ID))
		w := f.do("POST", sends.PathUnsubscribe+f.token(sends.LinkUnsubscribe, it), "")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		s, ok := f.suppression()
		require.True(t, ok, "the address is suppressed instead")
		assert.Equal(t, sends.ReasonUnsubscribed, s.Reason)
	})
	t.Run("a send that is gone", func(t *testing.T) {
		f := newFixture(t, "Acme")
		it := sends.Item{OrgID: orgID, ID: ids.New("msg", t0), To: email}
		w := f.do("POST", sends.PathUnsubscribe+f.token(sends.LinkUnsubscribe, it), "")
		assert.Equal(t, http.StatusNotFound, w.Code)
		_, ok := f.suppression()
		assert.False(t, ok)
	})
}

// An open answers the pixel, moves the send to opened, and counts; the
// first open counts as unique.
func TestOpen(t *testing.T) {
	f := newFixture(t, "Acme")
	it := f.send("")
	path := sends.PathOpen + f.token(sends.LinkOpen, it)

	w := f.do("GET", path, "", "User-Agent", safariUA)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "image/gif", w.Header().Get("Content-Type"))
	assert.Contains(t, w.Header().Get("Cache-Control"), "no-store")
	assert.Len(t, w.Body.Bytes(), 43)
	img, err := gif.Decode(bytes.NewReader(w.Body.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, 1, img.Bounds().Dx())
	assert.Equal(t, 1, img.Bounds().Dy())
	_, _, _, alpha := img.At(0, 0).RGBA()
	assert.Zero(t, alpha, "transparent")

	got := f.get(it.ID)
	assert.Equal(t, sends.Opened, got.Status)
	assert.Equal(t, 1, got.Opens)
	tl := f.timeline(it.ID)
	require.Len(t, tl, 1)
	assert.Equal(t, sends.Opened, tl[0].EventType)
	assert.Empty(t, tl[0].Detail, "a person's open carries no machine flag")

	f.clock.Advance(time.Second)
	require.Equal(t, http.StatusOK, f.do("GET", path, "").Code)
	c := f.counters(it.ID)
	assert.EqualValues(t, 2, c[sends.CountOpened])
	assert.EqualValues(t, 1, c[sends.CountOpenedUnique])

	// A HEAD is not an open.
	require.Equal(t, http.StatusOK, f.do("HEAD", path, "").Code)
	assert.Equal(t, 2, f.get(it.ID).Opens)
}

// Opens through Gmail's image proxy and Apple's Mail Privacy Protection
// are flagged machine: true.
func TestMachineOpensAreFlagged(t *testing.T) {
	f := newFixture(t, "Acme")
	for ua, proxy := range map[string]string{googleUA: "google", "Mozilla/5.0": "apple"} {
		it := f.send("")
		w := f.do("GET", sends.PathOpen+f.token(sends.LinkOpen, it), "", "User-Agent", ua)
		require.Equal(t, http.StatusOK, w.Code)
		tl := f.timeline(it.ID)
		require.Len(t, tl, 1)
		assert.JSONEq(t, `{"machine":true,"proxy":"`+proxy+`"}`, tl[0].Detail, ua)
	}
	for ua, want := range map[string]string{
		safariUA: "",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148": "",
		"": "", "  Mozilla/5.0 ": proxyApple, googleUA: proxyGoogle,
	} {
		assert.Equal(t, want, mailProxy(ua), ua)
	}
}

// Twelve opens: the send counts twelve, its timeline lists ten.
func TestOpensBeyondTenAreCountedNotListed(t *testing.T) {
	f := newFixture(t, "Acme")
	it := f.send("")
	path := sends.PathOpen + f.token(sends.LinkOpen, it)
	for range 12 {
		require.Equal(t, http.StatusOK, f.do("GET", path, "").Code)
		f.clock.Advance(time.Second)
	}
	assert.Equal(t, 12, f.get(it.ID).Opens)
	assert.Len(t, f.timeline(it.ID), sends.MaxListed)
	c := f.counters(it.ID)
	assert.EqualValues(t, 12, c[sends.CountOpened])
	assert.EqualValues(t, 1, c[sends.CountOpenedUnique])
}

// A click records clicked with its URL and redirects to the URL the token
// carries, query string and all.
func TestClickRedirectsToTheSignedURL(t *testing.T) {
	f := newFixture(t, "Acme")
	it := f.send("")
	target := "https://shop.example.com/p/42?utm_source=sendwell&q=a%20b&x=1#reviews"
	path := sends.PathClick + f.token(sends.LinkClick, it, func(l *sends.Link) { l.URL = target })

	w := f.do("GET", path+"?url=https://evil.example.net/", "")
	require.Equal(t, http.StatusFound, w.Code, w.Body.String())
	assert.Equal(t, target, w.Header().Get("Location"), "the query string cannot redirect elsewhere")
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))

	got := f.get(it.ID)
	assert.Equal(t, sends.Clicked, got.Status)
	assert.Equal(t, 1, got.Clicks)
	tl := f.timeline(it.ID)
	require.Len(t, tl, 1)
	assert.Equal(t, sends.Clicked, tl[0].EventType)
	assert.JSONEq(t, `{"url":`+mustJSON(t, target)+`}`, tl[0].Detail)

	require.Equal(t, http.StatusFound, f.do("GET", path, "").Code)
	c := f.counters(it.ID)
	assert.EqualValues(t, 2, c[sends.CountClicked])
	assert.EqualValues(t, 1, c[sends.CountClickedUnique])
}

// Tracking never breaks the reader's way: a send that is gone, or a table
// that fails, still gets the pixel and the redirect.
func TestTrackingFailuresKeepThePixelAndTheRedirect(t *testing.T) {
	t.Run("the send is gone", func(t *testing.T) {
		f := newFixture(t, "Acme")
		gone := sends.Item{OrgID: orgID, ID: ids.New("msg", t0), To: email}
		w := f.do("GET", sends.PathOpen+f.token(sends.LinkOpen, gone), "")
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, pixel, w.Body.Bytes())
		w = f.do("GET", sends.PathClick+f.token(sends.LinkClick, gone, func(l *sends.Link) { l.URL = "https://example.com/x" }), "")
		assert.Equal(t, http.StatusFound, w.Code)
		assert.Equal(t, "https://example.com/x", w.Header().Get("Location"))
		_, err := (&sends.Ledger{Store: f.env.Store}).Get(t.Context(), orgID, gone.ID)
		assert.ErrorIs(t, err, errs.ErrNotFound, "nothing was made up")
	})
	t.Run("the table fails", func(t *testing.T) {
		faults := awsx.NewFaults()
		f := newFixture(t, "Acme", faults)
		it := f.send("")
		faults.FailFrom("DynamoDB.TransactWriteItems", 1, awsx.InternalServerError)
		w := f.do("GET", sends.PathClick+f.token(sends.LinkClick, it, func(l *sends.Link) { l.URL = "https://example.com/y" }), "")
		assert.Equal(t, http.StatusFound, w.Code)
		assert.Equal(t, "https://example.com/y", w.Header().Get("Location"))
		w = f.do("GET", sends.PathOpen+f.token(sends.LinkOpen, it), "")
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, pixel, w.Body.Bytes())
		assert.Equal(t, 0, f.get(it.ID).Rev, "nothing recorded")

		w = f.do("POST", sends.PathUnsubscribe+f.token(sends.LinkUnsubscribe, it), "")
		assert.Equal(t, http.StatusServiceUnavailable, w.Code, "an unsubscribe that could not be saved says so")
	})
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"jane@example.com": "j***@example.com",
		"j@example.com":    "j***@example.com",
		"élise@exemple.fr": "é***@exemple.fr",
		"@example.com":     "***",
		"nope":             "***",
	} {
		assert.Equal(t, want, mask(in), in)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// Unsubscribe requests racing (a mail provider's one-click POST and the
// reader's button) unsubscribe once and record once.
func TestConcurrentUnsubscribesRecordOnce(t *testing.T) {
	f := newFixture(t, "Acme")
	c := f.contact()
	it := f.send(c.ID)
	path := sends.PathUnsubscribe + f.token(sends.LinkUnsubscribe, it)
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Go(func() { codes[i] = f.do("POST", path, "List-Unsubscribe=One-Click").Code })
	}
	wg.Wait()
	for _, code := range codes {
		assert.Equal(t, http.StatusOK, code)
	}
	assert.Len(t, f.timeline(it.ID), 1)
	assert.EqualValues(t, 1, f.counters(it.ID)[sends.CountUnsubscribed])
}

// The sample events in events/public/ for the links are fed to the public
// function's Lambda entry point, with real tokens for a real send.
func TestSampleEvents(t *testing.T) {
	f := newFixture(t, "Acme")
	c := f.contact()
	it := f.send(c.ID)
	tokens := strings.NewReplacer(
		"SAMPLE_UNSUBSCRIBE_TOKEN", f.token(sends.LinkUnsubscribe, it),
		"SAMPLE_OPEN_TOKEN", f.token(sends.LinkOpen, it),
		"SAMPLE_CLICK_TOKEN", f.token(sends.LinkClick, it, func(l *sends.Link) { l.URL = "https://shop.example.com/orders/42?ref=mail" }),
	)
	handler := httpx.Lambda(f.rt)
	for _, c := range []struct {
		file   string
		status int
		check  func(t *testing.T, res events.APIGatewayV2HTTPResponse)
	}{
		{"unsubscribe-page.json", 200, func(t *testing.T, res events.APIGatewayV2HTTPResponse) {
			assert.Contains(t, res.Body, "j***@example.com")
		}},
		{"open.json", 200, func(t *testing.T, res events.APIGatewayV2HTTPResponse) {
			assert.True(t, res.IsBase64Encoded, "the GIF goes back base64-encoded, as API Gateway wants binary bodies")
			b, err := base64.StdEncoding.DecodeString(res.Body)
			require.NoError(t, err)
			assert.Equal(t, pixel, b)
			assert.Equal(t, 1, f.get(it.ID).Opens)
		}},
		{"click.json", 302, func(t *testing.T, res events.APIGatewayV2HTTPResponse) {
			assert.Equal(t, "https://shop.example.com/orders/42?ref=mail", res.Headers["Location"])
			assert.Equal(t, 1, f.get(it.ID).Clicks)
		}},
		{"click-forged-token.json", 400, func(t *testing.T, res events.APIGatewayV2HTTPResponse) {
			assert.Contains(t, res.Body, `"code":"VALIDATION_ERROR"`)
			assert.Empty(t, res.Headers["Location"])
		}},
		{"unsubscribe-one-click.json", 200, func(t *testing.T, res events.APIGatewayV2HTTPResponse) {
			assert.JSONEq(t, `{"unsubscribed":true}`, res.Body)
			cur, err := contacts.NewService(f.env.Store, f.clock).Get(t.Context(), orgID, c.ID)
			require.NoError(t, err)
			assert.False(t, cur.Subscribed)
		}},
	} {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "public", c.file))
			require.NoError(t, err)
			var ev events.APIGatewayV2HTTPRequest
			require.NoError(t, json.Unmarshal([]byte(tokens.Replace(string(raw))), &ev))
			res, err := handler(t.Context(), ev)
			require.NoError(t, err)
			assert.Equal(t, c.status, res.StatusCode, res.Body)
			assert.Equal(t, ev.RequestContext.RequestID, res.Headers["X-Request-Id"])
			c.check(t, res)
		})
	}
}
