package bench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"
)

// ChildRSSReporter is an optional interface of a peers.Peer: the peak
// resident set size, in bytes, of the process(es) that its last Upscale call
// ran (from os.ProcessState.SysUsage's Maxrss), 0 when unknown. Peer modes
// pass it on with ReportChildRSS.
type ChildRSSReporter interface {
	LastMaxRSS() int64
}

type childRSSKey struct{}

// childRSS collects the child peaks a mode reports.
type childRSS struct {
	mu  sync.Mutex
	max int64
}

func (c *childRSS) add(b int64) {
	c.mu.Lock()
	c.max = max(c.max, b)
	c.mu.Unlock()
}

func (c *childRSS) reset() {
	c.mu.Lock()
	c.max = 0
	c.mu.Unlock()
}

// get returns the largest reported peak and whether there was one.
func (c *childRSS) get() (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max, c.max > 0
}

// ReportChildRSS tells the bench, from inside a Mode's Run, the peak resident
// set size in bytes of a child process the mode ran (e.g. from
// os.ProcessState.SysUsage). The mode's peak_rss_mb is then the larger of the
// bench process's peak and the largest peak reported. It does nothing when ctx
// does not come from Run or bytes is not positive.
func ReportChildRSS(ctx context.Context, bytes int64) {
	if c, ok := ctx.Value(childRSSKey{}).(*childRSS); ok && bytes > 0 {
		c.add(bytes)
	}
}

// PeakMeter measures the peak memory of the process between
// StartPeakMeter and stop.
type PeakMeter struct {
	procfs bool
	done   chan struct{}
	wg     sync.WaitGroup
	peak   int64
}

// procStatus is read by the meter; a variable so tests can point it
// elsewhere.
var (
	procStatus    = "/proc/self/status"
	procClearRefs = "/proc/self/clear_refs"
)

// StartPeakMeter resets the kernel's high-water mark of the process's RSS
// (VmHWM) by writing "5" to /proc/self/clear_refs. When that is not possible
// it starts sampling the Go runtime's mapped memory instead.
func StartPeakMeter() *PeakMeter {
	m := &PeakMeter{}
	if _, ok := readHWM(); ok {
		if err := os.WriteFile(procClearRefs, []byte("5"), 0); err == nil {
			m.procfs = true
			return m
		}
	}
	m.done = make(chan struct{})
	m.peak = runtimeMapped()
	m.wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
				m.peak = max(m.peak, runtimeMapped())
			}
		}
	})
	return m
}

// Stop returns the peak in bytes and the method: "vmhwm" or "runtime".
func (m *PeakMeter) Stop() (int64, string) {
	if m.procfs {
		if b, ok := readHWM(); ok {
			return b, "vmhwm"
		}
		return 0, "vmhwm"
	}
	close(m.done)
	m.wg.Wait()
	return max(m.peak, runtimeMapped()), "runtime"
}

// readHWM returns VmHWM from /proc/self/status in bytes.
func readHWM() (int64, bool) {
	b, err := os.ReadFile(procStatus)
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("VmHWM:")) {
			continue
		}
		f := bytes.Fields(line[len("VmHWM:"):])
		if len(f) < 1 {
			return 0, false
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, false
		}
		if len(f) > 1 && string(f[1]) != "kB" {
			return 0, false
		}
		return v << 10, true
	}
	return 0, false
}

var runtimeSamples = []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

// runtimeMapped returns the memory the Go runtime has mapped and not
// returned to the system: what runtime.MemStats calls Sys - HeapReleased,
// read without stopping the world.
func runtimeMapped() int64 {
	s := make([]metrics.Sample, len(runtimeSamples))
	copy(s, runtimeSamples)
	metrics.Read(s)
	var total, released uint64
	if s[0].Value.Kind() == metrics.KindUint64 {
		total = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		released = s[1].Value.Uint64()
	}
	if released > total {
		return 0
	}
	return int64(total - released)
}

// usage is what getrusage(RUSAGE_CHILDREN) tells of the waited-for children.
type usage struct {
	ok     bool
	maxRSS int64         // largest child's peak RSS so far, bytes
	cpu    time.Duration // children's user + system time
}
