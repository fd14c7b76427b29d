package main

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// breakerTestConfig is the documented default configuration.
func breakerTestConfig() breakerConfig {
	return breakerConfig{
		Enabled:         true,
		ErrorThreshold:  50,
		ResetTimeout:    30 * time.Second,
		VolumeThreshold: 10,
		Window:          10 * time.Second,
	}
}

// breakerTransitionLog records onChange calls.
type breakerTransitionLog struct {
	mu  sync.Mutex // guards got
	got []breakerTransition
}

// hook is an onChange function that appends to the log.
func (l *breakerTransitionLog) hook(_ string, from, to breakerState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, breakerTransition{from: from, to: to})
}

// list returns a copy of the recorded transitions.
func (l *breakerTransitionLog) list() []breakerTransition {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// breakerTestVolume is breakerTestConfig with a volume threshold of n
// calls.
func breakerTestVolume(n int) breakerConfig {
	cfg := breakerTestConfig()
	cfg.VolumeThreshold = n
	return cfg
}

// breakerWantState reports an error unless b is in state want after the
// step when describes.
func breakerWantState(t *testing.T, b *breaker, when string, want breakerState) {
	t.Helper()
	if got := b.snapshot().State; got != want {
		t.Errorf("%s: state = %v, want %v", when, got, want)
	}
}

// newTestBreaker returns a breaker named "GET /tasks/{id}" on a fake clock,
// with its transitions logged.
func newTestBreaker(t *testing.T, cfg breakerConfig) (*breaker, *fakeClock, *breakerTransitionLog) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	log := &breakerTransitionLog{}
	b := newBreaker("GET /tasks/{id}", cfg, clk.now, log.hook)
	if b == nil {
		t.Fatal("newBreaker returned nil for an enabled config")
	}
	return b, clk, log
}

// breakerCall runs one admitted call with outcome o; the call must be admitted.
func breakerCall(t *testing.T, b *breaker, o breakerOutcome) {
	t.Helper()
	tk, err := b.allow()
	if err != nil {
		t.Fatalf("allow() = %v, want admitted", err)
	}
	b.record(tk, o)
}

// breakerOutcomes returns n copies of o.
func breakerOutcomes(n int, o breakerOutcome) []breakerOutcome {
	return slices.Repeat([]breakerOutcome{o}, n)
}

// breakerTrip opens b with failures of total calls (failures last, so it
// opens on the final call).
func breakerTrip(t *testing.T, b *breaker, failures, total int) {
	t.Helper()
	for range total - failures {
		breakerCall(t, b, breakerSuccess)
	}
	for range failures {
		breakerCall(t, b, breakerFailure)
	}
	if s := b.snapshot(); s.State != breakerOpen {
		t.Fatalf("after %d of %d failures: state = %v, want open", failures, total, s.State)
	}
}

func TestBreakerStateString(t *testing.T) {
	tests := []struct {
		s    breakerState
		want string
	}{
		{breakerClosed, "closed"},
		{breakerOpen, "open"},
		{breakerHalfOpen, "half-open"},
		{breakerState(7), "breakerState(7)"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("breakerState(%d).String() = %q, want %q", int(tt.s), got, tt.want)
		}
	}
	// The numbers are the state gauge's values (docs/observability.md).
	if breakerClosed != 0 || breakerOpen != 1 || breakerHalfOpen != 2 {
		t.Errorf("state values = %d, %d, %d, want 0, 1, 2", breakerClosed, breakerOpen, breakerHalfOpen)
	}
}

