package frame

import (
	"fmt"
	"math"
	"testing"
)

var allKernels = []Kernel{Nearest, Bilinear, Bicubic, Lanczos3, Area}

// fill returns a w x h image with channel c of pixel (x, y) = f(x, y, c).
func fill(w, h int, f func(x, y, c int) float32) *Image {
	m := New(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				m.Set(x, y, c, f(x, y, c))
			}
		}
	}
	return m
}

func TestResizeSizes(t *testing.T) {
	src := fill(7, 5, func(x, y, c int) float32 { return float32(x+y+c) / 20 })
	cases := []struct{ w, h int }{
		{7, 5}, {14, 10}, {3, 2}, {1, 1}, {20, 3}, {7, 11}, {0, 4}, {5, 0},
	}
	for _, k := range allKernels {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%v/%dx%d", k, c.w, c.h), func(t *testing.T) {
				out := Resize(src, c.w, c.h, k)
				if out.W != c.w || out.H != c.h || len(out.Pix) != c.w*c.h*3 {
					t.Fatalf("got %dx%d (%d samples), want %dx%d", out.W, out.H, len(out.Pix), c.w, c.h)
				}
			})
		}
	}
}

func TestResizeSameSizeIsCopy(t *testing.T) {
	src := fill(9, 4, func(x, y, c int) float32 { return float32((x*7+y*3+c)%11) / 10 })
	for _, k := range allKernels {
		out := Resize(src, src.W, src.H, k)
		if &out.Pix[0] == &src.Pix[0] {
			t.Fatalf("%v: output shares the source buffer", k)
		}
		for i := range out.Pix {
			if out.Pix[i] != src.Pix[i] {
				t.Fatalf("%v: sample %d = %v, want %v", k, i, out.Pix[i], src.Pix[i])
			}
		}
	}
}

func TestResizeConstant(t *testing.T) {
	src := fill(13, 9, func(x, y, c int) float32 { return []float32{0.25, 0.5, 0.75}[c] })
	sizes := []struct{ w, h int }{{52, 36}, {26, 18}, {6, 4}, {5, 3}, {1, 1}, {17, 29}, {100, 2}}
	for _, k := range allKernels {
		for _, s := range sizes {
			out := Resize(src, s.w, s.h, k)
			for i, v := range out.Pix {
				want := []float32{0.25, 0.5, 0.75}[i%3]
				if math.Abs(float64(v-want)) > 1e-6 {
					t.Fatalf("%v %dx%d: sample %d = %v, want %v", k, s.w, s.h, i, v, want)
				}
			}
		}
	}
}

// smooth is a low-frequency test pattern in [0.1, 0.9].
func smooth(w, h int) *Image {
	return fill(w, h, func(x, y, c int) float32 {
		fx, fy := float64(x)/float64(w), float64(y)/float64(h)
		return float32(0.5 + 0.2*math.Sin(2*math.Pi*fx+float64(c)) + 0.2*math.Cos(2*math.Pi*fy*0.7))
	})
}

func TestResizeUpThenAreaDown(t *testing.T) {
	src := smooth(40, 30)
	cases := []struct {
		k      Kernel
		factor int
		tol    float64
	}{
		{Bilinear, 2, 0.01}, {Bicubic, 2, 0.01}, {Bicubic, 4, 0.01}, {Lanczos3, 3, 0.01},
		{Area, 4, 1e-6}, {Nearest, 4, 1e-6},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v/x%d", c.k, c.factor), func(t *testing.T) {
			up := Resize(src, src.W*c.factor, src.H*c.factor, c.k)
			down := Resize(up, src.W, src.H, Area)
			// Compare away from the border, where edge replication bends
			// the upsampled signal.
			worst := 0.0
			for y := 2; y < src.H-2; y++ {
				for x := 2; x < src.W-2; x++ {
					for ch := 0; ch < 3; ch++ {
						worst = math.Max(worst, math.Abs(float64(down.At(x, y, ch)-src.At(x, y, ch))))
					}
				}
			}
			if worst > c.tol {
				t.Fatalf("max error %.3g > %.3g", worst, c.tol)
			}
		})
	}
}

// TestResizeLinearRamp checks known values: interpolating kernels that
// reproduce linear functions (bilinear, Keys cubic) map a ramp to the same
// ramp sampled at (x+0.5)*scale-0.5, in the interior.
func TestResizeLinearRamp(t *testing.T) {
	const sw = 32
	ramp := func(x float64) float64 { return 0.1 + 0.02*x }
	src := fill(sw, 3, func(x, y, c int) float32 { return float32(ramp(float64(x))) })
	cases := []struct {
		k      Kernel
		w      int
		margin int
	}{
		{Bicubic, 64, 6}, {Bilinear, 64, 2}, {Bicubic, 16, 8}, {Bilinear, 16, 4}, {Area, 16, 1}, {Bicubic, 128, 10},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v/%d", c.k, c.w), func(t *testing.T) {
			out := Resize(src, c.w, 3, c.k)
			scale := float64(sw) / float64(c.w)
			for x := c.margin; x < c.w-c.margin; x++ {
				want := ramp((float64(x)+0.5)*scale - 0.5)
				if got := float64(out.At(x, 1, 0)); math.Abs(got-want) > 1e-5 {
					t.Fatalf("x=%d: %v, want %v", x, got, want)
				}
			}
		})
	}
}

