package main

import (
	"container/list"
	"strings"
	"sync"
	"time"
)

// This file holds the fallback cache: the last good answer of each read,
// served (marked stale) when the backend fails or its circuit is open. It
// knows nothing of HTTP or MCP; keys and values are opaque to it. The old
// server kept "the last call's arguments" in one shared variable, cached
// answers under other calls' keys and never invalidated on writes
// (docs/tools.md, "Known defects"); here the key travels with each call and
// writes call invalidatePrefix.

// cacheEntry is one cached value and when it was stored.
type cacheEntry struct {
	key    string    // the map key, needed to delete the entry when it is evicted
	value  []byte    // shared with the caller; never modified
	stored time.Time // when put stored value; its age is measured from here
}

// cacheStats is a copy of the cache's size and cumulative counters, for the
// taskman_cache_* metrics.
type cacheStats struct {
	Size      int    // entries held now
	Hits      uint64 // gets that returned a value
	Misses    uint64 // gets that did not, including those that found a stale entry
	Evictions uint64 // entries dropped to stay within MaxSize (not expiries or invalidations)
}

// cache is a size-bounded LRU cache whose entries are never served older
// than TTL. It is safe for concurrent use (one mutex; every operation is
// O(1) except invalidatePrefix) and runs no goroutine: stale entries are
// removed when a get finds them, or pushed out by newer ones.
//
// A nil *cache (FALLBACK_CACHE_ENABLED=false) misses every get and ignores
// every put.
//
// Values are stored and returned without copying (the caller stores the raw
// response body, which can be large): neither the caller of put nor the
// caller of get may modify the slice afterwards.
type cache struct {
	maxSize int              // FALLBACK_CACHE_MAX_SIZE, > 0
	ttl     time.Duration    // FALLBACK_CACHE_TTL_MS, > 0
	now     func() time.Time // the clock; a fake in tests

	mu        sync.Mutex               // guards every field below
	lru       *list.List               // *cacheEntry values; front is the most recently used
	items     map[string]*list.Element // key → its element in lru
	hits      uint64                   // see cacheStats
	misses    uint64                   // see cacheStats
	evictions uint64                   // see cacheStats
}

// newCache returns an empty cache holding at most cfg.MaxSize entries, each
// served for at most cfg.TTL after it was stored, measured with now. It
// returns nil (a cache that always misses) when cfg.Enabled is false or
// when MaxSize or TTL is not positive, since such a cache could never serve
// anything.
func newCache(cfg cacheConfig, now func() time.Time) *cache {
	if !cfg.Enabled || cfg.MaxSize <= 0 || cfg.TTL <= 0 {
		return nil
	}
	return &cache{
		maxSize: cfg.MaxSize,
		ttl:     cfg.TTL,
		now:     now,
		lru:     list.New(),
		items:   make(map[string]*list.Element, cfg.MaxSize),
	}
}

// get returns the value stored under key and its age. An entry older than
// TTL (age > TTL) is never served: it is removed and counted as a miss. A
// hit makes the entry the most recently used. The returned slice must not
// be modified.
func (c *cache) get(key string) (value []byte, age time.Duration, ok bool) {
	if c == nil {
		return nil, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.items[key]
	if !found {
		c.misses++
		return nil, 0, false
	}
	e := el.Value.(*cacheEntry)
	// max: a clock that stepped backwards (only a fake can) yields age 0.
	age = max(c.now().Sub(e.stored), 0)
	if age > c.ttl {
		c.lru.Remove(el)
		delete(c.items, key)
		c.misses++
		return nil, 0, false
	}
	c.lru.MoveToFront(el)
	c.hits++
	return e.value, age, true
}

// put stores value under key, stamped with the current time, as the most
// recently used entry, and evicts the least recently used entry if the cache
// would otherwise exceed MaxSize. Replacing a key, and evicting to make
// room, reuse the existing list element, so neither allocates. The cache
// keeps value as is: the caller must not modify it afterwards.
func (c *cache) put(key string, value []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if el, found := c.items[key]; found {
		e := el.Value.(*cacheEntry)
		e.value, e.stored = value, now
		c.lru.MoveToFront(el)
		return
	}
	if c.lru.Len() >= c.maxSize {
		el := c.lru.Back()
		e := el.Value.(*cacheEntry)
		delete(c.items, e.key)
		c.evictions++
		e.key, e.value, e.stored = key, value, now
		c.lru.MoveToFront(el)
		c.items[key] = el
		return
	}
	c.items[key] = c.lru.PushFront(&cacheEntry{key: key, value: value, stored: now})
}

// invalidatePrefix removes every entry whose key starts with prefix (all of
// them for "") and returns how many it removed; a write calls it so no
// stale copy of what it changed is served. It scans every key: O(MaxSize)
// under the lock, a few microseconds at the default 1000 entries, paid only
// by writes. A sorted index would make it O(log n + k) but would cost every
// put a sorted insert; not worth it at this size.
func (c *cache) invalidatePrefix(prefix string) int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for key, el := range c.items {
		if strings.HasPrefix(key, prefix) {
			c.lru.Remove(el)
			delete(c.items, key)
			n++
		}
	}
	return n
}

// stats returns the current size and the cumulative counters; zero for a
// nil cache.
func (c *cache) stats() cacheStats {
	if c == nil {
		return cacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return cacheStats{Size: c.lru.Len(), Hits: c.hits, Misses: c.misses, Evictions: c.evictions}
}
