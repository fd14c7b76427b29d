package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// promScrape caches what one scrape reads from the runtime and /proc, so
// each source is read at most once per scrape however many families use it.
type promScrape struct {
	rt       []rtmetrics.Sample // runtime/metrics samples of promRuntimeNames, once read
	stat     promProcStat       // /proc/self/stat, once read
	statErr  error              // why stat could not be read
	statRead bool               // stat and statErr are set
}

// promRuntimeNames are the runtime/metrics the scrape-time families use.
var promRuntimeNames = []string{
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/total:bytes",
	"/sched/latencies:seconds",
}

// runtimeValue returns the runtime/metrics value called name, reading all
// of promRuntimeNames on first use; false if this Go does not support it.
func (s *promScrape) runtimeValue(name string) (rtmetrics.Value, bool) {
	if s.rt == nil {
		s.rt = make([]rtmetrics.Sample, len(promRuntimeNames))
		for i, n := range promRuntimeNames {
			s.rt[i].Name = n
		}
		rtmetrics.Read(s.rt)
	}
	for _, smp := range s.rt {
		if smp.Name == name {
			return smp.Value, smp.Value.Kind() != rtmetrics.KindBad
		}
	}
	return rtmetrics.Value{}, false
}

// runtimeBytes returns the sum of the uint64 runtime/metrics called names.
func (s *promScrape) runtimeBytes(names ...string) (float64, bool) {
	var total uint64
	for _, n := range names {
		v, ok := s.runtimeValue(n)
		if !ok || v.Kind() != rtmetrics.KindUint64 {
			return 0, false
		}
		total += v.Uint64()
	}
	return float64(total), true
}

// procStat returns /proc/self/stat, read once per scrape.
func (s *promScrape) procStat() (promProcStat, bool) {
	if !s.statRead {
		s.statRead = true
		data, err := os.ReadFile("/proc/self/stat")
		if err != nil {
			s.statErr = fmt.Errorf("read process stat: %w", err)
		} else {
			s.stat, s.statErr = promParseProcStat(data)
		}
	}
	return s.stat, s.statErr == nil
}

// registerRuntime adds the families computed at scrape time: build info,
// memory, scheduler latency, go_* and (on Linux) process_*.
func (m *metrics) registerRuntime(opts metricsOptions) {
	r := m.reg
	version, revision := cmp.Or(opts.Version, "unknown"), cmp.Or(opts.Revision, "unknown")
	build := r.newGaugeVec("taskman_build_info",
		"A constant 1 labelled with the build's version, Go version and VCS revision.",
		promLabel{name: "version"}, promLabel{name: "goversion"}, promLabel{name: "revision"})
	build.with(version, runtime.Version(), revision).set(1)
	goInfo := r.newGaugeVec("go_info", "Information about the Go environment.", promLabel{name: "version"})
	goInfo.with(runtime.Version()).set(1)

	r.add("taskman_memory_usage_bytes",
		"Go runtime memory by type: heap_alloc (live heap objects), heap_sys (heap obtained from the OS), stack (goroutine stacks in use), sys (all memory obtained from the OS).",
		promTypeGauge, promAppendMemory)
	r.newSummary("taskman_scheduler_latency_seconds",
		"Time goroutines spent runnable before running (Go's event-loop lag), from runtime/metrics /sched/latencies:seconds since start; the sum is estimated from bucket midpoints.",
		promSchedulerRanks, promSchedulerLatency)

	r.newFunc("go_goroutines", "Number of goroutines that currently exist.", promTypeGauge,
		func(*promScrape) (float64, bool) { return float64(runtime.NumGoroutine()), true })
	r.newFunc("go_threads", "Number of OS threads created.", promTypeGauge,
		func(*promScrape) (float64, bool) {
			n, _ := runtime.ThreadCreateProfile(nil)
			return float64(n), true
		})
	r.newFunc("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and still in use.", promTypeGauge,
		func(s *promScrape) (float64, bool) { return s.runtimeBytes("/memory/classes/heap/objects:bytes") })
	r.newSummary("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
		promGCRanks, promGCPauses)

	if runtime.GOOS != "linux" {
		return // the process_* families read /proc; elsewhere they are omitted
	}
	r.newFunc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", promTypeCounter,
		func(s *promScrape) (float64, bool) {
			st, ok := s.procStat()
			return st.cpuSeconds(), ok
		})
	r.newFunc("process_resident_memory_bytes", "Resident memory size in bytes.", promTypeGauge,
		func(s *promScrape) (float64, bool) {
			st, ok := s.procStat()
			return float64(st.rssPages) * float64(os.Getpagesize()), ok
		})
	r.newFunc("process_virtual_memory_bytes", "Virtual memory size in bytes.", promTypeGauge,
		func(s *promScrape) (float64, bool) {
			st, ok := s.procStat()
			return float64(st.vsize), ok
		})
	r.newFunc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", promTypeGauge,
		func(s *promScrape) (float64, bool) {
			st, ok := s.procStat()
			if !ok {
				return 0, false
			}
			data, err := os.ReadFile("/proc/stat")
			if err != nil {
				return 0, false
			}
			boot, err := promParseBootTime(data)
			if err != nil {
				return 0, false
			}
			return float64(boot) + float64(st.starttime)/promUserHZ, true
		})
	r.newFunc("process_open_fds", "Number of open file descriptors.", promTypeGauge,
		func(*promScrape) (float64, bool) {
			f, err := os.Open("/proc/self/fd")
			if err != nil {
				return 0, false
			}
			defer f.Close()
			names, err := f.Readdirnames(-1)
			return float64(len(names)), err == nil
		})
	r.newFunc("process_max_fds", "Maximum number of open file descriptors.", promTypeGauge,
		func(*promScrape) (float64, bool) {
			data, err := os.ReadFile("/proc/self/limits")
			if err != nil {
				return 0, false
			}
			n, err := promParseMaxFDs(data)
			return n, err == nil
		})
}