// TestResizeBicubicKnownValues checks the Keys a=-0.5 weights directly: an
// impulse upsampled by 2 has values k(0.25)=0.8671875 and k(0.75)=0.2265625
// next to it, and k(1.25)=-0.0703125, k(1.75)=-0.0234375 further out.
func TestResizeBicubicKnownValues(t *testing.T) {
	src := fill(9, 1, func(x, y, c int) float32 {
		if x == 4 {
			return 1
		}
		return 0
	})
	out := Resize(src, 18, 1, Bicubic)
	// Output 8 and 9 sample the source at 3.75 and 4.25.
	want := map[int]float64{5: -0.0234375, 6: -0.0703125, 7: 0.2265625, 8: 0.8671875, 9: 0.8671875, 10: 0.2265625, 11: -0.0703125, 12: -0.0234375}
	for x, w := range want {
		if got := float64(out.At(x, 0, 1)); math.Abs(got-w) > 1e-6 {
			t.Errorf("x=%d: %v, want %v", x, got, w)
		}
	}
}

// TestResizeAntialias downscales one-pixel stripes by 3: without
// antialiasing the centre taps alternate between 0 and 1; with the widened
// support the result must be close to the mean, 0.5.
func TestResizeAntialias(t *testing.T) {
	src := fill(96, 4, func(x, y, c int) float32 { return float32(x % 2) })
	for _, k := range []Kernel{Bilinear, Bicubic, Lanczos3} {
		out := Resize(src, 32, 4, k)
		for x := 1; x < 31; x++ {
			if v := out.At(x, 2, 0); math.Abs(float64(v)-0.5) > 0.12 {
				t.Fatalf("%v: x=%d = %v, want about 0.5", k, x, v)
			}
		}
	}
}

func TestResizeEdgeReplicate(t *testing.T) {
	// A step at the left edge: with edge replication the first output
	// pixels of a 2x bicubic upsample equal the first source value.
	src := fill(6, 1, func(x, y, c int) float32 { return []float32{0.3, 0.3, 0.3, 0.8, 0.8, 0.8}[x] })
	out := Resize(src, 12, 1, Bicubic)
	for x := 0; x < 3; x++ {
		if v := out.At(x, 0, 0); math.Abs(float64(v)-0.3) > 1e-6 {
			t.Fatalf("x=%d = %v, want 0.3", x, v)
		}
	}
}

func TestParseKernel(t *testing.T) {
	cases := []struct {
		in      string
		want    Kernel
		wantErr bool
	}{
		{"nearest", Nearest, false}, {"Bilinear", Bilinear, false}, {"linear", Bilinear, false},
		{"BICUBIC", Bicubic, false}, {"cubic", Bicubic, false}, {"lanczos3", Lanczos3, false},
		{"lanczos", Lanczos3, false}, {"area", Area, false}, {" box ", Area, false},
		{"", 0, true}, {"spline", 0, true},
	}
	for _, c := range cases {
		got, err := ParseKernel(c.in)
		if (err != nil) != c.wantErr || (!c.wantErr && got != c.want) {
			t.Errorf("ParseKernel(%q) = %v, %v", c.in, got, err)
		}
	}
	for _, k := range allKernels {
		if got, err := ParseKernel(k.String()); err != nil || got != k {
			t.Errorf("round trip %v: %v, %v", k, got, err)
		}
	}
	if s := Kernel(42).String(); s != "Kernel(42)" {
		t.Errorf("String of unknown kernel = %q", s)
	}
}

func BenchmarkResizeBicubicX4(b *testing.B) {
	src := smooth(180, 144)
	for b.Loop() {
		Resize(src, 720, 576, Bicubic)
	}
}

func ExampleResize() {
	lq := New(180, 144)
	hq := Resize(lq, 720, 576, Bicubic).Clamp()
	fmt.Println(hq.W, hq.H)
	// Output: 720 576
}

// applyTaps resamples m along x (cols) or y to size dst with Taps, by hand.
func applyTaps(m *Image, dst int, k Kernel, cols bool) *Image {
	src, w, h := m.H, m.W, dst
	if cols {
		src, w, h = m.W, dst, m.H
	}
	idx, wt, n := Taps(src, dst, k)
	out := New(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := y
			if cols {
				o = x
			}
			for c := 0; c < 3; c++ {
				var s float32
				for i := 0; i < n; i++ {
					j := int(idx[o*n+i])
					if cols {
						s += wt[o*n+i] * m.At(j, y, c)
					} else {
						s += wt[o*n+i] * m.At(x, j, c)
					}
				}
				out.Set(x, y, c, s)
			}
		}
	}
	return out
}

// TestTapsReproduceResize applies Taps by hand along both axes and checks
// the result is Resize's, bit for bit, for up- and downscaling kernels.
func TestTapsReproduceResize(t *testing.T) {
	src := fill(13, 9, func(x, y, c int) float32 { return float32((x*7+y*3+c*5)%11) / 10 })
	for _, tc := range []struct {
		w, h int
		k    Kernel
	}{{52, 36, Bicubic}, {26, 18, Lanczos3}, {6, 4, Bicubic}, {13, 20, Bilinear}, {5, 9, Area}} {
		want := Resize(src, tc.w, tc.h, tc.k)
		got := src
		if tc.w != src.W {
			got = applyTaps(got, tc.w, tc.k, true)
		}
		if tc.h != src.H {
			got = applyTaps(got, tc.h, tc.k, false)
		}
		for i := range want.Pix {
			if got.Pix[i] != want.Pix[i] {
				t.Fatalf("%dx%d %v: sample %d is %v, Resize gives %v", tc.w, tc.h, tc.k, i, got.Pix[i], want.Pix[i])
			}
		}
	}
}
