package validate

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIdentifier(t *testing.T) {
	cases := []struct {
		s     string
		max   int
		extra string
		want  bool
	}{
		{"plan_2", 64, "", true},
		{"", 64, "", false},
		{strings.Repeat("a", 64), 64, "", true},
		{strings.Repeat("a", 65), 64, "", false},
		{"order.completed", 100, ".:-", true},
		{"order.completed", 64, "", false},
		{"a b", 64, "", false},
		{"café", 64, "", false},
		{"x-y:z", 100, ".:-", true},
		{"x/y", 100, ".:-", false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Identifier(c.s, c.max, c.extra), "%q", c.s)
	}
}

func TestTemplateID(t *testing.T) {
	for id, ok := range map[string]bool{
		"welcome-email": true, "a": true, "0_x": true, strings.Repeat("a", 64): true,
		"": false, "-a": false, "_a": false, "Welcome": false, "a b": false, "a.b": false, strings.Repeat("a", 65): false,
	} {
		assert.Equal(t, ok, TemplateID(id), "%q", id)
	}
}
