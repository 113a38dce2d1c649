package tiling

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pssr/pssr/frame"
)

// mixClip is a deterministic clip function whose output depends on the
// whole window: each frame is blended with the window's mean frame, so a
// resumed stream that cut its windows differently would differ.
func mixClip(calls *int) ClipFunc {
	return func(ctx context.Context, clip []*frame.Image) ([]*frame.Image, error) {
		*calls++
		mean := frame.New(clip[0].W, clip[0].H)
		for _, f := range clip {
			for j, v := range f.Pix {
				mean.Pix[j] += v / float32(len(clip))
			}
		}
		out := make([]*frame.Image, len(clip))
		for i, f := range clip {
			out[i] = frame.New(f.W, f.H)
			for j, v := range f.Pix {
				out[i].Pix[j] = 0.6*v + 0.4*mean.Pix[j] + float32(i)*1e-3
			}
		}
		return out, nil
	}
}

// copyState deep-copies a reported state (it is only valid during the call).
func copyState(st *State) *State {
	c := *st
	c.Pending = make([]Pending, len(st.Pending))
	for i, p := range st.Pending {
		c.Pending[i] = Pending{Sum: p.Sum.Clone(), WSum: p.WSum}
	}
	return &c
}

// TestProcessStreamResumable resumes a stream from every state it reported
// and checks that the frames emitted after the resume are bit-identical to
// the uninterrupted run's, and that no finished window is computed again.
func TestProcessStreamResumable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ n, size, overlap int }{
		{10, 4, 2}, {11, 4, 1}, {9, 3, 0}, {17, 5, 3}, {40, 33, 16}, {51, 33, 16}, {7, 8, 2},
	} {
		in := video(rng, c.n, 5, 3)
		var full []*frame.Image
		var states []*State
		calls := 0
		err := ProcessStreamResumable(t.Context(), source(in), mixClip(&calls), func(f *frame.Image) error {
			full = append(full, f.Clone())
			return nil
		}, c.size, c.overlap, 1, Resumable{AfterWindow: func(st *State) error {
			if st.Emitted != len(full) {
				t.Errorf("%v: state says %d emitted, %d were", c, st.Emitted, len(full))
			}
			states = append(states, copyState(st))
			return nil
		}})
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		spans, _ := Windows(c.n, c.size, c.overlap)
		if calls != len(spans) || len(states) != len(spans)-1 || len(full) != c.n {
			t.Fatalf("%v: %d calls, %d states, %d frames; want %d, %d, %d", c, calls, len(states), len(full), len(spans), len(spans)-1, c.n)
		}
		for _, st := range states {
			var got []*frame.Image
			calls := 0
			err := ProcessStreamResumable(t.Context(), source(in), mixClip(&calls), func(f *frame.Image) error {
				got = append(got, f.Clone())
				return nil
			}, c.size, c.overlap, 1, Resumable{From: copyState(st)})
			if err != nil {
				t.Fatalf("%v from window %d: %v", c, st.Window, err)
			}
			if calls != len(spans)-st.Window {
				t.Errorf("%v from window %d: %d windows computed, want %d", c, st.Window, calls, len(spans)-st.Window)
			}
			if len(got) != c.n-st.Emitted {
				t.Fatalf("%v from window %d: %d frames, want %d", c, st.Window, len(got), c.n-st.Emitted)
			}
			for i, f := range got {
				if !slices.Equal(f.Pix, full[st.Emitted+i].Pix) {
					t.Fatalf("%v from window %d: frame %d differs from the uninterrupted run", c, st.Window, st.Emitted+i)
				}
			}
		}
	}
}

func TestProcessStreamResumableErrors(t *testing.T) {
	in := video(rand.New(rand.NewPCG(1, 2)), 6, 4, 4)
	calls := 0
	// A state from a longer video than the input.
	st := &State{Window: 2, Emitted: 8, Last: Span{6, 10}, Pending: make([]Pending, 2)}
	for i := range st.Pending {
		st.Pending[i] = Pending{Sum: frame.New(4, 4), WSum: 0.5}
	}
	err := ProcessStreamResumable(t.Context(), source(in), mixClip(&calls), func(*frame.Image) error { return nil }, 4, 2, 1, Resumable{From: st})
	if err == nil || calls != 0 {
		t.Fatalf("resume past the input's end: err %v, %d calls", err, calls)
	}
	// An inconsistent state.
	bad := &State{Window: 1, Emitted: 2, Last: Span{0, 4}}
	if err := ProcessStreamResumable(t.Context(), source(in), mixClip(&calls), func(*frame.Image) error { return nil }, 4, 2, 1, Resumable{From: bad}); err == nil {
		t.Fatal("inconsistent state accepted")
	}
}
