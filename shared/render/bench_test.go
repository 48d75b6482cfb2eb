package render_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/render"
)

// benchSource is a ~5 KB order email: 10 variables of the data and one loop
// over 5 items, like a compiled MJML template's HTML.
func benchSource() render.Source {
	filler := strings.Repeat(`<tr><td style="padding:0 24px;font-family:Helvetica,Arial,sans-serif;font-size:14px;line-height:20px;color:#333333">We are getting your order ready. You will get another email when it ships.</td></tr>`+"\n", 21)
	return render.Source{
		Subject: "Order {{ data.orderId }} confirmed, {{ contact.firstName }}",
		HTML: `<!doctype html><html><head><meta charset="utf-8"><title>Order</title></head><body>
<table role="presentation" width="100%">
<tr><td><h1>Thanks, {{ contact.firstName | default: "there" }} {{ contact.lastName }}!</h1></td></tr>
<tr><td>Order {{ data.orderId }} placed on {{ data.orderDate }} for {{ contact.email }}.</td></tr>
` + filler + `{% for item in data.items %}<tr><td>{{ forloop.index }}. {{ item.name }}</td><td>{{ item.qty }} × {{ item.price }}</td></tr>
{% endfor %}<tr><td>Total {{ data.total }} {{ data.currency | upcase }}</td></tr>
<tr><td>Shipping with {{ contact.properties.plan }} delivery.</td></tr>
<tr><td><a href="{{ unsubscribeUrl }}">Unsubscribe</a></td></tr>
</table></body></html>`,
		Text: "Thanks {{ contact.firstName }}, order {{ data.orderId }}: {% for item in data.items %}{{ item.name }} {% endfor %}{{ unsubscribeUrl }}",
	}
}

func benchVars() render.Vars {
	items := make([]any, 5)
	for i := range items {
		items[i] = map[string]any{"name": "Widget <b>", "qty": i + 1, "price": "9.99"}
	}
	return render.Vars{
		Contact: map[string]any{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com", "properties": map[string]any{"plan": "express"}},
		Data: map[string]any{"orderId": "A-1001", "orderDate": "2025-01-02", "items": items, "total": "49.95",
			"currency": "eur"},
		UnsubscribeURL: "https://example.com/u/token",
	}
}

// BenchmarkRender renders a cached, compiled ~5 KB template for one recipient,
// as the send worker does.
func BenchmarkRender(b *testing.B) {
	e := render.NewEngine()
	src := benchSource()
	require.InDelta(b, 5000, len(src.HTML), 500)
	tpl, err := e.Cached("org/order/1", src)
	require.NoError(b, err)
	require.Len(b, tpl.Variables(), 10)
	v := benchVars()
	ctx := context.Background()
	b.SetBytes(int64(len(src.HTML)))
	b.ReportAllocs()
	for b.Loop() {
		tpl, err := e.Cached("org/order/1", src)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tpl.Render(ctx, v, render.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile parses the same template, as a cache miss does.
func BenchmarkCompile(b *testing.B) {
	e := render.NewEngine()
	src := benchSource()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Compile(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTMLToText converts the rendered ~5 KB email to text.
func BenchmarkHTMLToText(b *testing.B) {
	tpl, err := render.NewEngine().Compile(benchSource())
	require.NoError(b, err)
	out, err := tpl.Render(context.Background(), benchVars(), render.Options{})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		render.HTMLToText(out.HTML)
	}
}
