package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTestCache returns an enabled cache on a fake clock.
func newTestCache(t testing.TB, maxSize int, ttl time.Duration) (*cache, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := newCache(cacheConfig{Enabled: true, MaxSize: maxSize, TTL: ttl}, clk.now)
	if c == nil {
		t.Fatal("newCache returned nil for an enabled config")
	}
	return c, clk
}

// cacheKeys returns the cache's keys from most to least recently used and
// checks the list and the map agree.
func cacheKeys(t testing.TB, c *cache) []string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []string
	for el := c.lru.Front(); el != nil; el = el.Next() {
		k := el.Value.(*cacheEntry).key
		if c.items[k] != el {
			t.Fatalf("list entry %q is not the map's element for it", k)
		}
		keys = append(keys, k)
	}
	if len(keys) != len(c.items) {
		t.Fatalf("list holds %d entries, map %d", len(keys), len(c.items))
	}
	return keys
}

func TestCacheLRU(t *testing.T) {
	tests := []struct {
		name          string
		ops           string // space-separated: +k puts k, ?k gets k
		want          []string
		wantEvictions uint64
	}{
		{"fills without evicting", "+a +b +c", []string{"c", "b", "a"}, 0},
		{"evicts least recently put", "+a +b +c +d", []string{"d", "c", "b"}, 1},
		{"get refreshes", "+a +b +c ?a +d", []string{"d", "a", "c"}, 1},
		{"put of an existing key refreshes", "+a +b +c +a +d", []string{"d", "a", "c"}, 1},
		{"miss does not refresh", "+a +b +c ?x +d", []string{"d", "c", "b"}, 1},
		{"size stays bounded", "+a +b +c +d +e +f +g", []string{"g", "f", "e"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, 3, time.Minute)
			for op := range strings.FieldsSeq(tt.ops) {
				switch key := op[1:]; op[0] {
				case '+':
					c.put(key, []byte(key))
				case '?':
					c.get(key)
				}
			}
			if got := cacheKeys(t, c); !slices.Equal(got, tt.want) {
				t.Errorf("after %q: keys = %q, want %q", tt.ops, got, tt.want)
			}
			if st := c.stats(); st.Evictions != tt.wantEvictions || st.Size != len(tt.want) {
				t.Errorf("after %q: stats() = %+v, want Size %d, Evictions %d", tt.ops, st, len(tt.want), tt.wantEvictions)
			}
		})
	}
}

func TestCachePutReplaces(t *testing.T) {
	c, clk := newTestCache(t, 2, time.Minute)
	c.put("k", []byte("old"))
	clk.advance(40 * time.Second)
	c.put("k", []byte("new"))
	clk.advance(30 * time.Second)
	v, age, ok := c.get("k")
	if !ok || string(v) != "new" || age != 30*time.Second {
		t.Errorf("get(%q) = %q, %v, %v, want %q, 30s, true (the replacement restarts the age)", "k", v, age, ok, "new")
	}
	if st := c.stats(); st.Size != 1 {
		t.Errorf("stats().Size = %d, want 1", st.Size)
	}
}

func TestCacheTTL(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		wantOK  bool
	}{
		{"fresh", 0, true},
		{"exactly TTL old is served", 5 * time.Minute, true},
		{"one nanosecond past TTL is not", 5*time.Minute + time.Nanosecond, false},
		{"clock stepped back", -time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, 10, 5*time.Minute)
			c.put("k", []byte("v"))
			clk.advance(tt.advance)
			v, age, ok := c.get("k")
			if ok != tt.wantOK {
				t.Fatalf("get(%q) after %v: ok = %v, want %v", "k", tt.advance, ok, tt.wantOK)
			}
			st := c.stats()
			if ok {
				if want := max(tt.advance, 0); string(v) != "v" || age != want {
					t.Errorf("get(%q) = %q, %v, want %q, %v", "k", v, age, "v", want)
				}
				if st.Hits != 1 || st.Misses != 0 || st.Size != 1 {
					t.Errorf("stats() = %+v, want 1 hit, 0 misses, size 1", st)
				}
				return
			}
			if v != nil || age != 0 {
				t.Errorf("get(%q) of a stale entry = %q, %v, want nil, 0", "k", v, age)
			}
			if st.Hits != 0 || st.Misses != 1 || st.Size != 0 || st.Evictions != 0 {
				t.Errorf("stats() = %+v, want the stale entry removed as a miss, not an eviction", st)
			}
		})
	}
}

