package render_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/render"
)

func TestVariables(t *testing.T) {
	cases := []struct {
		name string
		src  render.Source
		want []string
	}{
		{
			name: "a realistic order confirmation",
			src: render.Source{
				Subject: "Your order {{ data.orderId }} is on its way, {{ contact.firstName | default: 'friend' }}",
				HTML: `<h1>Thanks, {{ contact.firstName | capitalize }}!</h1>
{% assign total = data.total | times: 1.2 | round: 2 %}
{% if contact.properties.plan == "pro" and data.items.size > 0 %}<p>Pro member</p>{% elsif contact.tags contains "vip" %}<p>VIP</p>{% endif %}
<table>{% for item in data.items limit: data.maxItems %}
  <tr><td>{{ forloop.index }}. {{ item.name | escape }}</td><td>{{ item.price | money }}</td></tr>
{% else %}<tr><td>{{ data.emptyText }}</td></tr>{% endfor %}</table>
<p>Total {{ total }} {{ data.currency | upcase }} on {{ "now" | date: "%Y" }}</p>
{% capture greeting %}Hello {{ contact.lastName }}{% endcapture %}{{ greeting }}
{% case data.shipping.method %}{% when "express", data.fastest %}Fast{% else %}Slow{% endcase %}
{% comment %}{{ data.ignored }}{% endcomment %}{% raw %}{{ data.rawText }}{% endraw %}
<a href="{{ unsubscribeUrl }}">Unsubscribe</a>`,
				Text: "{{ contact.email }} {{ data['key'] }}",
			},
			want: []string{
				"contact.email", "contact.firstName", "contact.lastName", "contact.properties.plan", "contact.tags",
				"data", "data.currency", "data.emptyText", "data.fastest", "data.items", "data.maxItems",
				"data.orderId", "data.shipping.method", "data.total", "unsubscribeUrl",
			},
		},
		{
			name: "loop variables and assigns are not data; uses before an assign are",
			src:  render.Source{Subject: "{{ x }}", HTML: `{% assign x = 1 %}{{ x }}{% for p in data.products %}{% for v in p.variants %}{{ v.sku }}{% endfor %}{% endfor %}{{ p }}`},
			want: []string{"data.products", "p", "x"},
		},
		{
			name: "ranges, numbers and strings",
			src:  render.Source{Subject: "s", HTML: `{% for i in (1..data.count) %}{{ i | plus: 1.5 }}{{ "a.b c" }}{% cycle 'odd', "even" %}{% endfor %}{{ data.a | slice: 0, 2.5 }}`},
			want: []string{"data.a", "data.count"},
		},
		{
			name: "none",
			src:  render.Source{Subject: "Hello", HTML: "<p>Hello</p>"},
			want: []string{},
		},
	}
	e := render.NewEngine()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tpl, err := e.Compile(c.src)
			require.NoError(t, err)
			assert.Equal(t, c.want, tpl.Variables())
		})
	}
}
