package tiling

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pssr/pssr/frame"
)

// Part is one window's output for a frame that windows outside a chunk
// also cover: the output of window Window at frame Frame as the clip
// function returned it (not weighted). Blend cross-fades the parts of a
// frame once every window covering it has delivered one.
type Part struct {
	// Frame is the frame index in the video.
	Frame int
	// Window is the index of the window in the video's windows.
	Window int
	// Image is the window's output for the frame.
	Image *frame.Image
}

// Covering returns the indices [first, last) of the spans that cover frame
// t, for spans as Windows returns them (starts and ends increasing).
func Covering(spans []Span, t int) (first, last int) {
	first = len(spans)
	for i, s := range spans {
		if s.Start <= t && t < s.End {
			if first == len(spans) {
				first = i
			}
			last = i + 1
		}
	}
	if first == len(spans) {
		return 0, 0
	}
	return first, last
}

// neighbours returns the spans before and after spans[i] (nil at the ends).
func neighbours(spans []Span, i int) (prev, next *Span) {
	if i > 0 {
		prev = &spans[i-1]
	}
	if i+1 < len(spans) {
		next = &spans[i+1]
	}
	return prev, next
}

// ProcessWindows computes the windows spans[first:last] of a video whose
// windows are spans (Windows of its length, size and overlap): a chunk of
// the work of ProcessStreamScaled, which a distributed run hands to one
// worker. next yields the input frames spans[first].Start,
// spans[first].Start+1, ..., up to spans[last-1].End-1.
//
// Frames that only windows of the chunk cover are cross-faded here, with
// the same float operations in the same order as ProcessStream, and passed
// to emit in increasing order (t is the frame's index in the video). For
// every other frame of the chunk (those it shares with the windows before
// first or from last on), each of the chunk's windows covering it is
// passed to part, unweighted, for Blend to finish once the neighbouring
// chunks' parts are known. fn is called once per window, in order.
func ProcessWindows(ctx context.Context, spans []Span, first, last int, next func() (*frame.Image, error),
	fn ClipFunc, scale int, emit func(t int, f *frame.Image) error, part func(Part) error) error {
	if first < 0 || last > len(spans) || first >= last {
		return fmt.Errorf("tiling: ProcessWindows: windows [%d, %d) of %d", first, last, len(spans))
	}
	if scale < 1 {
		return fmt.Errorf("tiling: ProcessWindows: scale %d must be at least 1", scale)
	}
	lo, hi := spans[first].Start, spans[last-1].End
	// Frames before leftEnd are shared with earlier windows, frames from
	// rightStart on with later ones (starts and ends only increase).
	leftEnd, rightStart := lo, hi
	if first > 0 {
		leftEnd = spans[first-1].End
	}
	if last < len(spans) {
		rightStart = spans[last].Start
	}
	inner := func(t int) bool { return t >= leftEnd && t < rightStart }

	var (
		in      []*frame.Image // input frames inStart, inStart+1, ...
		inStart = lo
		w, h    int
		acc     = make([]slot, hi-lo) // accumulators of frames lo, lo+1, ...
		emitted = lo                  // frames before emitted are emitted or skipped
	)
	read := func(end int) error {
		for inStart+len(in) < end {
			if err := ctx.Err(); err != nil {
				return err
			}
			t := inStart + len(in)
			f, err := next()
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("reading frame %d: %w", t, io.ErrUnexpectedEOF)
			}
			if err != nil {
				return fmt.Errorf("reading frame %d: %w", t, err)
			}
			if f == nil {
				return fmt.Errorf("reading frame %d: nil frame", t)
			}
			if t == lo {
				w, h = f.W, f.H
			} else if f.W != w || f.H != h {
				return fmt.Errorf("frame %d is %dx%d, earlier frames %dx%d", t, f.W, f.H, w, h)
			}
			in = append(in, f)
		}
		return nil
	}
	flush := func(end int) error {
		for ; emitted < end; emitted++ {
			if !inner(emitted) {
				continue
			}
			f := acc[emitted-lo].result()
			acc[emitted-lo] = slot{}
			if err := emit(emitted, f); err != nil {
				return fmt.Errorf("emitting frame %d: %w", emitted, err)
			}
		}
		return nil
	}
	for i := first; i < last; i++ {
		win := spans[i]
		if err := read(win.End); err != nil {
			return fmt.Errorf("tiling: ProcessWindows: %w", err)
		}
		if k := win.Start - inStart; k > 0 {
			n := copy(in, in[k:])
			clear(in[n:])
			in, inStart = in[:n], win.Start
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		clip := make([]*frame.Image, win.Len())
		copy(clip, in[:win.Len()])
		out, err := fn(ctx, clip)
		if err != nil {
			return fmt.Errorf("tiling: ProcessWindows: window [%d, %d): %w", win.Start, win.End, err)
		}
		if err := checkClip(out, len(clip), w*scale, h*scale); err != nil {
			return fmt.Errorf("tiling: ProcessWindows: window [%d, %d): %w", win.Start, win.End, err)
		}
		prev, nxt := neighbours(spans, i)
		for t := win.Start; t < win.End; t++ {
			if inner(t) {
				acc[t-lo].add(out[t-win.Start], rampWeight(prev, &win, nxt, t))
			} else if err := part(Part{Frame: t, Window: i, Image: out[t-win.Start]}); err != nil {
				return fmt.Errorf("tiling: ProcessWindows: frame %d: %w", t, err)
			}
		}
		end := hi
		if i+1 < last {
			end = spans[i+1].Start
		}
		if err := flush(end); err != nil {
			return fmt.Errorf("tiling: ProcessWindows: %w", err)
		}
	}
	return nil
}

// Blend returns frame t of the cross-fade of the windows spans from the
// outputs of every window that covers it, given in window order (as
// ProcessWindows passed them to part): the same float operations, in the
// same order, as ProcessStream performs for that frame, so the result is
// bit-identical. It fails unless parts are exactly the covering windows'.
func Blend(spans []Span, t int, parts []Part) (*frame.Image, error) {
	first, last := Covering(spans, t)
	if last-first != len(parts) || len(parts) == 0 {
		return nil, fmt.Errorf("tiling: Blend: frame %d is covered by %d windows, %d parts given", t, last-first, len(parts))
	}
	var s slot
	for k, p := range parts {
		i := first + k
		if p.Window != i || p.Frame != t || p.Image == nil {
			return nil, fmt.Errorf("tiling: Blend: frame %d: part %d is of window %d, frame %d; want window %d", t, k, p.Window, p.Frame, i)
		}
		if k > 0 && (p.Image.W != parts[0].Image.W || p.Image.H != parts[0].Image.H) {
			return nil, fmt.Errorf("tiling: Blend: frame %d: parts of different sizes", t)
		}
		prev, next := neighbours(spans, i)
		s.add(p.Image, rampWeight(prev, &spans[i], next, t))
	}
	return s.result(), nil
}