func TestCacheInvalidatePrefix(t *testing.T) {
	keys := []string{"GET /tasks/T-1", "GET /tasks/T-12", "GET /tasks?status=new", "GET /projects/P-1"}
	tests := []struct {
		prefix string
		want   int
		left   []string
	}{
		{"GET /tasks/T-1", 2, []string{"GET /projects/P-1", "GET /tasks?status=new"}},
		{"GET /tasks", 3, []string{"GET /projects/P-1"}},
		{"GET /projects/", 1, []string{"GET /tasks/T-12", "GET /tasks/T-1", "GET /tasks?status=new"}},
		{"POST", 0, keys},
		{"", 4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			c, _ := newTestCache(t, 10, time.Minute)
			for _, k := range keys {
				c.put(k, []byte(k))
			}
			if got := c.invalidatePrefix(tt.prefix); got != tt.want {
				t.Errorf("invalidatePrefix(%q) = %d, want %d", tt.prefix, got, tt.want)
			}
			got := cacheKeys(t, c)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.left))
			if !slices.Equal(got, want) {
				t.Errorf("after invalidatePrefix(%q): keys = %q, want %q", tt.prefix, got, want)
			}
			for _, k := range tt.left {
				if _, _, ok := c.get(k); !ok {
					t.Errorf("get(%q) missed after invalidatePrefix(%q)", k, tt.prefix)
				}
			}
		})
	}
}

func TestCacheStats(t *testing.T) {
	c, _ := newTestCache(t, 2, time.Minute)
	c.get("a")           // miss
	c.put("a", nil)      //
	c.get("a")           // hit (a nil value is still a value)
	c.put("b", []byte{}) //
	c.put("c", []byte{}) // evicts a
	c.get("a")           // miss
	c.get("c")           // hit
	c.invalidatePrefix("b")
	want := cacheStats{Size: 1, Hits: 2, Misses: 2, Evictions: 1}
	if got := c.stats(); got != want {
		t.Errorf("stats() = %+v, want %+v", got, want)
	}
}

func TestCacheNil(t *testing.T) {
	tests := []struct {
		name string
		cfg  cacheConfig
	}{
		{"disabled", cacheConfig{Enabled: false, MaxSize: 10, TTL: time.Minute}},
		{"zero size", cacheConfig{Enabled: true, MaxSize: 0, TTL: time.Minute}},
		{"negative size", cacheConfig{Enabled: true, MaxSize: -1, TTL: time.Minute}},
		{"zero TTL", cacheConfig{Enabled: true, MaxSize: 10, TTL: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(tt.cfg, time.Now)
			if c != nil {
				t.Fatalf("newCache(%+v) = %p, want nil", tt.cfg, c)
			}
			c.put("k", []byte("v"))
			if v, age, ok := c.get("k"); ok || v != nil || age != 0 {
				t.Errorf("nil cache get(%q) = %q, %v, %v, want a miss", "k", v, age, ok)
			}
			if n := c.invalidatePrefix(""); n != 0 {
				t.Errorf("nil cache invalidatePrefix(%q) = %d, want 0", "", n)
			}
			if st := c.stats(); st != (cacheStats{}) {
				t.Errorf("nil cache stats() = %+v, want zero", st)
			}
		})
	}
}

// cacheModel is the obviously correct reference: a slice ordered from most
// to least recently used, searched linearly.
type cacheModel struct {
	max     int
	ttl     time.Duration
	entries []cacheEntry // front first
	stats   cacheStats
}

// find returns the index of key, or -1.
func (m *cacheModel) find(key string) int {
	return slices.IndexFunc(m.entries, func(e cacheEntry) bool { return e.key == key })
}

// get mirrors cache.get.
func (m *cacheModel) get(key string, now time.Time) ([]byte, time.Duration, bool) {
	i := m.find(key)
	if i < 0 {
		m.stats.Misses++
		return nil, 0, false
	}
	e := m.entries[i]
	m.entries = slices.Delete(m.entries, i, i+1)
	age := max(now.Sub(e.stored), 0)
	if age > m.ttl {
		m.stats.Misses++
		return nil, 0, false
	}
	m.entries = slices.Insert(m.entries, 0, e)
	m.stats.Hits++
	return e.value, age, true
}

// put mirrors cache.put.
func (m *cacheModel) put(key string, value []byte, now time.Time) {
	if i := m.find(key); i >= 0 {
		m.entries = slices.Delete(m.entries, i, i+1)
	} else if len(m.entries) >= m.max {
		m.entries = m.entries[:len(m.entries)-1]
		m.stats.Evictions++
	}
	m.entries = slices.Insert(m.entries, 0, cacheEntry{key: key, value: value, stored: now})
}

// invalidatePrefix mirrors cache.invalidatePrefix.
func (m *cacheModel) invalidatePrefix(prefix string) int {
	n := len(m.entries)
	m.entries = slices.DeleteFunc(m.entries, func(e cacheEntry) bool { return strings.HasPrefix(e.key, prefix) })
	return n - len(m.entries)
}

