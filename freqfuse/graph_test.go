package freqfuse

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/testbackend"
)

// testImage returns a deterministic w x h test frame: a smooth colour
// gradient, a vertical edge at 40% of the width, and seeded noise of
// amplitude noise, clamped to [0, 1].
func testImage(seed uint64, w, h int, noise float64) *frame.Image {
	rng := rand.New(rand.NewPCG(seed, 77))
	m := frame.New(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			base := [3]float64{0.2 + 0.5*fx, 0.3 + 0.4*fy, 0.6 - 0.3*fx*fy}
			edge := 0.0
			if x >= 2*w/5 {
				edge = 0.25
			}
			for c := 0; c < 3; c++ {
				v := base[c] + edge + noise*(rng.Float64()-0.5)
				m.Set(x, y, c, float32(math.Min(1, math.Max(0, v))))
			}
		}
	}
	return m
}

// batchTensor stacks frames of one size into an [N, H, W, 3] tensor of
// dtype (Float32 or Float64).
func batchTensor(dtype dtypes.DType, frames ...*frame.Image) *tensors.Tensor {
	w, h := frames[0].W, frames[0].H
	if dtype == dtypes.Float64 {
		flat := make([]float64, 0, len(frames)*w*h*3)
		for _, f := range frames {
			for _, v := range f.Pix {
				flat = append(flat, float64(v))
			}
		}
		return tensors.FromFlatDataAndDimensions(flat, len(frames), h, w, 3)
	}
	flat := make([]float32, 0, len(frames)*w*h*3)
	for _, f := range frames {
		flat = append(flat, f.Pix...)
	}
	return tensors.FromFlatDataAndDimensions(flat, len(frames), h, w, 3)
}

// flat64 returns t's samples as float64.
func flat64(t *tensors.Tensor) []float64 {
	if t.DType() == dtypes.Float64 {
		return tensors.MustCopyFlatData[float64](t)
	}
	f := tensors.MustCopyFlatData[float32](t)
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out
}

// fuseOnGraph runs FuseGraphMethod on be for the frame pairs.
func fuseOnGraph(t testing.TB, be compute.Backend, p Params, m LowPassMethod, dtype dtypes.DType, cons, sharp []*frame.Image) []float64 {
	t.Helper()
	e, err := graph.NewExec(be, func(c, s *graph.Node) *graph.Node { return FuseGraphMethod(c, s, p, m) })
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	out, err := e.Exec(batchTensor(dtype, cons...), batchTensor(dtype, sharp...))
	if err != nil {
		t.Fatal(err)
	}
	return flat64(out[0])
}

// supports reports whether be can run method m.
func supports(be compute.Backend, m LowPassMethod) bool {
	return m != LowPassFFT || be.Capabilities().Operations[compute.OpTypeFFT]
}

func TestLowPassMethod(t *testing.T) {
	be := testbackend.New(t)
	if got := LowPassAuto.resolve(be); got != LowPassDFT {
		t.Errorf("auto on the Go backend resolves to %v, want dft", got)
	}
	if got := LowPassFFT.resolve(be); got != LowPassFFT {
		t.Errorf("explicit fft resolves to %v", got)
	}
	// An explicit FFT on a backend without it fails with a clear error.
	e, err := graph.NewExec(be, func(y *graph.Node) *graph.Node { return LowPassGraphMethod(y, DefaultParams(), LowPassFFT) })
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	if !supports(be, LowPassFFT) {
		_, err = e.Exec(tensors.FromShape(shapes.Make(dtypes.Float32, 4, 4)))
		if err == nil || !strings.Contains(err.Error(), "LowPassFFT needs a backend with the FFT op") {
			t.Errorf("LowPassFFT on %s: error %v", be.Name(), err)
		}
	}
	for m, want := range map[LowPassMethod]string{LowPassAuto: "auto", LowPassFFT: "fft", LowPassDFT: "dft", 7: "LowPassMethod(7)"} {
		if m.String() != want {
			t.Errorf("String() = %q, want %q", m.String(), want)
		}
	}
}

// The half-spectrum filter is Fuser's filter, without its 1/(W·H).
func TestHalfFilterMatchesFuser(t *testing.T) {
	for _, s := range []struct{ w, h int }{{8, 6}, {9, 7}, {37, 29}, {50, 33}, {1, 4}, {5, 1}} {
		p := Params{Alpha: 1, Fc: 0.15, Order: 3}
		f, _ := New(p)
		f.prepare(s.w, s.h)
		wr := s.w/2 + 1
		half := halfFilter(s.w, s.h, p.Fc, p.Order)
		for ky := 0; ky < s.h; ky++ {
			for kx := 0; kx < wr; kx++ {
				want := f.filt[ky*s.w+kx] * float64(s.w*s.h)
				if d := math.Abs(half[ky*wr+kx] - want); d > 1e-15 {
					t.Fatalf("%dx%d (%d,%d): %v, want %v", s.w, s.h, kx, ky, half[ky*wr+kx], want)
				}
			}
		}
	}
}

