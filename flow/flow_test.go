package flow

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// texture is a smooth random pattern made of a sum of sinusoids, so that it
// can be evaluated exactly at sub-pixel positions.
type texture struct {
	fx, fy, ph, amp []float64
}

func newTexture(seed uint64, n int) texture {
	r := rand.New(rand.NewPCG(seed, 1))
	var t texture
	var total float64
	for range n {
		// Log-uniform frequencies from 0.03 to 1 rad/px (wavelengths ~6 to
		// ~200 px) in random directions, amplitude falling as 1/sqrt(f): a
		// rough stand-in for the spectrum of natural images.
		f := 0.03 * math.Pow(1/0.03, r.Float64())
		a := 2 * math.Pi * r.Float64()
		t.fx = append(t.fx, f*math.Cos(a))
		t.fy = append(t.fy, f*math.Sin(a))
		t.ph = append(t.ph, 2*math.Pi*r.Float64())
		amp := (0.5 + r.Float64()) / math.Sqrt(f)
		t.amp = append(t.amp, amp)
		total += amp
	}
	for i := range t.amp {
		t.amp[i] *= 0.45 / total
	}
	return t
}

func (t texture) at(x, y float64) float32 {
	s := 0.5
	for i := range t.fx {
		s += t.amp[i] * math.Sin(t.fx[i]*x+t.fy[i]*y+t.ph[i])
	}
	return float32(s)
}

// render returns the texture shifted by (dx, dy): out(x, y) = t(x-dx, y-dy).
func (t texture) render(w, h int, dx, dy float64) []float32 {
	p := make([]float32, w*h)
	for y := range h {
		for x := range w {
			p[y*w+x] = t.at(float64(x)-dx, float64(y)-dy)
		}
	}
	return p
}

func TestDenseTranslation(t *testing.T) {
	const w, h, border = 128, 96, 16
	tests := []struct {
		name   string
		dx, dy float64
		opt    Options
	}{
		{"subpixel", 0.37, -0.62, Options{}},
		{"medium", 2.3, -1.7, Options{}},
		{"large", -9.6, 6.25, Options{}},
		{"no-median-2-workers", 1.45, 0.8, Options{NoMedian: true, Workers: 2}},
	}
	tex := newTexture(7, 24)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prev := tex.render(w, h, 0, 0)
			next := tex.render(w, h, tc.dx, tc.dy)
			u, v := Dense(prev, next, w, h, tc.opt)
			// next(x+dx, y+dy) = prev(x, y), so the flow is (dx, dy).
			var worst float64
			for y := border; y < h-border; y++ {
				for x := border; x < w-border; x++ {
					i := y*w + x
					e := math.Hypot(float64(u[i])-tc.dx, float64(v[i])-tc.dy)
					worst = max(worst, e)
				}
			}
			if worst > 0.1 {
				t.Errorf("worst interior end-point error %.4f px > 0.1", worst)
			}
		})
	}
}

func TestDenseIdentical(t *testing.T) {
	const w, h = 64, 48
	p := newTexture(3, 16).render(w, h, 0, 0)
	u, v := Dense(p, p, w, h, Options{})
	for i := range u {
		if math.Abs(float64(u[i])) > 1e-4 || math.Abs(float64(v[i])) > 1e-4 {
			t.Fatalf("pixel %d: flow (%g, %g) for identical planes", i, u[i], v[i])
		}
	}
}

func TestDenseFlatKeepsZero(t *testing.T) {
	const w, h = 40, 30
	p := make([]float32, w*h)
	for i := range p {
		p[i] = 0.5
	}
	u, v := Dense(p, p, w, h, Options{})
	for i := range u {
		if u[i] != 0 || v[i] != 0 {
			t.Fatalf("flat plane gave flow (%g, %g)", u[i], v[i])
		}
	}
}

func TestWarpIntegerShift(t *testing.T) {
	const w, h = 20, 15
	r := rand.New(rand.NewPCG(1, 2))
	img := make([]float32, w*h)
	for i := range img {
		img[i] = r.Float32()
	}
	tests := []struct {
		name   string
		du, dv float32
	}{
		{"zero", 0, 0},
		{"right-down", 3, 2},
		{"left-up", -2, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := make([]float32, w*h)
			v := make([]float32, w*h)
			for i := range u {
				u[i], v[i] = tc.du, tc.dv
			}
			out := Warp(img, w, h, u, v)
			for y := range h {
				for x := range w {
					sx := min(max(x+int(tc.du), 0), w-1)
					sy := min(max(y+int(tc.dv), 0), h-1)
					if got, want := out[y*w+x], img[sy*w+sx]; got != want {
						t.Fatalf("(%d,%d): got %g want %g", x, y, got, want)
					}
				}
			}
		})
	}
}