// TestCacheModel runs a seeded random sequence of operations against the
// cache and the reference model and requires identical answers.
func TestCacheModel(t *testing.T) {
	const (
		ops     = 20000
		maxSize = 16
		ttl     = time.Second
	)
	rng := rand.New(rand.NewPCG(1, 2))
	c, clk := newTestCache(t, maxSize, ttl)
	m := &cacheModel{max: maxSize, ttl: ttl}
	key := func() string { return fmt.Sprintf("k%d/%d", rng.IntN(4), rng.IntN(10)) } // 40 keys for 16 slots
	for i := range ops {
		switch r := rng.IntN(100); {
		case r < 10:
			clk.advance(time.Duration(rng.IntN(300)) * time.Millisecond)
		case r < 50:
			k, v := key(), []byte(strconv.Itoa(i))
			c.put(k, v)
			m.put(k, v, clk.now())
		case r < 97:
			k := key()
			gv, gage, gok := c.get(k)
			wv, wage, wok := m.get(k, clk.now())
			if gok != wok || !bytes.Equal(gv, wv) || gage != wage {
				t.Fatalf("op %d: get(%q) = %q, %v, %v, want %q, %v, %v", i, k, gv, gage, gok, wv, wage, wok)
			}
		default:
			p := fmt.Sprintf("k%d/", rng.IntN(4))
			if got, want := c.invalidatePrefix(p), m.invalidatePrefix(p); got != want {
				t.Fatalf("op %d: invalidatePrefix(%q) = %d, want %d", i, p, got, want)
			}
		}
		want := m.stats
		want.Size = len(m.entries)
		if got := c.stats(); got != want {
			t.Fatalf("op %d: stats() = %+v, want %+v", i, got, want)
		}
		if i%500 == 0 {
			var wantKeys []string
			for _, e := range m.entries {
				wantKeys = append(wantKeys, e.key)
			}
			if got := cacheKeys(t, c); !slices.Equal(got, wantKeys) {
				t.Fatalf("op %d: keys = %q, want %q", i, got, wantKeys)
			}
		}
	}
	if st := c.stats(); st.Hits == 0 || st.Misses == 0 || st.Evictions == 0 {
		t.Errorf("stats() = %+v: the sequence did not exercise hits, misses and evictions", st)
	}
}

// TestCacheConcurrent runs mixed operations from many goroutines (meant for
// -race) and checks the counters and structure stay consistent.
func TestCacheConcurrent(t *testing.T) {
	const (
		goroutines = 50
		iterations = 1000
		maxSize    = 32
	)
	c, clk := newTestCache(t, maxSize, 50*time.Millisecond)
	var wg sync.WaitGroup
	gets := make([]uint64, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range iterations {
				k := "k" + strconv.Itoa(rng.IntN(64))
				switch r := rng.IntN(100); {
				case r < 5:
					clk.advance(time.Millisecond)
				case r < 45:
					c.put(k, []byte(k))
				case r < 98:
					gets[g]++
					if v, _, ok := c.get(k); ok && string(v) != k {
						t.Errorf("get(%q) = %q, want %q (another key's value)", k, v, k)
						return
					}
				case r < 99:
					c.invalidatePrefix(k)
				default:
					if st := c.stats(); st.Size > maxSize {
						t.Errorf("iteration %d: stats().Size = %d > MaxSize %d", i, st.Size, maxSize)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	var total uint64
	for _, n := range gets {
		total += n
	}
	st := c.stats()
	if st.Hits+st.Misses != total {
		t.Errorf("hits+misses = %d, want %d gets", st.Hits+st.Misses, total)
	}
	if keys := cacheKeys(t, c); len(keys) != st.Size || st.Size > maxSize {
		t.Errorf("%d keys, stats().Size = %d, MaxSize %d", len(keys), st.Size, maxSize)
	}
}

func BenchmarkCacheGet(b *testing.B) {
	c := newCache(cacheConfig{Enabled: true, MaxSize: 1000, TTL: 5 * time.Minute}, time.Now)
	for i := range 1000 {
		c.put("GET /tasks/T-"+strconv.Itoa(i), []byte(`{"task":{}}`))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := c.get("GET /tasks/T-500"); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkCachePut(b *testing.B) {
	c := newCache(cacheConfig{Enabled: true, MaxSize: 1000, TTL: 5 * time.Minute}, time.Now)
	for i := range 1000 {
		c.put("GET /tasks/T-"+strconv.Itoa(i), []byte(`{"task":{}}`))
	}
	v := []byte(`{"task":{"id":"T-500"}}`)
	b.ReportAllocs()
	for b.Loop() {
		c.put("GET /tasks/T-500", v)
	}
}