// TestBreakerThreshold checks when a closed circuit opens: after which call,
// if any, of a sequence recorded at one instant.
func TestBreakerThreshold(t *testing.T) {
	s, f, ig := breakerSuccess, breakerFailure, breakerIgnored
	tests := []struct {
		name      string
		threshold int
		volume    int
		calls     []breakerOutcome
		openAt    int // 1-based call after which it must be open; 0 = never
	}{
		{"exactly at 50% of 100", 50, 10, slices.Concat(breakerOutcomes(50, s), breakerOutcomes(50, f)), 100},
		{"just below 50% (49 of 100)", 50, 10, slices.Concat(breakerOutcomes(51, s), breakerOutcomes(49, f)), 0},
		{"exactly at 50% of 10, failures first", 50, 10, slices.Concat(breakerOutcomes(5, f), breakerOutcomes(5, s)), 10},
		{"just below 50% of 10", 50, 10, slices.Concat(breakerOutcomes(6, s), breakerOutcomes(4, f)), 0},
		{"threshold 100 opens when all fail", 100, 10, breakerOutcomes(10, f), 10},
		{"threshold 100, one success", 100, 10, slices.Concat(breakerOutcomes(9, f), []breakerOutcome{s}), 0},
		{"volume not reached", 50, 10, breakerOutcomes(9, f), 0},
		{"success reaching volume opens", 50, 10, slices.Concat(breakerOutcomes(9, f), []breakerOutcome{s}), 10},
		{"volume 1 opens on first failure", 50, 1, []breakerOutcome{f}, 1},
		{"ignored outcomes not counted", 50, 10, slices.Concat(breakerOutcomes(9, f), breakerOutcomes(20, ig)), 0},
		{"all successes never open", 1, 1, breakerOutcomes(20, s), 0},
		{"unknown outcome treated as ignored", 50, 1, []breakerOutcome{breakerOutcome(9)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := breakerTestConfig()
			cfg.ErrorThreshold, cfg.VolumeThreshold = tt.threshold, tt.volume
			b, _, _ := newTestBreaker(t, cfg)
			for i, o := range tt.calls {
				breakerCall(t, b, o)
				want := breakerClosed
				if tt.openAt != 0 && i+1 >= tt.openAt {
					want = breakerOpen
				}
				if got := b.snapshot().State; got != want {
					t.Fatalf("after call %d: state = %v, want %v", i+1, got, want)
				}
				if want == breakerOpen {
					break
				}
			}
		})
	}
}

// TestBreakerWindow checks that calls roll out of the window with time.
func TestBreakerWindow(t *testing.T) {
	type step struct {
		advance time.Duration
		n       int
		o       breakerOutcome
	}
	tests := []struct {
		name         string
		steps        []step
		want         breakerState
		wantFailures int // in the final snapshot
		wantTotal    int
	}{
		{
			name:  "failures just inside the window count",
			steps: []step{{0, 9, breakerFailure}, {9900 * time.Millisecond, 1, breakerFailure}},
			want:  breakerOpen, wantFailures: 10, wantTotal: 10,
		},
		{
			name:  "failures one window old rolled out",
			steps: []step{{0, 9, breakerFailure}, {10 * time.Second, 1, breakerFailure}},
			want:  breakerClosed, wantFailures: 1, wantTotal: 1,
		},
		{
			name: "only the oldest bucket rolled out",
			steps: []step{
				{0, 5, breakerFailure},
				{5 * time.Second, 4, breakerSuccess},
				{5 * time.Second, 1, breakerFailure},
			},
			want: breakerClosed, wantFailures: 1, wantTotal: 5,
		},
		{
			name:  "long idle empties the window",
			steps: []step{{0, 9, breakerFailure}, {time.Hour, 0, breakerFailure}},
			want:  breakerClosed, wantFailures: 0, wantTotal: 0,
		},
		{
			name:  "clock stepping back counts in the newest bucket",
			steps: []step{{5 * time.Second, 5, breakerFailure}, {-3 * time.Second, 5, breakerFailure}},
			want:  breakerOpen, wantFailures: 10, wantTotal: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := newTestBreaker(t, breakerTestConfig())
			for _, st := range tt.steps {
				clk.advance(st.advance)
				for range st.n {
					breakerCall(t, b, st.o)
				}
			}
			s := b.snapshot()
			if s.State != tt.want || s.Failures != tt.wantFailures || s.Total != tt.wantTotal {
				t.Errorf("snapshot() = %v %d/%d, want %v %d/%d", s.State, s.Failures, s.Total, tt.want, tt.wantFailures, tt.wantTotal)
			}
		})
	}
}