// In float64 the graph's low pass is Fuser.LowPassY to rounding, for planes
// of rank 2 and rank 4.
func TestLowPassGraphMatchesLowPassY(t *testing.T) {
	be := testbackend.New(t)
	rng := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		w, h int
		p    Params
	}{
		{8, 8, DefaultParams()},
		{9, 7, Params{Alpha: 1, Fc: 0.35, Order: 1}},
		{16, 5, Params{Alpha: 1, Fc: 0.1, Order: 5}},
		{1, 6, DefaultParams()},
		{7, 1, DefaultParams()},
		{37, 29, DefaultParams()},
	}
	for _, c := range cases {
		for _, m := range []LowPassMethod{LowPassAuto, LowPassDFT, LowPassFFT} {
			if !supports(be, m) {
				continue
			}
			t.Run(fmt.Sprintf("%v_%dx%d_fc%v_n%d", m, c.w, c.h, c.p.Fc, c.p.Order), func(t *testing.T) {
				f, _ := New(c.p)
				const planes = 3
				ys := make([]float64, planes*c.w*c.h)
				for i := range ys {
					ys[i] = rng.Float64()
				}
				inputs := []*tensors.Tensor{
					tensors.FromFlatDataAndDimensions(append([]float64(nil), ys...), planes, 1, c.h, c.w),
					tensors.FromFlatDataAndDimensions(append([]float64(nil), ys[:c.w*c.h]...), c.h, c.w),
				}
				for _, in := range inputs {
					e, err := graph.NewExec(be, func(y *graph.Node) *graph.Node {
						if m == LowPassAuto {
							return LowPassGraph(y, c.p)
						}
						return LowPassGraphMethod(y, c.p, m)
					})
					if err != nil {
						t.Fatal(err)
					}
					out, err := e.Exec(in)
					e.Finalize()
					if err != nil {
						t.Fatal(err)
					}
					if !out[0].Shape().Equal(in.Shape()) {
						t.Fatalf("shape %s, want %s", out[0].Shape(), in.Shape())
					}
					got := flat64(out[0])
					for k := 0; k*c.w*c.h < len(got); k++ {
						want := f.LowPassY(ys[k*c.w*c.h:(k+1)*c.w*c.h], c.w, c.h)
						for i, v := range want {
							if d := math.Abs(got[k*c.w*c.h+i] - v); d > 1e-10 {
								t.Fatalf("input %s plane %d sample %d: %v, want %v", in.Shape(), k, i, got[k*c.w*c.h+i], v)
							}
						}
					}
				}
			})
		}
	}
}

// FuseGraph on a batch of frame pairs agrees with Fuser.Fuse frame by frame:
// within 3e-4 in float32, within 1e-6 in float64 (Fuser's float32 output).
func TestFuseGraphMatchesFuser(t *testing.T) {
	be := testbackend.New(t)
	sizes := []struct{ w, h int }{{37, 29}, {64, 48}, {50, 33}}
	params := []struct {
		name string
		p    Params
	}{
		{"default", DefaultParams()},
		{"alpha0.5_fc0.1_n3_border0", Params{Alpha: 0.5, Fc: 0.1, Order: 3, Border: 0}},
		{"border4", Params{Alpha: 1, Fc: 0.2, Order: 2, Border: 4}},
		{"alpha1.8_fc0.4_n1", Params{Alpha: 1.8, Fc: 0.4, Order: 1, Border: 1}},
	}
	dtypesTol := []struct {
		dtype dtypes.DType
		tol   float64
	}{{dtypes.Float32, 3e-4}, {dtypes.Float64, 1e-6}}
	methods := []LowPassMethod{LowPassAuto, LowPassDFT, LowPassFFT}
	worst := 0.0
	for _, s := range sizes {
		// Two frame pairs per batch; the sharp frames are the consistent
		// ones with more noise, the second pair shifted in content.
		cons := []*frame.Image{testImage(1, s.w, s.h, 0.05), testImage(2, s.w, s.h, 0.2)}
		sharp := []*frame.Image{testImage(3, s.w, s.h, 0.3), testImage(4, s.w, s.h, 0.1)}
		for _, pc := range params {
			f, err := New(pc.p)
			if err != nil {
				t.Fatal(err)
			}
			var want []float64
			for i := range cons {
				out, err := f.Fuse(cons[i], sharp[i])
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range out.Pix {
					want = append(want, float64(v))
				}
			}
			for _, dt := range dtypesTol {
				for _, m := range methods {
					if !supports(be, m) {
						continue
					}
					t.Run(fmt.Sprintf("%dx%d_%s_%s_%v", s.w, s.h, pc.name, dt.dtype, m), func(t *testing.T) {
						got := fuseOnGraph(t, be, pc.p, m, dt.dtype, cons, sharp)
						maxD, at := 0.0, 0
						for i := range want {
							if d := math.Abs(got[i] - want[i]); d > maxD {
								maxD, at = d, i
							}
						}
						if dt.dtype == dtypes.Float32 {
							worst = max(worst, maxD)
						}
						if maxD >= dt.tol {
							t.Fatalf("max |graph - Fuser| = %g at sample %d (%v vs %v), want < %g", maxD, at, got[at], want[at], dt.tol)
						}
					})
				}
			}
		}
	}
	t.Logf("worst float32 max |FuseGraph - Fuser.Fuse| = %.3g", worst)
}

