package parallel

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRowsVisitsEveryRowOnce(t *testing.T) {
	for _, n := range []int{-3, 0, 1, 2, 7, 8, 63, 64, 65, 100, 1000} {
		for _, chunk := range []int{-1, 0, 1, 3, 8, 64, 2000} {
			for _, workers := range []int{0, 1, 2, 3, 16} {
				t.Run(fmt.Sprintf("n%d/chunk%d/workers%d", n, chunk, workers), func(t *testing.T) {
					seen := make([]atomic.Int32, max(n, 0))
					var calls, active, peak atomic.Int32
					Rows(n, chunk, workers, func(y0, y1 int) {
						calls.Add(1)
						a := active.Add(1)
						for {
							p := peak.Load()
							if a <= p || peak.CompareAndSwap(p, a) {
								break
							}
						}
						defer active.Add(-1)
						if y0 < 0 || y1 > n || y0 >= y1 {
							t.Errorf("range [%d, %d) for n=%d", y0, y1, n)
							return
						}
						if c := max(chunk, 1); y1-y0 != c && y1 != n && !(y0 == 0 && y1 == n) {
							t.Errorf("range [%d, %d): %d rows, chunk %d", y0, y1, y1-y0, c)
						}
						runtime.Gosched()
						for y := y0; y < y1; y++ {
							seen[y].Add(1)
						}
					})
					for y := range seen {
						if c := seen[y].Load(); c != 1 {
							t.Errorf("row %d visited %d times", y, c)
						}
					}
					if n <= 0 && calls.Load() != 0 {
						t.Errorf("n=%d: %d calls", n, calls.Load())
					}
					limit := int32(workers)
					if workers <= 0 {
						limit = int32(runtime.GOMAXPROCS(0))
					}
					if peak.Load() > limit {
						t.Errorf("%d calls at once, more than %d workers", peak.Load(), limit)
					}
				})
			}
		}
	}
}

func TestRowsOneWorkerRunsInline(t *testing.T) {
	// One worker, or one chunk, is a single call with the whole range.
	for _, c := range []struct{ n, chunk, workers int }{{10, 1, 1}, {10, 10, 4}, {10, 64, 0}} {
		var got [][2]int
		Rows(c.n, c.chunk, c.workers, func(y0, y1 int) { got = append(got, [2]int{y0, y1}) })
		if len(got) != 1 || got[0] != [2]int{0, c.n} {
			t.Errorf("%+v: calls %v, want one [0, %d)", c, got, c.n)
		}
	}
}

func TestRowsUsesSeveralGoroutines(t *testing.T) {
	// With two workers and two chunks, each chunk waits for the other to
	// start: this deadlocks unless they run at once.
	var wg sync.WaitGroup
	wg.Add(2)
	Rows(2, 1, 2, func(y0, y1 int) {
		wg.Done()
		wg.Wait()
	})
}