func TestBreakerOpenRejects(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration
		want  string
	}{
		{"12.4s rounds down", 12400 * time.Millisecond, "circuit open for GET /tasks/{id} since 12s after 7 of 10 calls failed"},
		{"12.5s rounds up", 12500 * time.Millisecond, "circuit open for GET /tasks/{id} since 13s after 7 of 10 calls failed"},
		{"at once", 0, "circuit open for GET /tasks/{id} since 0s after 7 of 10 calls failed"},
		{"just before reset", 30*time.Second - time.Nanosecond, "circuit open for GET /tasks/{id} since 30s after 7 of 10 calls failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := newTestBreaker(t, breakerTestConfig())
			breakerTrip(t, b, 7, 10)
			openedAt := clk.now()
			clk.advance(tt.after)
			tk, err := b.allow()
			if !errors.Is(err, errBreakerOpen) {
				t.Fatalf("allow() = %v, want errBreakerOpen", err)
			}
			if tk != (breakerTicket{}) {
				t.Errorf("allow() ticket = %+v on rejection, want zero", tk)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("allow() error = %q, want %q", got, tt.want)
			}
			var oe *breakerOpenError
			if !errors.As(err, &oe) {
				t.Fatalf("allow() error %T is not a *breakerOpenError", err)
			}
			want := breakerOpenError{Name: "GET /tasks/{id}", State: breakerOpen, Since: openedAt, Failures: 7, Total: 10, Now: clk.now()}
			if *oe != want {
				t.Errorf("allow() error = %+v, want %+v", *oe, want)
			}
			if s := b.snapshot(); s.State != breakerOpen || s.Failures != 7 || s.Total != 10 || !s.Since.Equal(openedAt) {
				t.Errorf("snapshot() = %+v, want open since %v with 7/10", s, openedAt)
			}
		})
	}
}