// With identical inputs the update returns the input: clamped to [0, 1]
// inside the border, unchanged on it.
func TestFuseGraphIdenticalInputs(t *testing.T) {
	be := testbackend.New(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, border := range []int{0, 2} {
		for _, s := range []struct{ w, h int }{{32, 24}, {17, 13}} {
			p := DefaultParams()
			p.Border = border
			in := testImage(uint64(s.w), s.w, s.h, 0.4)
			// A few samples out of range, to see the clamp.
			for k := 0; k < 20; k++ {
				in.Pix[rng.IntN(len(in.Pix))] = -0.05 + 1.1*float32(k%2)
			}
			got := fuseOnGraph(t, be, p, LowPassAuto, dtypes.Float32, []*frame.Image{in}, []*frame.Image{in})
			for i, v := range in.Pix {
				x, y := (i/3)%s.w, i/3/s.w
				want := float64(v)
				if x >= border && y >= border && x < s.w-border && y < s.h-border {
					want = math.Min(1, math.Max(0, want))
				}
				if math.Abs(got[i]-want) > 1e-5 {
					t.Fatalf("border %d %dx%d: sample %d = %v, want %v", border, s.w, s.h, i, got[i], want)
				}
			}
		}
	}
}

func TestFuseGraphErrors(t *testing.T) {
	be := testbackend.New(t)
	f32 := func(dims ...int) shapeArg { return shapeArg{dtypes.Float32, dims} }
	bad := DefaultParams()
	bad.Order = 0
	cases := []struct {
		name   string
		c, s   shapeArg
		p      Params
		substr string
	}{
		{"size mismatch", f32(1, 8, 6, 3), f32(1, 6, 8, 3), DefaultParams(), "differ"},
		{"batch mismatch", f32(2, 8, 6, 3), f32(1, 8, 6, 3), DefaultParams(), "differ"},
		{"dtype mismatch", f32(1, 8, 6, 3), shapeArg{dtypes.Float64, []int{1, 8, 6, 3}}, DefaultParams(), "differ"},
		{"rank 3", f32(8, 6, 3), f32(8, 6, 3), DefaultParams(), "[N, H, W, 3]"},
		{"4 channels", f32(1, 8, 6, 4), f32(1, 8, 6, 4), DefaultParams(), "[N, H, W, 3]"},
		{"int", shapeArg{dtypes.Int32, []int{1, 8, 6, 3}}, shapeArg{dtypes.Int32, []int{1, 8, 6, 3}}, DefaultParams(), "float32 or float64"},
		{"bad params", f32(1, 8, 6, 3), f32(1, 8, 6, 3), bad, "order"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := graph.NewExec(be, func(cn, sn *graph.Node) *graph.Node { return FuseGraph(cn, sn, c.p) })
			if err != nil {
				t.Fatal(err)
			}
			defer e.Finalize()
			_, err = e.Exec(tensors.FromShape(c.c.shape()), tensors.FromShape(c.s.shape()))
			if err == nil || !strings.Contains(err.Error(), "freqfuse") || !strings.Contains(err.Error(), c.substr) {
				t.Fatalf("error %v, want a freqfuse error naming %q", err, c.substr)
			}
		})
	}
}

// shapeArg is a dtype and dimensions for TestFuseGraphErrors.
type shapeArg struct {
	dtype dtypes.DType
	dims  []int
}

func (a shapeArg) shape() shapes.Shape { return shapes.Make(a.dtype, a.dims...) }

// BenchmarkFuseGraph fuses 4 frame pairs of 256x256 per op on the test
// backend (compiled once, outside the timing).
func BenchmarkFuseGraph(b *testing.B) {
	be := testbackend.New(b)
	const n, w, h = 4, 256, 256
	var cons, sharp []*frame.Image
	for i := range n {
		cons = append(cons, testImage(uint64(i), w, h, 0.05))
		sharp = append(sharp, testImage(uint64(i+n), w, h, 0.3))
	}
	c, s := batchTensor(dtypes.Float32, cons...), batchTensor(dtypes.Float32, sharp...)
	e, err := graph.NewExec(be, func(c, s *graph.Node) *graph.Node { return FuseGraph(c, s, DefaultParams()) })
	if err != nil {
		b.Fatal(err)
	}
	defer e.Finalize()
	if _, err := e.Exec(c, s); err != nil { // compile
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := e.Exec(c, s); err != nil {
			b.Fatal(err)
		}
	}
}