// promAppendMemory appends the samples of taskman_memory_usage_bytes.
func promAppendMemory(b []byte, s *promScrape) []byte {
	const name = "taskman_memory_usage_bytes"
	types := []struct {
		pairs string
		names []string
	}{
		{`type="heap_alloc"`, []string{"/memory/classes/heap/objects:bytes"}},
		{`type="heap_sys"`, []string{ // the four classes MemStats.HeapSys adds up
			"/memory/classes/heap/free:bytes", "/memory/classes/heap/objects:bytes",
			"/memory/classes/heap/released:bytes", "/memory/classes/heap/unused:bytes"}},
		{`type="stack"`, []string{"/memory/classes/heap/stacks:bytes"}},
		{`type="sys"`, []string{"/memory/classes/total:bytes"}},
	}
	for _, t := range types {
		if v, ok := s.runtimeBytes(t.names...); ok {
			b = promAppendSample(b, name, "", t.pairs, "", v)
		}
	}
	return b
}

// promSchedulerLatency is the source of taskman_scheduler_latency_seconds:
// the runtime's scheduling-latency histogram since start, summarised.
func promSchedulerLatency(s *promScrape) ([]float64, float64, uint64, bool) {
	v, ok := s.runtimeValue("/sched/latencies:seconds")
	if !ok || v.Kind() != rtmetrics.KindFloat64Histogram {
		return nil, 0, 0, false
	}
	h := v.Float64Histogram()
	values, sum, count := promHistogramQuantiles(h.Counts, h.Buckets, promSchedulerRanks)
	return values, sum, count, true
}

