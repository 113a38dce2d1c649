package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pssr/pssr/frame"
)

// quantize rounds every sample to its 8-bit code.
func quantize(m *frame.Image) *frame.Image {
	out := m.Clone()
	for i, v := range out.Pix {
		out.Pix[i] = float32(math.Round(float64(v)*255)) / 255
	}
	return out
}

// shifted returns m moved by (dx, dy) whole pixels: out(x, y) = m(x-dx, y-dy);
// the uncovered strip is filled from fill.
func shifted(m, fill *frame.Image, dx, dy int) *frame.Image {
	out := frame.New(m.W, m.H)
	for y := range m.H {
		for x := range m.W {
			sx, sy := x-dx, y-dy
			for c := range 3 {
				if sx >= 0 && sy >= 0 && sx < m.W && sy < m.H {
					out.Set(x, y, c, m.At(sx, sy, c))
				} else {
					out.Set(x, y, c, fill.At(x, y, c))
				}
			}
		}
	}
	return out
}

func TestWarpErrorGlobalShift(t *testing.T) {
	const w, h = 96, 80
	prev := quantize(texture(11, w, h, 0.1, 0.9))
	cur := shifted(prev, quantize(texture(12, w, h, 0.1, 0.9)), 3, 2)
	r := rand.New(rand.NewPCG(3, 3))
	flicker := addEach(cur, func(int, int, int) float32 { return 0.03 * float32(r.NormFloat64()) })
	tests := []struct {
		name     string
		predPrev *frame.Image
		predCur  *frame.Image
		lo, hi   float64
	}{
		// The prediction moves exactly like the ground truth: warping the
		// previous prediction along the (-3, -2) flow reproduces the current
		// one wherever the mask keeps pixels.
		{"consistent", prev, cur, 0, 2e-4},
		// Independent N(0, 0.03) noise on every sample of the current frame:
		// on Y its deviation is 0.03·|(0.257, 0.504, 0.098)| = 0.0172 and the
		// mean absolute error 0.0172·sqrt(2/π) = 0.0137.
		{"flicker", prev, flicker, 0.0125, 0.015},
		// A frozen prediction ignores the motion.
		{"frozen", prev, prev, 0.03, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := WarpError(prev, cur, tc.predPrev, tc.predCur, 4)
			if err != nil {
				t.Fatal(err)
			}
			if got < tc.lo || got > tc.hi {
				t.Errorf("WarpError = %.6f, want in [%g, %g]", got, tc.lo, tc.hi)
			}
		})
	}
}

func TestTemporalDiff(t *testing.T) {
	const w, h = 24, 20
	gp := quantize(texture(21, w, h, 0.2, 0.8))
	gc := quantize(texture(22, w, h, 0.2, 0.8))
	plus := func(m *frame.Image, code int) *frame.Image {
		return addEach(m, func(int, int, int) float32 { return float32(code) / 255 })
	}
	tests := []struct {
		name   string
		gp, gc *frame.Image
		pp, pc *frame.Image
		want   float64
	}{
		{"exact", gp, gc, gp, gc, 0},
		// A constant error does not flicker: the changes agree exactly.
		{"constant-offset", gp, gc, plus(gp, 20), plus(gc, 20), 0},
		// Static truth, prediction jumps by 51 codes: ΔY = 219·51/255².
		{"jump", gray8(w, h, 100), gray8(w, h, 100), gray8(w, h, 100), gray8(w, h, 151), 11169.0 / 65025},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TemporalDiff(tc.gp, tc.gc, tc.pp, tc.pc, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got, tc.want, 1e-12) {
				t.Errorf("got %.12f want %.12f", got, tc.want)
			}
		})
	}
}
