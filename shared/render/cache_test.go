package render

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCachedCompilesAKeyOnce(t *testing.T) {
	e := NewEngine()
	src := Source{Subject: "Hi {{ contact.firstName }}", HTML: "<p>x</p>"}

	first, err := e.Cached("org/welcome/1", src)
	require.NoError(t, err)
	second, err := e.Cached("org/welcome/1", src)
	require.NoError(t, err)
	assert.Same(t, first, second)
	assert.Equal(t, int64(1), e.compiles.Load(), "a cached key does not parse again")

	changed := Source{Subject: "Hello", HTML: "<p>y</p>"}
	third, err := e.Cached("org/welcome/1", changed)
	require.NoError(t, err)
	assert.NotSame(t, first, third, "a key whose sources changed is compiled again")
	assert.Equal(t, int64(2), e.compiles.Load())

	_, err = e.Cached("org/broken/1", Source{Subject: "{% if %}"})
	require.Error(t, err)
	_, err = e.Cached("org/broken/1", Source{Subject: "{% if %}"})
	require.Error(t, err)
	assert.Equal(t, int64(4), e.compiles.Load(), "errors are not cached")
	assert.Equal(t, 1, e.cache.len())
}

func TestCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	c := newLRU(2, 1<<20)
	tpl := &Template{}
	src := func(i int) Source { return Source{Subject: fmt.Sprint(i)} }
	c.put("a", src(1), tpl)
	c.put("b", src(2), tpl)
	_, ok := c.get("a", src(1)) // a is now the most recent
	require.True(t, ok)
	c.put("c", src(3), tpl)

	assert.Equal(t, 2, c.len())
	_, ok = c.get("b", src(2))
	assert.False(t, ok, "b was the least recently used")
	_, ok = c.get("a", src(1))
	assert.True(t, ok)
	_, ok = c.get("c", src(3))
	assert.True(t, ok)
}

func TestCacheIsBoundedInBytes(t *testing.T) {
	c := newLRU(100, 10)
	tpl := &Template{}
	c.put("a", Source{HTML: "123456"}, tpl)
	c.put("b", Source{HTML: "123456"}, tpl)
	assert.Equal(t, 1, c.len())
	assert.Equal(t, 6, c.bytes)
	_, ok := c.get("b", Source{HTML: "123456"})
	assert.True(t, ok)

	c.put("huge", Source{HTML: "12345678901234567890"}, tpl)
	assert.Equal(t, 1, c.len(), "one entry larger than the bound is kept alone")
}

func TestEngineCacheHoldsAtMostItsBound(t *testing.T) {
	e := NewEngine()
	for i := range maxCacheEntries + 10 {
		_, err := e.Cached(fmt.Sprint("org/t/", i), Source{Subject: "s", HTML: "x"})
		require.NoError(t, err)
	}
	assert.Equal(t, maxCacheEntries, e.cache.len())
}
