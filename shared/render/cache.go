package render

import (
	"container/list"
	"sync"
)

// The cache's bounds: entries, and bytes of source (a parsed template holds
// about its source's size again).
const (
	maxCacheEntries = 1000
	maxCacheBytes   = 64 << 20
)

// lru is a least-recently-used cache of compiled templates by key, bounded in
// entries and in source bytes, safe for concurrent use.
type lru struct {
	mu         sync.Mutex
	maxEntries int
	maxBytes   int
	bytes      int
	order      *list.List // front: most recently used; values are *cacheEntry
	byKey      map[string]*list.Element
}

type cacheEntry struct {
	key string
	src Source
	t   *Template
}

func (e *cacheEntry) size() int { return len(e.src.Subject) + len(e.src.HTML) + len(e.src.Text) }

func newLRU(maxEntries, maxBytes int) *lru {
	return &lru{maxEntries: maxEntries, maxBytes: maxBytes, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the template cached under key if it was compiled from src.
func (c *lru) get(key string, src Source) (*Template, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if e.src != src {
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.t, true
}

// put caches t under key, replacing what was there, and evicts the least
// recently used entries beyond the bounds.
func (c *lru) put(key string, src Source, t *Template) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
	e := &cacheEntry{key: key, src: src, t: t}
	c.byKey[key] = c.order.PushFront(e)
	c.bytes += e.size()
	for c.order.Len() > 1 && (c.order.Len() > c.maxEntries || c.bytes > c.maxBytes) {
		c.remove(c.order.Back())
	}
}

func (c *lru) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.order.Remove(el)
	delete(c.byKey, e.key)
	c.bytes -= e.size()
}

// len is the number of cached templates.
func (c *lru) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
