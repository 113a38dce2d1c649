package freqfuse

import (
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pssr/pssr/frame"
)

// randImage returns a w x h image with samples uniform in [lo, hi).
func randImage(rng *rand.Rand, w, h int, lo, hi float32) *frame.Image {
	m := frame.New(w, h)
	for i := range m.Pix {
		m.Pix[i] = lo + (hi-lo)*rng.Float32()
	}
	return m
}

// lumaPlane returns the Y plane of m.
func lumaPlane(m *frame.Image) []float64 {
	y := make([]float64, m.W*m.H)
	for i := range y {
		p := m.Pix[3*i:]
		y[i], _, _ = RGBToYUV(float64(p[0]), float64(p[1]), float64(p[2]))
	}
	return y
}

// dft2 is a naive 2-D DFT of a row-major w x h plane (sign -1 forward,
// +1 inverse, unnormalised).
func dft2(x []complex128, w, h int, sign float64) []complex128 {
	tmp := make([]complex128, w*h)
	for r := 0; r < h; r++ {
		for k := 0; k < w; k++ {
			var s complex128
			for n := 0; n < w; n++ {
				s += x[r*w+n] * cmplx.Rect(1, sign*2*math.Pi*float64(k*n)/float64(w))
			}
			tmp[r*w+k] = s
		}
	}
	out := make([]complex128, w*h)
	for c := 0; c < w; c++ {
		for k := 0; k < h; k++ {
			var s complex128
			for n := 0; n < h; n++ {
				s += tmp[n*w+c] * cmplx.Rect(1, sign*2*math.Pi*float64(k*n)/float64(h))
			}
			out[k*w+c] = s
		}
	}
	return out
}

// roll shifts a plane by (dx, dy) cyclically, as numpy.roll does:
// out[(y+dy)%h][(x+dx)%w] = in[y][x].
func roll(x []complex128, w, h, dx, dy int) []complex128 {
	out := make([]complex128, w*h)
	for y := 0; y < h; y++ {
		for i := 0; i < w; i++ {
			out[((y+dy)%h+h)%h*w+((i+dx)%w+w)%w] = x[y*w+i]
		}
	}
	return out
}

// refLowPass follows the method text literally: orthonormal FFT, fftshift,
// multiply by H built on linspace(-0.5, 0.5, W) x linspace(-0.5, 0.5, H),
// ifftshift, inverse orthonormal FFT, real part.
func refLowPass(y []float64, w, h int, fc float64, order int) []float64 {
	z := make([]complex128, w*h)
	for i, v := range y {
		z[i] = complex(v, 0)
	}
	norm := complex(1/math.Sqrt(float64(w*h)), 0)
	F := dft2(z, w, h, -1)
	for i := range F {
		F[i] *= norm
	}
	F = roll(F, w, h, w/2, h/2) // fftshift
	lin := func(i, n int) float64 {
		if n == 1 {
			return -0.5
		}
		return -0.5 + float64(i)/float64(n-1)
	}
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			r := math.Sqrt(lin(i, w)*lin(i, w) + lin(j, h)*lin(j, h))
			F[j*w+i] *= complex(1/(1+math.Pow(r/fc, float64(2*order))), 0)
		}
	}
	F = roll(F, w, h, -(w / 2), -(h / 2)) // ifftshift
	back := dft2(F, w, h, 1)
	out := make([]float64, w*h)
	for i, v := range back {
		out[i] = real(v * norm)
	}
	return out
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Params)
		want string // substring of the error; "" for none
	}{
		{"default", func(p *Params) {}, ""},
		{"alpha0", func(p *Params) { p.Alpha = 0 }, ""},
		{"alpha2", func(p *Params) { p.Alpha = 2 }, ""},
		{"alphaNeg", func(p *Params) { p.Alpha = -0.1 }, "alpha"},
		{"alphaBig", func(p *Params) { p.Alpha = 2.01 }, "alpha"},
		{"alphaNaN", func(p *Params) { p.Alpha = math.NaN() }, "alpha"},
		{"fcZero", func(p *Params) { p.Fc = 0 }, "fc"},
		{"fcMax", func(p *Params) { p.Fc = 0.7072 }, ""},
		{"fcBig", func(p *Params) { p.Fc = 0.71 }, "fc"},
		{"order0", func(p *Params) { p.Order = 0 }, "order"},
		{"order8", func(p *Params) { p.Order = 8 }, ""},
		{"order9", func(p *Params) { p.Order = 9 }, "order"},
		{"border0", func(p *Params) { p.Border = 0 }, ""},
		{"borderNeg", func(p *Params) { p.Border = -1 }, "border"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := DefaultParams()
			c.mod(&p)
			err := p.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if _, err := New(p); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
			if _, err := New(p); err == nil {
				t.Fatal("New accepted invalid params")
			}
		})
	}
}

func TestDefaultParams(t *testing.T) {
	if p := DefaultParams(); p != (Params{Alpha: 1, Fc: 0.2, Order: 2, Border: 2}) {
		t.Fatalf("DefaultParams() = %+v", p)
	}
}

