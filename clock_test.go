package main

import (
	"sync"
	"time"
)

// fakeClock is a manually advanced clock, safe for concurrent use; the
// breaker, cache and health tests inject its now method.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

// now returns the clock's current time.
func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// advance moves the clock by d.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
