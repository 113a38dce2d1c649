package tiling

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pssr/pssr/frame"
)

// State is where a stream stands between two windows: the windows before
// index Window are finished, the output frames before Emitted have been
// emitted, and Pending holds the partial cross-fade sums of the frames
// Emitted, Emitted+1, ... that the finished windows have contributed to
// (the last finished window, Last, ends at Emitted+len(Pending)).
//
// A State saved exactly (every float bit) and given back through
// Resumable.From continues the stream so that the remaining frames are
// bit-identical to those of an uninterrupted run over the same input with
// a deterministic clip function: no finished window is computed again.
type State struct {
	// Window is the index of the next window to compute (the number of
	// finished windows, in the order of Windows).
	Window int
	// Emitted is the number of output frames emitted so far.
	Emitted int
	// Last is the span of the last finished window.
	Last Span
	// Pending are the accumulated, not yet normalised outputs of frames
	// Emitted, Emitted+1, ..., Last.End-1.
	Pending []Pending
}

// Pending is one frame's partial cross-fade: the sum of weight·output over
// the finished windows that cover it, and the sum of those weights.
type Pending struct {
	// Sum is the sum of weight·output (not normalised).
	Sum *frame.Image
	// WSum is the sum of the weights.
	WSum float64
}

// Resumable makes a stream resumable: see ProcessStreamResumable.
type Resumable struct {
	// From, when not nil, is the state to continue from (as AfterWindow
	// reported it in an earlier run over the same input and options).
	From *State
	// AfterWindow, when not nil, is called after each window but the last
	// once every frame that window finished has been passed to emit, and
	// before the next window is computed. The State and its frames are
	// only valid during the call: copy or serialise what you keep. An
	// error stops the stream.
	AfterWindow func(*State) error
}

// ProcessStreamResumable is ProcessStreamScaled with checkpoints: it reports
// the stream's state after every finished window to r.AfterWindow and, given
// r.From, continues a stream from such a state. On resume, next must yield
// the same input from its first frame (the first From.Emitted frames are read
// and dropped), and emit receives only the frames from From.Emitted on.
func ProcessStreamResumable(ctx context.Context, next func() (*frame.Image, error), fn ClipFunc, emit func(*frame.Image) error, size, overlap, scale int, r Resumable) error {
	if err := checkWindow(size, overlap); err != nil {
		return fmt.Errorf("tiling: ProcessStream: %w", err)
	}
	if scale < 1 {
		return fmt.Errorf("tiling: ProcessStream: scale %d must be at least 1", scale)
	}
	s := &stream{ctx: ctx, scale: scale, next: next, fn: fn, emit: emit}
	if err := s.run(size, overlap, r); err != nil {
		return fmt.Errorf("tiling: ProcessStream: %w", err)
	}
	return nil
}

// state describes the stream after flushing, with window the index of the
// next window and last the span of the finished one.
func (s *stream) state(window int, last Span) *State {
	st := &State{Window: window, Emitted: s.emitted, Last: last, Pending: make([]Pending, len(s.acc))}
	for i, a := range s.acc {
		st.Pending[i] = Pending{Sum: a.img, WSum: a.wsum}
	}
	return st
}

// restore skips the input frames before st.Emitted and takes over st's
// pending sums. It returns st.Last.
func (s *stream) restore(st *State) (Span, error) {
	if st.Window < 1 || st.Emitted < 0 || st.Last.Start < 0 || st.Last.End != st.Emitted+len(st.Pending) {
		return Span{}, fmt.Errorf("resume: inconsistent state (window %d, %d frames emitted, last window [%d, %d), %d pending)",
			st.Window, st.Emitted, st.Last.Start, st.Last.End, len(st.Pending))
	}
	for i := 0; i < st.Emitted; i++ {
		if err := s.ctx.Err(); err != nil {
			return Span{}, err
		}
		f, err := s.next()
		if errors.Is(err, io.EOF) {
			return Span{}, fmt.Errorf("resume: the input ends after %d frames, the state has %d emitted", i, st.Emitted)
		}
		if err != nil {
			return Span{}, fmt.Errorf("resume: skipping frame %d: %w", i, err)
		}
		if i == 0 {
			s.w, s.h = f.W, f.H
		}
	}
	s.inStart, s.emitted = st.Emitted, st.Emitted
	s.acc = make([]slot, len(st.Pending))
	for i, p := range st.Pending {
		if p.Sum == nil {
			return Span{}, fmt.Errorf("resume: pending frame %d is missing", st.Emitted+i)
		}
		s.acc[i] = slot{img: p.Sum, owned: true, wsum: p.WSum}
	}
	return st.Last, nil
}