// promHistogramQuantiles estimates the quantiles at ranks, the sum and the
// count of a runtime/metrics histogram (len(buckets) == len(counts)+1,
// outer edges possibly infinite). A quantile interpolates linearly inside
// the bucket where the rank falls; an infinite edge is replaced by the
// finite one. With no observations the quantiles are NaN, as a Prometheus
// summary reports them.
func promHistogramQuantiles(counts []uint64, buckets []float64, ranks []float64) (values []float64, sum float64, count uint64) {
	edge := func(lo, hi float64) (float64, float64) {
		if math.IsInf(lo, -1) {
			lo = hi
		}
		if math.IsInf(hi, 1) {
			hi = lo
		}
		return lo, hi
	}
	for i, c := range counts {
		count += c
		if c > 0 && i+1 < len(buckets) {
			lo, hi := edge(buckets[i], buckets[i+1])
			sum += float64(c) * (lo + hi) / 2
		}
	}
	values = make([]float64, len(ranks))
	for j, q := range ranks {
		values[j] = math.NaN()
		if count == 0 {
			continue
		}
		rank := q * float64(count)
		var cum float64
		for i, c := range counts {
			if c == 0 || i+1 >= len(buckets) {
				continue
			}
			if cum+float64(c) >= rank {
				lo, hi := edge(buckets[i], buckets[i+1])
				values[j] = lo + (hi-lo)*(rank-cum)/float64(c)
				break
			}
			cum += float64(c)
		}
	}
	return values, sum, count
}

// promGCPauses is the source of go_gc_duration_seconds: the quantiles of
// the recent GC pauses the runtime keeps, the total pause time and the
// number of collections, exactly as the Go client reads them.
func promGCPauses(*promScrape) ([]float64, float64, uint64, bool) {
	var st debug.GCStats
	st.PauseQuantiles = make([]time.Duration, len(promGCRanks))
	debug.ReadGCStats(&st)
	values := make([]float64, len(st.PauseQuantiles))
	for i, d := range st.PauseQuantiles {
		values[i] = d.Seconds()
	}
	return values, st.PauseTotal.Seconds(), uint64(st.NumGC), true
}

// promProcStat holds the fields of /proc/self/stat the process_* families
// use, in the kernel's units.
type promProcStat struct {
	utime, stime uint64 // CPU time in user and kernel mode, clock ticks
	starttime    uint64 // start time after boot, clock ticks
	vsize        uint64 // virtual memory size, bytes
	rssPages     uint64 // resident set size, pages
}

// cpuSeconds returns the user and system CPU time, in seconds.
func (st promProcStat) cpuSeconds() float64 {
	return float64(st.utime+st.stime) / promUserHZ
}

// errPromProcStat reports a /proc file that does not have the expected
// shape.
var errPromProcStat = errors.New("malformed proc file")

// promParseProcStat parses /proc/self/stat (proc(5)). The command name in
// field 2 may contain spaces and parentheses, so fields are counted from
// the last ')'.
func promParseProcStat(data []byte) (promProcStat, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return promProcStat{}, fmt.Errorf("parse process stat: no command name: %w", errPromProcStat)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3]; rss is field 24.
	if len(f) < 24-3+1 {
		return promProcStat{}, fmt.Errorf("parse process stat: %d fields: %w", len(f)+2, errPromProcStat)
	}
	var st promProcStat
	for _, p := range []struct {
		field int
		dst   *uint64
	}{{14, &st.utime}, {15, &st.stime}, {22, &st.starttime}, {23, &st.vsize}, {24, &st.rssPages}} {
		v, err := strconv.ParseUint(f[p.field-3], 10, 64)
		if err != nil {
			// rss is signed in the kernel's format but never negative for
			// a live process; a negative value is as malformed as text.
			return promProcStat{}, fmt.Errorf("parse process stat field %d: %w", p.field, errors.Join(errPromProcStat, err))
		}
		*p.dst = v
	}
	return st, nil
}

// promParseBootTime returns the boot time, in seconds since the epoch, from
// the btime line of /proc/stat.
func promParseBootTime(data []byte) (uint64, error) {
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			v, err := strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse boot time: %w", errors.Join(errPromProcStat, err))
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("parse boot time: no btime line: %w", errPromProcStat)
}

// promParseMaxFDs returns the soft "Max open files" limit of
// /proc/self/limits; +Inf when unlimited.
func promParseMaxFDs(data []byte) (float64, error) {
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			if f[0] == "unlimited" {
				return math.Inf(1), nil
			}
			v, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse max open files: %w", errors.Join(errPromProcStat, err))
			}
			return float64(v), nil
		}
	}
	return 0, fmt.Errorf("parse max open files: no limit line: %w", errPromProcStat)
}
