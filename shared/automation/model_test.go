package automation

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The canonical form sorts keys at every level, drops top-level and step-level nulls and
// "migrate", keeps numbers as written and <, > and & as they are: bodies
// that mean the same hash the same.
func TestCanonicalise(t *testing.T) {
	a, err := canonicalise(json.RawMessage(`{"name": "A & <b>", "steps": [{"type": "exit", "id": "x"}], "n": 1.50, "exitWhen": null, "migrate": true}`))
	require.NoError(t, err)
	assert.True(t, a.migrate)
	assert.Equal(t, `{"n":1.50,"name":"A & <b>","steps":[{"id":"x","type":"exit"}]}`, string(a.canonical))

	b, err := canonicalise(json.RawMessage("{\n\"steps\":[{\"id\":\"x\",\"type\":\"exit\"}],\"n\":1.50,\"name\":\"A & <b>\",\"migrate\":null}"))
	require.NoError(t, err)
	assert.False(t, b.migrate)
	assert.Equal(t, a.hash, b.hash)
	assert.Len(t, a.hash, 64)

	c, err := canonicalise(json.RawMessage(`{"name": "A & <b>", "steps": [{"type": "exit", "id": "y"}], "n": 1.50}`))
	require.NoError(t, err)
	assert.NotEqual(t, a.hash, c.hash)

	// A step's null fields are absent ones; a null inside an update's set is a value.
	e, err := canonicalise(json.RawMessage(`{"name": "A & <b>", "steps": [{"type": "exit", "id": "x", "next": null}], "n": 1.50}`))
	require.NoError(t, err)
	assert.Equal(t, a.hash, e.hash)
	f, err := canonicalise(json.RawMessage(`{"steps": [{"id": "u", "type": "update", "set": {"plan": null}, "from": null}]}`))
	require.NoError(t, err)
	assert.Equal(t, `{"steps":[{"id":"u","set":{"plan":null},"type":"update"}]}`, string(f.canonical))

	_, err = canonicalise(json.RawMessage(`{"name": "x", "migrate": "yes"}`))
	assert.ErrorContains(t, err, "'migrate'")

	// Not an object: left to sequence.Parse to refuse.
	d, err := canonicalise(json.RawMessage(`[1]`))
	require.NoError(t, err)
	assert.Equal(t, `[1]`, string(d.canonical))
	assert.Empty(t, d.hash)
}
