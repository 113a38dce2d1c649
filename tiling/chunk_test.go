package tiling

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pssr/pssr/frame"
)

// windowMix is a clip function whose outputs depend on every frame of the
// window and on the frame's position in it, like the networks' temporal
// attention: out[k] = in[k]·(1+k/7) + mean of the window (per sample),
// scaled up by 2 with nearest neighbours.
func windowMix(ctx context.Context, clip []*frame.Image) ([]*frame.Image, error) {
	mean := make([]float32, len(clip[0].Pix))
	for _, f := range clip {
		for j, v := range f.Pix {
			mean[j] += v / float32(len(clip))
		}
	}
	out := make([]*frame.Image, len(clip))
	for k, f := range clip {
		o := frame.New(2*f.W, 2*f.H)
		for y := 0; y < o.H; y++ {
			for x := 0; x < o.W; x++ {
				for c := 0; c < 3; c++ {
					j := ((y/2)*f.W+x/2)*3 + c
					o.Pix[(y*o.W+x)*3+c] = f.Pix[j]*(1+float32(k)/7) + mean[j]
				}
			}
		}
		out[k] = o
	}
	return out, nil
}

// TestProcessWindowsBlend checks that cutting the windows of a video into
// chunks, computing each chunk with ProcessWindows and finishing the
// frames chunks share with Blend gives bit-identical frames to
// ProcessStreamScaled, for many lengths, window sizes, overlaps (including
// overlaps above half a window, where three windows cover a frame, and the
// shifted last window) and chunkings.
func TestProcessWindowsBlend(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := 0
	for n := 1; n <= 23; n += 2 {
		frames := video(rng, n, 3, 2)
		for size := 1; size <= 7; size++ {
			for overlap := 0; overlap < size; overlap++ {
				var want []*frame.Image
				err := ProcessStreamScaled(t.Context(), source(frames), windowMix, func(f *frame.Image) error {
					want = append(want, f.Clone())
					return nil
				}, size, overlap, 2)
				if err != nil {
					t.Fatal(err)
				}
				spans, err := Windows(n, size, overlap)
				if err != nil {
					t.Fatal(err)
				}
				for per := 1; per <= len(spans); per++ {
					cases++
					got := make([]*frame.Image, n)
					parts := make([][]Part, n)
					for first := 0; first < len(spans); first += per {
						last := min(first+per, len(spans))
						err := ProcessWindows(t.Context(), spans, first, last, source(frames[spans[first].Start:spans[last-1].End]), windowMix, 2,
							func(i int, f *frame.Image) error {
								if got[i] != nil {
									t.Fatalf("frame %d emitted twice", i)
								}
								got[i] = f
								return nil
							},
							func(p Part) error {
								parts[p.Frame] = append(parts[p.Frame], p)
								return nil
							})
						if err != nil {
							t.Fatal(err)
						}
					}
					for i := range got {
						if parts[i] != nil {
							if got[i] != nil {
								t.Fatalf("n %d size %d overlap %d per %d: frame %d both emitted and in parts", n, size, overlap, per, i)
							}
							if got[i], err = Blend(spans, i, parts[i]); err != nil {
								t.Fatal(err)
							}
						}
						if got[i] == nil {
							t.Fatalf("n %d size %d overlap %d per %d: frame %d missing", n, size, overlap, per, i)
						}
						for j, v := range got[i].Pix {
							if math.Float32bits(v) != math.Float32bits(want[i].Pix[j]) {
								t.Fatalf("n %d size %d overlap %d per %d: frame %d sample %d = %v, ProcessStream %v", n, size, overlap, per, i, j, v, want[i].Pix[j])
							}
						}
					}
				}
			}
		}
	}
	if cases < 500 {
		t.Fatalf("only %d cases", cases)
	}
}

func TestBlendRefusesWrongParts(t *testing.T) {
	spans, _ := Windows(10, 4, 2) // [0,4) [2,6) [4,8) [6,10)
	img := frame.New(1, 1)
	if _, err := Blend(spans, 3, []Part{{3, 0, img}}); err == nil {
		t.Error("one part for a frame two windows cover was accepted")
	}
	if _, err := Blend(spans, 3, []Part{{3, 1, img}, {3, 0, img}}); err == nil {
		t.Error("parts out of window order were accepted")
	}
	if _, err := Blend(spans, 3, []Part{{3, 0, img}, {3, 1, img}}); err != nil {
		t.Error(err)
	}
	if err := ProcessWindows(t.Context(), spans, 2, 2, nil, windowMix, 1, nil, nil); err == nil {
		t.Error("an empty chunk was accepted")
	}
	if f, l := Covering(spans, 5); f != 1 || l != 3 {
		t.Errorf("Covering(5) = [%d, %d), want [1, 3)", f, l)
	}
}