func TestBreakerHalfOpenSingleProbe(t *testing.T) {
	b, clk, _ := newTestBreaker(t, breakerTestConfig())
	breakerTrip(t, b, 10, 10)
	clk.advance(30 * time.Second)

	const callers = 50
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		admitted = make(chan breakerTicket, callers)
		errs     = make(chan error, callers)
	)
	for range callers {
		wg.Go(func() {
			<-start
			tk, err := b.allow()
			if err != nil {
				errs <- err
				return
			}
			admitted <- tk
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	close(admitted)
	if got := len(admitted); got != 1 {
		t.Fatalf("%d of %d concurrent callers admitted in half-open, want exactly 1", got, callers)
	}
	if probe := <-admitted; !probe.probe {
		t.Errorf("admitted ticket %+v is not the probe", probe)
	}
	rejected := 0
	for err := range errs {
		rejected++
		var oe *breakerOpenError
		if !errors.As(err, &oe) || oe.State != breakerHalfOpen {
			t.Fatalf("rejection = %v, want a *breakerOpenError in half-open", err)
		}
		if want := "circuit open for GET /tasks/{id} since 30s after 10 of 10 calls failed; a probe call is in flight"; err.Error() != want {
			t.Errorf("rejection = %q, want %q", err.Error(), want)
		}
	}
	if rejected != callers-1 {
		t.Errorf("%d callers rejected, want %d", rejected, callers-1)
	}
	if s := b.snapshot(); s.State != breakerHalfOpen {
		t.Errorf("snapshot().State = %v, want half-open", s.State)
	}
}

func TestBreakerProbeOutcome(t *testing.T) {
	tests := []struct {
		name string
		o    breakerOutcome
		want breakerState
	}{
		{"success closes", breakerSuccess, breakerClosed},
		{"failure reopens", breakerFailure, breakerOpen},
		{"ignored frees the slot", breakerIgnored, breakerHalfOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, log := newTestBreaker(t, breakerTestVolume(2))
			breakerTrip(t, b, 2, 2)
			clk.advance(30 * time.Second)
			probe, err := b.allow()
			if err != nil || !probe.probe {
				t.Fatalf("allow() after reset = %+v, %v, want the probe", probe, err)
			}
			clk.advance(time.Second)
			b.record(probe, tt.o)
			s := b.snapshot()
			if s.State != tt.want {
				t.Fatalf("after probe %v: state = %v, want %v", tt.o, s.State, tt.want)
			}
			switch tt.want {
			case breakerClosed:
				if s.Failures != 0 || s.Total != 0 || !s.Since.Equal(clk.now()) {
					t.Errorf("snapshot() = %+v, want an empty window since %v", s, clk.now())
				}
				// Fresh window: one failure does not reach the volume again.
				breakerCall(t, b, breakerFailure)
				breakerWantState(t, b, "one failure after closing", breakerClosed)
			case breakerOpen:
				reopened := clk.now()
				clk.advance(30*time.Second - time.Nanosecond)
				_, err := b.allow()
				if want := "circuit open for GET /tasks/{id} since 30s after the half-open probe failed"; err == nil || err.Error() != want {
					t.Fatalf("allow() just before another reset = %v, want %q", err, want)
				}
				var oe *breakerOpenError
				if !errors.As(err, &oe) || !oe.Since.Equal(reopened) || !oe.Probe || oe.Failures != 1 || oe.Total != 1 {
					t.Errorf("rejection = %#v, want Since %v, Probe, 1 of 1", err, reopened)
				}
				clk.advance(time.Nanosecond)
				if tk, err := b.allow(); err != nil || !tk.probe {
					t.Errorf("allow() after another full reset = %+v, %v, want the probe", tk, err)
				}
			case breakerHalfOpen:
				tk, err := b.allow()
				if err != nil || !tk.probe {
					t.Fatalf("allow() after ignored probe = %+v, %v, want a new probe", tk, err)
				}
				if _, err := b.allow(); !errors.Is(err, errBreakerOpen) {
					t.Errorf("second allow() = %v, want rejection while the new probe runs", err)
				}
				b.record(tk, breakerSuccess)
				breakerWantState(t, b, "after the new probe succeeded", breakerClosed)
			}
			want := []breakerTransition{{breakerClosed, breakerOpen}, {breakerOpen, breakerHalfOpen}}
			switch tt.o {
			case breakerSuccess:
				want = append(want, breakerTransition{breakerHalfOpen, breakerClosed})
			case breakerFailure:
				want = append(want, breakerTransition{breakerHalfOpen, breakerOpen}, breakerTransition{breakerOpen, breakerHalfOpen})
			case breakerIgnored:
				want = append(want, breakerTransition{breakerHalfOpen, breakerClosed})
			}
			if got := log.list(); !slices.Equal(got, want) {
				t.Errorf("transitions = %v, want %v", got, want)
			}
		})
	}
}

func TestBreakerOldGenerationIgnored(t *testing.T) {
	t.Run("slow success cannot close a fresh trip", func(t *testing.T) {
		b, _, _ := newTestBreaker(t, breakerTestVolume(2))
		slow, _ := b.allow()
		breakerTrip(t, b, 2, 2)
		b.record(slow, breakerSuccess)
		breakerWantState(t, b, "after a late success", breakerOpen)
	})
	t.Run("slow failure does not count in the new window", func(t *testing.T) {
		b, clk, _ := newTestBreaker(t, breakerTestVolume(1))
		slow, _ := b.allow()
		breakerTrip(t, b, 1, 1)
		clk.advance(30 * time.Second)
		probe, _ := b.allow()
		b.record(probe, breakerSuccess)
		b.record(slow, breakerFailure)
		if s := b.snapshot(); s.State != breakerClosed || s.Total != 0 {
			t.Errorf("after a late failure: snapshot() = %+v, want closed with an empty window", s)
		}
	})
	t.Run("lost probe replaced after the reset timeout", func(t *testing.T) {
		b, clk, _ := newTestBreaker(t, breakerTestConfig())
		breakerTrip(t, b, 10, 10)
		clk.advance(30 * time.Second)
		lost, _ := b.allow()
		clk.advance(30*time.Second - time.Nanosecond)
		if _, err := b.allow(); !errors.Is(err, errBreakerOpen) {
			t.Fatalf("allow() while the probe runs = %v, want rejection", err)
		}
		clk.advance(time.Nanosecond)
		probe, err := b.allow()
		if err != nil || !probe.probe {
			t.Fatalf("allow() once the probe is presumed lost = %+v, %v, want a new probe", probe, err)
		}
		b.record(lost, breakerSuccess)
		breakerWantState(t, b, "after the lost probe's late success", breakerHalfOpen)
		b.record(probe, breakerFailure)
		breakerWantState(t, b, "after the new probe failed", breakerOpen)
	})
	t.Run("zero ticket ignored", func(t *testing.T) {
		b, _, _ := newTestBreaker(t, breakerTestVolume(1))
		b.record(breakerTicket{}, breakerFailure)
		if s := b.snapshot(); s.Total != 0 {
			t.Errorf("after recording a zero ticket: Total = %d, want 0", s.Total)
		}
	})
}

// TestBreakerOnChangeOutsideLock checks the hook sees the new state and may
// call back into the breaker without deadlocking.
func TestBreakerOnChangeOutsideLock(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	cfg := breakerTestVolume(1)
	var b *breaker
	var got []string
	b = newBreaker("POST /tasks", cfg, clk.now, func(name string, from, to breakerState) {
		s := b.snapshot()
		admitted := "rejected"
		if _, err := b.allow(); err == nil {
			admitted = "ok"
		}
		got = append(got, name+": "+from.String()+" -> "+to.String()+" (snapshot "+s.State.String()+", allow "+admitted+")")
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk, _ := b.allow()
		b.record(tk, breakerFailure)
		clk.advance(30 * time.Second)
		probe, _ := b.allow() // the hook's own allow() is rejected: the probe is ours
		b.record(probe, breakerSuccess)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // generous: only a deadlock takes this long
		t.Fatal("breaker deadlocked calling onChange")
	}
	want := []string{
		"POST /tasks: closed -> open (snapshot open, allow rejected)",
		"POST /tasks: open -> half-open (snapshot half-open, allow rejected)",
		"POST /tasks: half-open -> closed (snapshot closed, allow ok)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("onChange calls =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBreakerNilPassThrough(t *testing.T) {
	cfg := breakerTestConfig()
	cfg.Enabled = false
	b := newBreaker("GET /tasks", cfg, time.Now, nil)
	if b != nil {
		t.Fatalf("newBreaker(disabled) = %p, want nil", b)
	}
	for range 100 {
		tk, err := b.allow()
		if err != nil {
			t.Fatalf("nil breaker allow() = %v, want nil", err)
		}
		b.record(tk, breakerFailure)
	}
	if s := b.snapshot(); s.State != breakerClosed {
		t.Errorf("nil breaker snapshot().State = %v, want closed", s.State)
	}
	bs := newBreakers([]string{"GET /tasks"}, cfg, time.Now, nil)
	if bs != nil {
		t.Fatalf("newBreakers(disabled) = %p, want nil", bs)
	}
	if got := bs.get("GET /tasks"); got != nil {
		t.Errorf("nil set get() = %p, want nil", got)
	}
	if got := bs.snapshots(); got != nil {
		t.Errorf("nil set snapshots() = %v, want nil", got)
	}
}

func TestBreakers(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	log := &breakerTransitionLog{}
	var names []string
	cfg := breakerTestVolume(1)
	bs := newBreakers([]string{"GET /tasks", "POST /tasks", "GET /tasks", "DELETE /tasks/{id}"}, cfg, clk.now,
		func(name string, from, to breakerState) {
			names = append(names, name)
			log.hook(name, from, to)
		})
	breakerCall(t, bs.get("POST /tasks"), breakerFailure)
	if got := bs.get("GET /tasks"); got == nil || got == bs.get("POST /tasks") {
		t.Fatalf("get(%q) = %p, want its own breaker", "GET /tasks", got)
	}
	if got := bs.get("PATCH /nowhere"); got != nil {
		t.Errorf("get(unknown) = %p, want nil (pass-through)", got)
	}
	var gotNames []string
	var gotStates []breakerState
	for _, s := range bs.snapshots() {
		gotNames = append(gotNames, s.Name)
		gotStates = append(gotStates, s.State)
	}
	if want := []string{"GET /tasks", "POST /tasks", "DELETE /tasks/{id}"}; !slices.Equal(gotNames, want) {
		t.Errorf("snapshots() names = %q, want %q", gotNames, want)
	}
	if want := []breakerState{breakerClosed, breakerOpen, breakerClosed}; !slices.Equal(gotStates, want) {
		t.Errorf("snapshots() states = %v, want %v", gotStates, want)
	}
	if want := []string{"POST /tasks"}; !slices.Equal(names, want) {
		t.Errorf("onChange names = %q, want %q", names, want)
	}
}

// TestBreakerConcurrent hammers one breaker from many goroutines with random
// outcomes, late records and an advancing clock, then checks invariants.
func TestBreakerConcurrent(t *testing.T) {
	const (
		goroutines = 100
		iterations = 300
	)
	clk := &fakeClock{t: time.Unix(1000, 0)}
	cfg := breakerConfig{Enabled: true, ErrorThreshold: 50, ResetTimeout: 20 * time.Millisecond, VolumeThreshold: 5, Window: 100 * time.Millisecond}
	var (
		inHook  atomic.Int32
		overlap atomic.Bool
		log     breakerTransitionLog
	)
	b := newBreaker("GET /tasks", cfg, clk.now, func(name string, from, to breakerState) {
		if inHook.Add(1) != 1 {
			overlap.Store(true)
		}
		log.hook(name, from, to)
		inHook.Add(-1)
	})
	var wg sync.WaitGroup
	var bad atomic.Value
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			var held []breakerTicket // admitted, recorded later
			for range iterations {
				if rng.IntN(10) == 0 {
					clk.advance(time.Duration(rng.IntN(5)) * time.Millisecond)
				}
				if tk, err := b.allow(); err == nil {
					held = append(held, tk)
				} else if !errors.Is(err, errBreakerOpen) {
					bad.Store("allow() = " + err.Error())
				}
				for len(held) > 0 && rng.IntN(2) == 0 {
					o := []breakerOutcome{breakerSuccess, breakerSuccess, breakerFailure, breakerFailure, breakerIgnored}[rng.IntN(5)]
					b.record(held[0], o)
					held = held[1:]
				}
				s := b.snapshot()
				if s.State < breakerClosed || s.State > breakerHalfOpen || s.Failures < 0 || s.Failures > s.Total {
					bad.Store("inconsistent snapshot")
				}
			}
			for _, tk := range held {
				b.record(tk, breakerSuccess)
			}
		})
	}
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	if overlap.Load() {
		t.Error("onChange ran concurrently with itself")
	}
	valid := map[breakerTransition]bool{
		{breakerClosed, breakerOpen}:     true,
		{breakerOpen, breakerHalfOpen}:   true,
		{breakerHalfOpen, breakerOpen}:   true,
		{breakerHalfOpen, breakerClosed}: true,
	}
	state := breakerClosed
	trs := log.list()
	for i, tr := range trs {
		if !valid[tr] || tr.from != state {
			t.Fatalf("transition %d = %v -> %v from state %v: not a valid next step", i, tr.from, tr.to, state)
		}
		state = tr.to
	}
	if len(trs) == 0 {
		t.Error("no transitions: the test did not exercise the state machine")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != state {
		t.Errorf("final state = %v, want %v (the last reported transition)", b.state, state)
	}
	if b.probing {
		t.Error("probe still in flight after every ticket was recorded")
	}
	var f, n int
	for _, bk := range b.buckets {
		f += bk.failures
		n += bk.total
	}
	if f != b.failures || n != b.total || f > n || f < 0 {
		t.Errorf("window sums = %d/%d, buckets add up to %d/%d", b.failures, b.total, f, n)
	}
}

func BenchmarkBreakerAllowRecord(b *testing.B) {
	br := newBreaker("GET /tasks/{id}", breakerTestConfig(), time.Now, nil)
	b.ReportAllocs()
	for b.Loop() {
		tk, err := br.allow()
		if err != nil {
			b.Fatal(err)
		}
		br.record(tk, breakerSuccess)
	}
}

func BenchmarkBreakerAllowRecordParallel(b *testing.B) {
	br := newBreaker("GET /tasks/{id}", breakerTestConfig(), time.Now, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tk, err := br.allow()
			if err != nil {
				b.Error(err)
				return
			}
			br.record(tk, breakerSuccess)
		}
	})
}
