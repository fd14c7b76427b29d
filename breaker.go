package main

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// This file holds the circuit breaker that guards each backend operation.
// It knows nothing of HTTP or MCP: the caller asks allow() before a call,
// classifies the call's result itself and reports it with record().
//
// State machine:
//
//	closed ──(window holds ≥ VolumeThreshold calls and ≥ ErrorThreshold % failed)──▶ open
//	open ──(first allow() at least ResetTimeout after opening)──▶ half-open (that caller is the probe)
//	half-open ──(probe succeeds)──▶ closed, with an empty window
//	half-open ──(probe fails)──▶ open, for another full ResetTimeout
//	half-open ──(probe ignored)──▶ half-open, the next caller becomes the probe
//
// The old server's breaker called itself recursively and counted 4xx answers
// as failures (docs/tools.md, "Known defects"); here the breaker never calls
// anything, and what counts as a failure is decided by the caller alone.

// breakerBuckets is the number of time buckets the rolling window is cut
// into. Ten is Hystrix's default and keeps the window's edge error at one
// bucket: a call stops counting between 9/10 of Window and Window after it
// was recorded. The buckets are a fixed array, so rotating the window costs
// at most ten additions and never allocates.
const breakerBuckets = 10

// errBreakerOpen is matched by errors.Is on every rejection from allow(); the
// concrete error is a *breakerOpenError that says which circuit, since when
// and why.
var errBreakerOpen = errors.New("circuit open")

// breakerState is a circuit's state. Its numeric values are the values of the
// taskman_circuit_breaker_state gauge (docs/observability.md), so they must not be
// renumbered.
type breakerState int

// The three circuit states, numbered as the state gauge reports them.
const (
	breakerClosed   breakerState = 0 // calls flow and are counted
	breakerOpen     breakerState = 1 // calls are rejected at once
	breakerHalfOpen breakerState = 2 // one probe call is let through
)

