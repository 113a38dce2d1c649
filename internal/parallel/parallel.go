// Package parallel runs loops over rows on several goroutines.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Rows calls fn on disjoint ranges [y0, y1) of chunk rows (the last one
// shorter) that together cover [0, n), from up to workers goroutines
// (workers <= 0: runtime.GOMAXPROCS(0)), never more than there are chunks.
// The goroutines take the next chunk from a shared counter as they finish
// one, so uneven progress on shared cores is balanced. With one goroutine
// (or one chunk) fn runs once, on the calling goroutine, with [0, n).
// fn must be safe to call concurrently on disjoint ranges. Rows returns
// when every call has returned; with n <= 0 it calls nothing.
func Rows(n, chunk, workers int, fn func(y0, y1 int)) {
	if n <= 0 {
		return
	}
	chunk = max(chunk, 1)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, (n+chunk-1)/chunk)
	if workers <= 1 {
		fn(0, n)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				y0 := int(next.Add(int64(chunk))) - chunk
				if y0 >= n {
					return
				}
				fn(y0, min(y0+chunk, n))
			}
		})
	}
	wg.Wait()
}
