package tiling

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pssr/pssr/frame"
)

// slot accumulates the weighted outputs for one frame.
type slot struct {
	img   *frame.Image // sum of weight·output; borrowed from fn while owned is false
	owned bool         // img was allocated here and may be written
	wsum  float64
}

// add accumulates weight·f into s.
func (s *slot) add(f *frame.Image, weight float64) {
	wt := float32(weight)
	switch {
	case s.img == nil && weight == 1:
		s.img, s.owned = f, false
	case s.img == nil:
		s.img, s.owned = frame.New(f.W, f.H), true
		for i, v := range f.Pix {
			s.img.Pix[i] = wt * v
		}
	default:
		if !s.owned { // borrowed with weight 1: copy before writing
			s.img, s.owned = s.img.Clone(), true
		}
		for i, v := range f.Pix {
			s.img.Pix[i] += wt * v
		}
	}
	s.wsum += weight
}

// result returns the normalised frame.
func (s *slot) result() *frame.Image {
	if s.wsum != 1 {
		inv := float32(1 / s.wsum)
		for i := range s.img.Pix {
			s.img.Pix[i] *= inv
		}
	}
	return s.img
}

// stream is the state of one ProcessStream call.
type stream struct {
	ctx   context.Context
	scale int // output frames are scale times the input size
	next  func() (*frame.Image, error)
	fn    ClipFunc
	emit  func(*frame.Image) error

	in      []*frame.Image // input frames inStart, inStart+1, ...
	inStart int
	eof     bool

	acc     []slot // output accumulators for frames emitted, emitted+1, ...
	emitted int
	w, h    int // output frame size, set by the first input frame
}

// read reads input frames until frame index i is held or the input ends.
func (s *stream) read(i int) error {
	for !s.eof && s.inStart+len(s.in) <= i {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		f, err := s.next()
		if errors.Is(err, io.EOF) {
			s.eof = true
			break
		}
		if err != nil {
			return fmt.Errorf("reading frame %d: %w", s.inStart+len(s.in), err)
		}
		if f == nil {
			return fmt.Errorf("reading frame %d: nil frame", s.inStart+len(s.in))
		}
		if s.inStart+len(s.in) == 0 {
			s.w, s.h = f.W, f.H
		} else if f.W != s.w || f.H != s.h {
			return fmt.Errorf("frame %d is %dx%d, earlier frames %dx%d", s.inStart+len(s.in), f.W, f.H, s.w, s.h)
		}
		s.in = append(s.in, f)
	}
	return nil
}

// dropInput forgets input frames before index i.
func (s *stream) dropInput(i int) {
	k := i - s.inStart
	if k <= 0 {
		return
	}
	n := copy(s.in, s.in[k:])
	clear(s.in[n:])
	s.in = s.in[:n]
	s.inStart = i
}

// fold adds the outputs of span cur, with neighbours prev and next (either
// may be nil), to the accumulators.
func (s *stream) fold(prev, cur, next *Span, outs []*frame.Image) {
	for len(s.acc) < cur.End-s.emitted {
		s.acc = append(s.acc, slot{})
	}
	for t := cur.Start; t < cur.End; t++ {
		s.acc[t-s.emitted].add(outs[t-cur.Start], rampWeight(prev, cur, next, t))
	}
}

// flush emits the finished frames before index end.
func (s *stream) flush(end int) error {
	for s.emitted < end {
		f := s.acc[0].result()
		n := copy(s.acc, s.acc[1:])
		s.acc[n] = slot{}
		s.acc = s.acc[:n]
		if err := s.emit(f); err != nil {
			return fmt.Errorf("emitting frame %d: %w", s.emitted, err)
		}
		s.emitted++
	}
	return nil
}

// ProcessStream runs fn over a video read frame by frame from next (which
// returns io.EOF after the last frame) in overlapping temporal windows and
// passes the blended output frames, in order, to emit, each as soon as no
// later window can change it. emit is called exactly once per input frame.
//
// The windows are those of Windows(n, size, overlap) for the video's length
// n, found without knowing n in advance: windows start every size-overlap
// frames and the last one is shifted back to end at the last frame (a video
// shorter than size is one window). fn never receives more than size
// frames. Output frames are cross-faded linearly over the frames two
// windows share, with the weights of CrossFadeWeights (normalised per
// frame).
//
// Memory is bounded by about 4·size frames whatever the video's length (and
// whatever the overlap): the inputs of the current and next window (at most
// 2·size+1), the outputs of one window and the blended frames not yet
// emitted (fewer than size). A frame seen by one window only is emitted
// as fn returned it (no copy), so emitted frames may alias fn's results or,
// for an fn that returns its input, the input frames.
//
// All input frames must have one size; fn must return len(clip) frames of
// that size and must not modify the frames it receives. ProcessStream stops
// at the first error from next, fn or emit, or when ctx is done, and
// returns it wrapped; size and overlap are checked as in Windows.
func ProcessStream(ctx context.Context, next func() (*frame.Image, error), fn ClipFunc, emit func(*frame.Image) error, size, overlap int) error {
	return ProcessStreamScaled(ctx, next, fn, emit, size, overlap, 1)
}

// ProcessStreamScaled is ProcessStream for a clip function whose output
// frames are scale times the size of its input frames in both directions
// (an upscaler that takes the low-quality frames themselves).
func ProcessStreamScaled(ctx context.Context, next func() (*frame.Image, error), fn ClipFunc, emit func(*frame.Image) error, size, overlap, scale int) error {
	return ProcessStreamResumable(ctx, next, fn, emit, size, overlap, scale, Resumable{})
}

// run is ProcessStream after argument checks, started from r.From when set
// and reporting each finished window to r.AfterWindow.
func (s *stream) run(size, overlap int, r Resumable) error {
	var (
		prev, cur *Span          // the last two windows decided
		curOut    []*frame.Image // fn's output for cur; nil when cur is already folded (resumed)
	)
	first := 0
	if r.From != nil {
		restored, err := s.restore(r.From)
		if err != nil {
			return err
		}
		cur, first = &restored, r.From.Window*(size-overlap)
	}
	for start := first; ; start += size - overlap {
		// Frame start+size exists exactly when the window at start is
		// not the last one.
		if err := s.read(start + size); err != nil {
			return err
		}
		var win Span
		last := false
		if n := s.inStart + len(s.in); n > start+size {
			win = Span{start, start + size}
		} else {
			if n == 0 {
				return nil
			}
			win, last = Span{max(0, n-size), n}, true
		}
		if cur != nil && curOut != nil {
			s.fold(prev, cur, &win, curOut)
		}
		if err := s.flush(win.Start); err != nil {
			return err
		}
		s.dropInput(win.Start)
		if cur != nil && curOut != nil && r.AfterWindow != nil {
			if err := r.AfterWindow(s.state(start/(size-overlap), *cur)); err != nil {
				return fmt.Errorf("after window [%d, %d): %w", cur.Start, cur.End, err)
			}
		}
		if err := s.ctx.Err(); err != nil {
			return err
		}
		clip := make([]*frame.Image, win.Len())
		copy(clip, s.in[:win.Len()])
		out, err := s.fn(s.ctx, clip)
		if err != nil {
			return fmt.Errorf("window [%d, %d): %w", win.Start, win.End, err)
		}
		if err := checkClip(out, len(clip), s.w*s.scale, s.h*s.scale); err != nil {
			return fmt.Errorf("window [%d, %d): %w", win.Start, win.End, err)
		}
		if last {
			s.fold(cur, &win, nil, out)
			return s.flush(win.End)
		}
		prev, cur, curOut = cur, &win, out
	}
}
