// Package tiling splits long and large videos into overlapping temporal
// windows and spatial tiles, runs a clip function on each piece and blends
// the results back with linear cross-fades (method §6), with memory bounded
// by the window and tile sizes rather than the video's length.
//
// Temporal windows are blended with linear ramps over the frames two
// windows share; spatial tiles with separable linear ramps over the pixels
// two tiles share. In both cases the weights at a frame or pixel are
// normalised to sum to one, so an identity clip function reproduces its
// input.
package tiling

import (
	"fmt"
)

// Span is the half-open frame range [Start, End).
type Span struct{ Start, End int }

// Len returns the number of frames in s.
func (s Span) Len() int { return s.End - s.Start }

// checkWindow validates a window size and overlap.
func checkWindow(size, overlap int) error {
	switch {
	case size < 1:
		return fmt.Errorf("tiling: window size must be >= 1, got %d", size)
	case overlap < 0:
		return fmt.Errorf("tiling: window overlap must be >= 0, got %d", overlap)
	case overlap >= size:
		return fmt.Errorf("tiling: window overlap %d must be smaller than the window size %d", overlap, size)
	}
	return nil
}

// Windows returns the temporal windows that cover frames [0, n): windows of
// size frames starting at 0, size-overlap, 2(size-overlap), ...; the last one
// is shifted back to end exactly at n (so it may overlap its predecessor by
// more than overlap frames). When n < size there is one window, [0, n); when
// n == 0 there are none. It reports an error when size < 1, overlap < 0,
// overlap >= size or n < 0.
func Windows(n, size, overlap int) ([]Span, error) {
	if err := checkWindow(size, overlap); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("tiling: frame count must be >= 0, got %d", n)
	}
	var spans []Span
	for s := 0; n > 0; s += size - overlap {
		if s+size >= n {
			spans = append(spans, Span{max(0, n-size), n})
			break
		}
		spans = append(spans, Span{s, s + size})
	}
	return spans, nil
}

// rampWeight is the unnormalised cross-fade weight of span cur at frame t:
// a linear ramp up over the frames cur shares with prev, a linear ramp down
// over those it shares with next, 1 elsewhere; always > 0 inside cur. For an
// overlap of L frames the ramps are (k+1)/(L+1) and (L-k)/(L+1) at the k-th
// shared frame, which sum to one. prev and next may be nil.
func rampWeight(prev, cur, next *Span, t int) float64 {
	w := 1.0
	if prev != nil && t < prev.End {
		l := prev.End - cur.Start
		w = min(w, float64(t-cur.Start+1)/float64(l+1))
	}
	if next != nil && t >= next.Start {
		l := cur.End - next.Start
		w = min(w, float64(cur.End-t)/float64(l+1))
	}
	return w
}

// CrossFadeWeights returns, for every span, the weight of each of its
// frames in the blended output: result[i][t-spans[i].Start] for frame t.
// Spans are expected as Windows returns them (sorted, with increasing
// starts and ends). Overlapping spans cross-fade linearly (see the package
// comment); the weights of the spans covering a frame in [0, n) are
// normalised so that, added in span order in float32, they sum to exactly 1.
// Frames at or beyond n keep weight 0.
func CrossFadeWeights(spans []Span, n int) [][]float32 {
	out := make([][]float32, len(spans))
	for i, s := range spans {
		out[i] = make([]float32, max(0, s.Len()))
	}
	var cover []int
	var raw []float64
	first := 0
	for t := 0; t < n; t++ {
		for first < len(spans) && spans[first].End <= t {
			first++
		}
		cover, raw = cover[:0], raw[:0]
		sum := 0.0
		for i := first; i < len(spans) && spans[i].Start <= t; i++ {
			if t >= spans[i].End {
				continue
			}
			var prev, next *Span
			if i > 0 {
				prev = &spans[i-1]
			}
			if i+1 < len(spans) {
				next = &spans[i+1]
			}
			r := rampWeight(prev, &spans[i], next, t)
			cover, raw = append(cover, i), append(raw, r)
			sum += r
		}
		var acc float32
		for k, i := range cover {
			var w float32
			if k == len(cover)-1 {
				w = 1 - acc
			} else {
				w = float32(raw[k] / sum)
				acc += w
			}
			out[i][t-spans[i].Start] = w
		}
	}
	return out
}