func TestButterworth(t *testing.T) {
	for _, fc := range []float64{0.05, 0.2, 0.5, 0.7072} {
		for order := 1; order <= 8; order++ {
			if g := Butterworth(0, fc, order); g != 1 {
				t.Errorf("fc=%v n=%d: H(0) = %v, want 1", fc, order, g)
			}
			if g := Butterworth(fc, fc, order); math.Abs(g-0.5) > 1e-15 {
				t.Errorf("fc=%v n=%d: H(fc) = %v, want 0.5", fc, order, g)
			}
			if a, b := Butterworth(fc/2, fc, order), Butterworth(2*fc, fc, order); !(a > 0.5 && b < 0.5) {
				t.Errorf("fc=%v n=%d: not a low-pass (%v, %v)", fc, order, a, b)
			}
		}
	}
	// The cached filter: for odd sizes the DC bin sits exactly on u=v=0.
	f, _ := New(DefaultParams())
	f.prepare(9, 7)
	if got := f.filt[0] * 9 * 7; math.Abs(got-1) > 1e-15 {
		t.Fatalf("filter at DC = %v, want 1", got)
	}
}

func TestYUVRoundTrip(t *testing.T) {
	cases := [][3]float64{{0, 0, 0}, {1, 1, 1}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0.2, 0.7, 0.4}}
	for _, c := range cases {
		y, u, v := RGBToYUV(c[0], c[1], c[2])
		r, g, b := YUVToRGB(y, u, v)
		if math.Abs(r-c[0]) > 1e-14 || math.Abs(g-c[1]) > 1e-14 || math.Abs(b-c[2]) > 1e-14 {
			t.Errorf("%v -> %v %v %v", c, r, g, b)
		}
	}
	if y, _, _ := RGBToYUV(1, 1, 1); math.Abs(y-1) > 1e-15 {
		t.Errorf("Y of white = %v", y)
	}
}

func TestLowPassMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []struct{ w, h int }{{8, 8}, {5, 4}, {6, 7}, {9, 3}, {1, 5}, {12, 10}, {16, 1}, {75, 61}} // 75x61 takes the parallel path
	for _, p := range []Params{DefaultParams(), {Alpha: 1, Fc: 0.35, Order: 1}, {Alpha: 1, Fc: 0.1, Order: 5}} {
		f, err := New(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sizes {
			t.Run(fmt.Sprintf("fc%v_n%d_%dx%d", p.Fc, p.Order, s.w, s.h), func(t *testing.T) {
				y := make([]float64, s.w*s.h)
				for i := range y {
					y[i] = rng.Float64()
				}
				got := f.LowPassY(y, s.w, s.h)
				want := refLowPass(y, s.w, s.h, p.Fc, p.Order)
				for i := range got {
					if math.Abs(got[i]-want[i]) > 1e-10 {
						t.Fatalf("sample %d: %v, want %v", i, got[i], want[i])
					}
				}
			})
		}
	}
}

func TestFuseIdenticalInputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, border := range []int{0, 2} {
		for _, s := range []struct{ w, h int }{{32, 24}, {17, 13}} {
			p := DefaultParams()
			p.Border = border
			f, _ := New(p)
			in := randImage(rng, s.w, s.h, 0, 1)
			out, err := f.Fuse(in, in.Clone())
			if err != nil {
				t.Fatal(err)
			}
			for i := range in.Pix {
				if math.Abs(float64(out.Pix[i]-in.Pix[i])) > 1e-5 {
					t.Fatalf("border %d %dx%d: sample %d = %v, want %v", border, s.w, s.h, i, out.Pix[i], in.Pix[i])
				}
			}
		}
	}
}

// expectLowOnly builds the alpha=0 result from the definition: the
// consistent frame's low luma band with its chroma, clamped, and its border.
func expectLowOnly(c *frame.Image, low []float64, border int) *frame.Image {
	out := frame.New(c.W, c.H)
	for y := 0; y < c.H; y++ {
		for x := 0; x < c.W; x++ {
			i := y*c.W + x
			p := c.Pix[3*i : 3*i+3]
			if x < border || y < border || x >= c.W-border || y >= c.H-border {
				copy(out.Pix[3*i:], p)
				continue
			}
			_, u, v := RGBToYUV(float64(p[0]), float64(p[1]), float64(p[2]))
			r, g, b := YUVToRGB(low[i], u, v)
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = float32(r), float32(g), float32(b)
		}
	}
	return out.Clamp()
}

func TestFuseAlphaZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, border := range []int{0, 2, 5} {
		p := DefaultParams()
		p.Alpha, p.Border = 0, border
		f, _ := New(p)
		c := randImage(rng, 30, 20, 0, 1)
		s := randImage(rng, 30, 20, 0, 1)
		out, err := f.Fuse(c, s)
		if err != nil {
			t.Fatal(err)
		}
		want := expectLowOnly(c, refLowPass(lumaPlane(c), c.W, c.H, p.Fc, p.Order), border)
		for i := range want.Pix {
			if math.Abs(float64(out.Pix[i]-want.Pix[i])) > 1e-6 {
				t.Fatalf("border %d: sample %d = %v, want %v", border, i, out.Pix[i], want.Pix[i])
			}
		}
	}
}