// String returns the state's name as logs and health output show it.
func (s breakerState) String() string {
	switch s {
	case breakerClosed:
		return "closed"
	case breakerOpen:
		return "open"
	case breakerHalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("breakerState(%d)", int(s))
}

// breakerOutcome is how the caller classifies an admitted call. The caller
// decides: connection errors, timeouts, 5xx and 429 are failures; other 4xx
// answers mean the backend is healthy and are successes; a call the caller
// itself cancelled says nothing about the backend and is ignored.
type breakerOutcome int

// The three outcomes a caller may record. Any other value is treated as
// breakerIgnored.
const (
	breakerSuccess breakerOutcome = iota // the backend answered sensibly
	breakerFailure                       // the backend is unhealthy
	breakerIgnored                       // no information (caller cancelled)
)

// breakerTicket is what allow() hands out and record() takes back: the
// generation the call was admitted in and whether it is the half-open probe.
// It is a small value so admitting a call does not allocate.
type breakerTicket struct {
	gen   uint64 // breaker generation at admission; 0 is never a live generation
	probe bool   // this call is the single half-open probe
}

// breakerTransition is one state change waiting to be reported to onChange.
type breakerTransition struct {
	from, to breakerState
}

// breakerOpenError is the rejection allow() returns while the circuit is open
// or while a half-open probe is in flight. errors.Is(err, errBreakerOpen)
// holds for it; errors.As gives the details.
type breakerOpenError struct {
	Name     string       // the breaker's name, e.g. "GET /tasks/{id}"
	State    breakerState // breakerOpen, or breakerHalfOpen when rejected because a probe is in flight
	Since    time.Time    // when the circuit last opened
	Failures int          // failed calls in the window that opened it
	Total    int          // calls in the window that opened it
	Probe    bool         // the circuit reopened because its half-open probe failed (Failures and Total are then 1)
	Now      time.Time    // the breaker's clock at rejection; the age in Error() is Now-Since
}

// Error says what happened, e.g. "circuit open for GET /tasks/{id} since 12s
// after 7 of 10 calls failed". The age is rounded to whole seconds.
func (e *breakerOpenError) Error() string {
	age := max(e.Now.Sub(e.Since).Round(time.Second), 0)
	cause := fmt.Sprintf("%d of %d calls failed", e.Failures, e.Total)
	if e.Probe {
		cause = "the half-open probe failed"
	}
	msg := fmt.Sprintf("circuit open for %s since %s after %s", e.Name, age, cause)
	if e.State == breakerHalfOpen {
		msg += "; a probe call is in flight"
	}
	return msg
}

// Is reports whether target is errBreakerOpen, so callers need not know the
// concrete type.
func (e *breakerOpenError) Is(target error) bool {
	return target == errBreakerOpen
}

// breakerBucket counts the calls recorded during one Window/breakerBuckets
// slice of time.
type breakerBucket struct {
	failures, total int
}

// breakerSnapshot is a consistent copy of a breaker's state for metrics and
// health checks.
type breakerSnapshot struct {
	Name  string
	State breakerState
	Since time.Time // when the breaker entered State
	// Failures and Total are, when closed, the failed and all calls in the
	// rolling window; when open or half-open, the counts that opened it
	// (1 and 1 when a failed probe reopened it).
	Failures, Total int
}

// breaker is a circuit breaker for one backend operation. All methods are
// safe for concurrent use and never block on anything but a short mutex.
// A nil *breaker is a pass-through: allow always admits, record does
// nothing, snapshot reports closed. That is how CIRCUIT_BREAKER_ENABLED=false
// works.
//
// Contract: every ticket allow() returns must be given to record() exactly
// once, with breakerIgnored if the outcome says nothing about the backend.
// A half-open probe whose ticket is never recorded is presumed lost after
// ResetTimeout, and the next caller becomes the probe.
type breaker struct {
	name      string
	threshold int           // ErrorThreshold, percent
	volume    int           // VolumeThreshold, calls
	reset     time.Duration // ResetTimeout
	width     time.Duration // bucket width, Window/breakerBuckets
	now       func() time.Time
	onChange  func(name string, from, to breakerState)
	origin    time.Time // start of bucket epoch 0

	mu           sync.Mutex   // guards every field below
	state        breakerState // current state
	gen          uint64       // bumped on every state change and when a lost probe is replaced
	since        time.Time    // when state was entered
	openedAt     time.Time    // when the circuit last opened
	tripFailures int          // failed calls that opened it
	tripTotal    int          // calls that opened it
	tripProbe    bool         // a failed probe opened it
	probing      bool         // a half-open probe is in flight
	probeStart   time.Time    // when the current probe was admitted

	buckets         [breakerBuckets]breakerBucket // ring indexed by epoch % breakerBuckets
	epoch           int64                         // the newest bucket's epoch
	failures, total int                           // sums over buckets

	pending    []breakerTransition // changes not yet reported to onChange
	delivering bool                // some goroutine is running onChange for pending
}

// newBreaker returns a breaker named name (the operation, e.g.
// "GET /tasks/{id}"), or nil (a pass-through) when cfg.Enabled is false.
//
// The circuit opens when, after a call is recorded, the rolling window holds
// at least cfg.VolumeThreshold calls and the failed ones are AT OR ABOVE
// cfg.ErrorThreshold percent of them (failures*100 >= ErrorThreshold*total).
// "At or above" is Hystrix's rule, and it is the only reading under which
// the allowed maximum ErrorThreshold=100 can ever open the circuit. A window
// without failures never opens it.
//
// now is the clock (time.Now in production, a fake in tests). onChange, if
// not nil, is called once per state change, outside the breaker's lock (it
// may call snapshot, allow or record), in the order the changes happened and
// never concurrently for one breaker: changes are queued under the lock and
// one goroutine at a time drains the queue. The goroutine that caused a change
// may therefore return before the hook runs, when another goroutine is
// already delivering. onChange must not panic.
//
// config.go validates the settings; the guards here only keep the arithmetic
// defined (a Window shorter than breakerBuckets nanoseconds gets 1 ns
// buckets).
func newBreaker(name string, cfg breakerConfig, now func() time.Time, onChange func(name string, from, to breakerState)) *breaker {
	if !cfg.Enabled {
		return nil
	}
	t := now()
	return &breaker{
		name:      name,
		threshold: cfg.ErrorThreshold,
		volume:    cfg.VolumeThreshold,
		reset:     cfg.ResetTimeout,
		width:     max(cfg.Window/breakerBuckets, 1),
		now:       now,
		onChange:  onChange,
		origin:    t,
		gen:       1,
		since:     t,
	}
}

// allow admits a call or rejects it with a *breakerOpenError (matching
// errBreakerOpen). Closed: every call is admitted. Open: calls are rejected
// at once until ResetTimeout has passed since opening; the first caller after
// that moves the circuit to half-open and is admitted as the probe (the
// change is detected here, lazily: there are no timers). Half-open: callers
// are rejected, not queued, while the probe runs.
func (b *breaker) allow() (breakerTicket, error) {
	if b == nil {
		return breakerTicket{}, nil
	}
	b.mu.Lock()
	if b.state == breakerClosed {
		t := breakerTicket{gen: b.gen}
		b.mu.Unlock()
		return t, nil
	}
	now := b.now()
	switch b.state {
	case breakerOpen:
		if now.Sub(b.openedAt) >= b.reset {
			b.setState(breakerHalfOpen, now)
			return b.admitProbe(now), nil
		}
	case breakerHalfOpen:
		if !b.probing {
			return b.admitProbe(now), nil
		}
		if now.Sub(b.probeStart) >= b.reset {
			// The probe's ticket was never recorded: presume it lost so the
			// circuit cannot stay half-open forever, and start a generation
			// so its result, should it arrive, is ignored.
			b.gen++
			return b.admitProbe(now), nil
		}
	}
	err := &breakerOpenError{
		Name:     b.name,
		State:    b.state,
		Since:    b.openedAt,
		Failures: b.tripFailures,
		Total:    b.tripTotal,
		Probe:    b.tripProbe,
		Now:      now,
	}
	b.mu.Unlock()
	return breakerTicket{}, err
}

// admitProbe marks a probe in flight, releases the lock (reporting any
// pending change) and returns the probe's ticket. b.mu must be held.
func (b *breaker) admitProbe(now time.Time) breakerTicket {
	b.probing = true
	b.probeStart = now
	t := breakerTicket{gen: b.gen, probe: true}
	b.unlockAndNotify()
	return t
}

// record reports the outcome of a call admitted with t. A ticket from an
// older generation (admitted before the latest state change) is ignored, so
// a slow call from before a trip can neither close a freshly opened circuit
// nor count in a new window. Closed: successes and failures are counted in
// the window and may open the circuit. Half-open: the probe's success closes
// it with an empty window, its failure reopens it for another full
// ResetTimeout, and an ignored probe frees the slot for the next caller.
func (b *breaker) record(t breakerTicket, o breakerOutcome) {
	if b == nil {
		return
	}
	b.mu.Lock()
	if t.gen != b.gen || (o != breakerSuccess && o != breakerFailure && !t.probe) {
		b.mu.Unlock()
		return
	}
	switch b.state {
	case breakerClosed:
		now := b.now()
		b.rotate(now)
		bk := &b.buckets[b.epoch%breakerBuckets]
		bk.total++
		b.total++
		if o == breakerFailure {
			bk.failures++
			b.failures++
		}
		if b.total >= b.volume && b.failures > 0 && b.failures*100 >= b.threshold*b.total {
			b.open(now, b.failures, b.total, false)
		}
	case breakerHalfOpen:
		// Only the probe holds a ticket of a half-open generation.
		switch o {
		case breakerSuccess:
			now := b.now()
			b.setState(breakerClosed, now)
			b.rotate(now)
			b.buckets = [breakerBuckets]breakerBucket{}
			b.failures, b.total = 0, 0
		case breakerFailure:
			b.open(b.now(), 1, 1, true)
		default:
			b.probing = false
		}
	}
	// breakerOpen: no ticket is ever issued in an open generation.
	b.unlockAndNotify()
}

// open moves the circuit to open and remembers why, for the rejection
// errors. b.mu must be held.
func (b *breaker) open(now time.Time, failures, total int, probe bool) {
	b.setState(breakerOpen, now)
	b.openedAt = now
	b.tripFailures, b.tripTotal, b.tripProbe = failures, total, probe
}

// setState changes the state, starts a new generation and queues the change
// for onChange. b.mu must be held; unlockAndNotify delivers the queue.
func (b *breaker) setState(to breakerState, now time.Time) {
	from := b.state
	b.state = to
	b.gen++
	b.since = now
	b.probing = false
	if b.onChange != nil {
		b.pending = append(b.pending, breakerTransition{from: from, to: to})
	}
}

// unlockAndNotify releases b.mu and, unless another goroutine is already
// doing so, calls onChange for every queued change in order, without the
// lock held, until the queue is empty. b.mu must be held.
func (b *breaker) unlockAndNotify() {
	if len(b.pending) == 0 || b.delivering {
		b.mu.Unlock()
		return
	}
	b.delivering = true
	for len(b.pending) > 0 {
		batch := b.pending
		b.pending = nil
		b.mu.Unlock()
		for _, tr := range batch {
			b.onChange(b.name, tr.from, tr.to)
		}
		b.mu.Lock()
	}
	b.delivering = false
	b.mu.Unlock()
}

// rotate advances the window to the bucket holding now, emptying the buckets
// that fell out of it. A clock that stepped backwards (a fake one; time.Now
// is monotonic) keeps counting into the newest bucket. b.mu must be held.
func (b *breaker) rotate(now time.Time) {
	e := int64(now.Sub(b.origin) / b.width)
	if e <= b.epoch {
		return
	}
	if e-b.epoch >= breakerBuckets {
		b.buckets = [breakerBuckets]breakerBucket{}
		b.failures, b.total = 0, 0
	} else {
		for i := b.epoch + 1; i <= e; i++ {
			bk := &b.buckets[i%breakerBuckets]
			b.failures -= bk.failures
			b.total -= bk.total
			*bk = breakerBucket{}
		}
	}
	b.epoch = e
}

// snapshot returns the breaker's current state. It never changes the state:
// an open circuit whose ResetTimeout has passed still reports open until the
// next allow() makes it half-open. A nil breaker reports closed.
func (b *breaker) snapshot() breakerSnapshot {
	if b == nil {
		return breakerSnapshot{State: breakerClosed}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := breakerSnapshot{Name: b.name, State: b.state, Since: b.since}
	if b.state == breakerClosed {
		b.rotate(b.now())
		s.Failures, s.Total = b.failures, b.total
	} else {
		s.Failures, s.Total = b.tripFailures, b.tripTotal
	}
	return s
}

// breakers is the set of breakers, one per backend operation, created up
// front so the hot path only reads a map that never changes. A nil
// *breakers (CIRCUIT_BREAKER_ENABLED=false) hands out nil breakers, i.e.
// pass-throughs.
type breakers struct {
	byName map[string]*breaker // read-only after newBreakers
	order  []*breaker          // names' order, for stable snapshots
}

// newBreakers builds one breaker per distinct name, all with cfg, the clock
// now and the hook onChange (see newBreaker; hooks of different breakers may
// run concurrently). It returns nil when cfg.Enabled is false.
func newBreakers(names []string, cfg breakerConfig, now func() time.Time, onChange func(name string, from, to breakerState)) *breakers {
	if !cfg.Enabled {
		return nil
	}
	bs := &breakers{byName: make(map[string]*breaker, len(names))}
	for _, n := range names {
		if _, dup := bs.byName[n]; dup {
			continue
		}
		b := newBreaker(n, cfg, now, onChange)
		bs.byName[n] = b
		bs.order = append(bs.order, b)
	}
	return bs
}

// get returns the breaker for the operation name. An unknown name, or a nil
// set, yields nil: a pass-through, so a call the set was not built for is
// never blocked (the set's names come from the backend's operation table, so
// this is a programming error that fails open).
func (bs *breakers) get(name string) *breaker {
	if bs == nil {
		return nil
	}
	return bs.byName[name]
}

// snapshots returns every breaker's snapshot in the order newBreakers was
// given the names; nil for a nil set.
func (bs *breakers) snapshots() []breakerSnapshot {
	if bs == nil {
		return nil
	}
	out := make([]breakerSnapshot, 0, len(bs.order))
	for _, b := range bs.order {
		out = append(out, b.snapshot())
	}
	return out
}