func TestWarpHalfPixel(t *testing.T) {
	img := []float32{0, 1, 2, 3}
	u := []float32{0.5, 0.5, 0.5, 0.5}
	v := make([]float32, 4)
	got := Warp(img, 4, 1, u, v)
	want := []float32{0.5, 1.5, 2.5, 3} // last sample clamps to the border
	if !slices.Equal(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

func TestOcclusionMask(t *testing.T) {
	const w, h = 30, 20
	constant := func(c float32) []float32 {
		p := make([]float32, w*h)
		for i := range p {
			p[i] = c
		}
		return p
	}
	tests := []struct {
		name               string
		fu, fv, bu, bv     float32
		wantInteriorOccl   bool
		wantOutOfFrameOccl int // pixels expected occluded because x+f leaves the frame
	}{
		{"consistent", 3, -2, -3, 2, false, 3*h + 2*w - 3*2},
		{"small-mismatch", 1, 0, -0.5, 0, false, 1 * h},      // |0.5|² = .25 < .01*1.25+.5
		{"inconsistent", 5, 0, 0, 0, true, 5 * h},            // 25 >= .01*25+.5
		{"large-consistent", 10, 0, -9.2, 0, false, 10 * h},  // .64 < .01*(100+84.64)+.5
		{"large-inconsistent", 10, 0, -8.5, 0, true, 10 * h}, // 2.25 >= .01*(100+72.25)+.5
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			occ := OcclusionMask(constant(tc.fu), constant(tc.fv), constant(tc.bu), constant(tc.bv), w, h)
			outside := 0
			for y := range h {
				for x := range w {
					tx, ty := float32(x)+tc.fu, float32(y)+tc.fv
					in := tx >= 0 && tx <= w-1 && ty >= 0 && ty <= h-1
					o := occ[y*w+x]
					switch {
					case !in:
						outside++
						if !o {
							t.Fatalf("(%d,%d) maps outside but is not marked", x, y)
						}
					case o != tc.wantInteriorOccl:
						t.Fatalf("(%d,%d): occluded=%v want %v", x, y, o, tc.wantInteriorOccl)
					}
				}
			}
			if outside != tc.wantOutOfFrameOccl {
				t.Errorf("out-of-frame pixels %d, want %d", outside, tc.wantOutOfFrameOccl)
			}
		})
	}
}

func TestMed9(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for range 2000 {
		var a [9]float32
		for i := range a {
			a[i] = float32(r.IntN(5)) // many ties
		}
		got := med9(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8])
		s := a
		slices.Sort(s[:])
		if got != s[4] {
			t.Fatalf("med9(%v) = %g want %g", a, got, s[4])
		}
	}
}

func TestAutoLevels(t *testing.T) {
	tests := []struct{ w, h, want int }{
		{1280, 720, 6}, // 720,360,180,90,45,23
		{128, 96, 3},   // 96,48,24
		{30, 30, 1},
		{8, 8, 1},
	}
	for _, tc := range tests {
		if got := autoLevels(tc.w, tc.h); got != tc.want {
			t.Errorf("autoLevels(%d,%d)=%d want %d", tc.w, tc.h, got, tc.want)
		}
	}
}

func TestPanicsOnBadSize(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for mismatched plane")
		}
	}()
	Dense(make([]float32, 10), make([]float32, 12), 4, 3, Options{})
}

func BenchmarkDense720p(b *testing.B) {
	const w, h = 1280, 720
	tex := newTexture(11, 24)
	prev := tex.render(w, h, 0, 0)
	next := tex.render(w, h, 3.3, -1.2)
	b.ResetTimer()
	for b.Loop() {
		Dense(prev, next, w, h, Options{})
	}
}

func TestHconvMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	k := gaussKernel(1.3)
	rad := len(k) / 2
	for _, w := range []int{1, 3, rad, 2*rad + 1, 2*rad + 2, 50} {
		src := make([]float32, w)
		for i := range src {
			src[i] = r.Float32()
		}
		dst := make([]float32, w)
		hconv(dst, src, k, rad)
		for x := range w {
			var want float32
			for j, kj := range k {
				want += kj * src[min(max(x+j-rad, 0), w-1)]
			}
			if math.Abs(float64(dst[x]-want)) > 1e-6 {
				t.Fatalf("w=%d x=%d: got %g want %g", w, x, dst[x], want)
			}
		}
	}
}

func TestBicubic(t *testing.T) {
	// Keys cubic interpolation reproduces quadratics exactly away from the
	// border and passes through the samples.
	const w, h = 9, 7
	q := func(x, y float64) float64 { return 0.1 + 0.03*x - 0.02*y + 0.004*x*x + 0.002*x*y - 0.003*y*y }
	p := make([]float32, w*h)
	for y := range h {
		for x := range w {
			p[y*w+x] = float32(q(float64(x), float64(y)))
		}
	}
	tests := []struct{ x, y float64 }{{1, 1}, {3.25, 2.5}, {5.9, 4.1}, {4, 3.75}}
	for _, tc := range tests {
		got := bicubic(p, w, h, float32(tc.x), float32(tc.y))
		if want := q(tc.x, tc.y); math.Abs(float64(got)-want) > 1e-6 {
			t.Errorf("bicubic(%g,%g)=%g want %g", tc.x, tc.y, got, want)
		}
	}
}