// TestFuseLowBandFromConsistent checks the decomposition in the fused luma:
// with no clamping, Y_out minus alpha times the blended high band (computed
// independently from the literal definition) is the consistent frame's low
// band, and the border is the consistent frame's.
func TestFuseLowBandFromConsistent(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const w, h = 24, 18
	for _, alpha := range []float64{1, 0.6, 1.7} {
		p := DefaultParams()
		p.Alpha = alpha
		f, _ := New(p)
		c := randImage(rng, w, h, 0.4, 0.6)
		s := randImage(rng, w, h, 0.4, 0.6)
		out, err := f.Fuse(c, s)
		if err != nil {
			t.Fatal(err)
		}
		yc, ys, yo := lumaPlane(c), lumaPlane(s), lumaPlane(out)
		lowC := refLowPass(yc, w, h, p.Fc, p.Order)
		lowS := refLowPass(ys, w, h, p.Fc, p.Order)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				i := y*w + x
				for ch := 0; ch < 3; ch++ {
					if v := out.Pix[3*i+ch]; v <= 0 || v >= 1 {
						t.Fatalf("clamping happened at %d: %v", i, v)
					}
				}
				if x < p.Border || y < p.Border || x >= w-p.Border || y >= h-p.Border {
					for ch := 0; ch < 3; ch++ {
						if out.Pix[3*i+ch] != c.Pix[3*i+ch] {
							t.Fatalf("border pixel (%d,%d) not copied", x, y)
						}
					}
					continue
				}
				hc, hs := yc[i]-lowC[i], ys[i]-lowS[i]
				wt := math.Abs(hs) / (math.Abs(hs) + math.Abs(hc) + 1e-6)
				low := yo[i] - alpha*(wt*hs+(1-wt)*hc)
				if math.Abs(low-lowC[i]) > 1e-4 {
					t.Fatalf("alpha %v (%d,%d): low band %v, want %v", alpha, x, y, low, lowC[i])
				}
				// Chroma comes from the consistent frame.
				_, uo, vo := RGBToYUV(float64(out.Pix[3*i]), float64(out.Pix[3*i+1]), float64(out.Pix[3*i+2]))
				_, uc, vc := RGBToYUV(float64(c.Pix[3*i]), float64(c.Pix[3*i+1]), float64(c.Pix[3*i+2]))
				if math.Abs(uo-uc) > 1e-6 || math.Abs(vo-vc) > 1e-6 {
					t.Fatalf("(%d,%d): chroma %v %v, want %v %v", x, y, uo, vo, uc, vc)
				}
			}
		}
	}
}

func TestFuseErrorsAndReuse(t *testing.T) {
	f, _ := New(DefaultParams())
	a, b := frame.New(8, 6), frame.New(6, 8)
	cases := []struct {
		name string
		c, s *frame.Image
	}{
		{"mismatch", a, b}, {"nilC", nil, a}, {"nilS", a, nil}, {"empty", frame.New(0, 0), frame.New(0, 0)},
	}
	for _, c := range cases {
		if _, err := f.Fuse(c.c, c.s); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	// A Fuser switching between sizes gives the same result as fresh ones.
	rng := rand.New(rand.NewPCG(9, 10))
	imgs := []*frame.Image{randImage(rng, 20, 10, 0, 1), randImage(rng, 11, 13, 0, 1), randImage(rng, 20, 10, 0, 1)}
	sharp := []*frame.Image{randImage(rng, 20, 10, 0, 1), randImage(rng, 11, 13, 0, 1), randImage(rng, 20, 10, 0, 1)}
	for i := range imgs {
		got, err := f.Fuse(imgs[i], sharp[i])
		if err != nil {
			t.Fatal(err)
		}
		fresh, _ := New(DefaultParams())
		want, _ := fresh.Fuse(imgs[i], sharp[i])
		for j := range want.Pix {
			if got.Pix[j] != want.Pix[j] {
				t.Fatalf("frame %d sample %d: %v, want %v", i, j, got.Pix[j], want.Pix[j])
			}
		}
	}
}

func BenchmarkFuse720x576(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	c, s := randImage(rng, 720, 576, 0, 1), randImage(rng, 720, 576, 0, 1)
	f, _ := New(DefaultParams())
	for b.Loop() {
		if _, err := f.Fuse(c, s); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleFuser_Fuse() {
	f, err := New(DefaultParams())
	if err != nil {
		panic(err)
	}
	consistent := frame.New(64, 48)
	sharp := frame.New(64, 48)
	out, err := f.Fuse(consistent, sharp)
	if err != nil {
		panic(err)
	}
	fmt.Println(out.W, out.H)
	// Output: 64 48
}
