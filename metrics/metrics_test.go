package metrics

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pssr/pssr/frame"
)

// uniform returns a w x h image with every sample set to v.
func uniform(w, h int, v float32) *frame.Image {
	m := frame.New(w, h)
	for i := range m.Pix {
		m.Pix[i] = v
	}
	return m
}

// gray8 returns a w x h gray image with 8-bit code g.
func gray8(w, h, g int) *frame.Image { return uniform(w, h, float32(g)/255) }

// texture returns a random, mildly smoothed colour image with samples in
// [lo, hi].
func texture(seed uint64, w, h int, lo, hi float32) *frame.Image {
	r := rand.New(rand.NewPCG(seed, 42))
	noise := make([]float32, w*h*3)
	for i := range noise {
		noise[i] = r.Float32()
	}
	m := frame.New(w, h)
	for y := range h {
		for x := range w {
			for c := range 3 {
				// 3x3 box blur with replicated border.
				var s float32
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						sx, sy := min(max(x+dx, 0), w-1), min(max(y+dy, 0), h-1)
						s += noise[(sy*w+sx)*3+c]
					}
				}
				m.Set(x, y, c, lo+(hi-lo)*s/9)
			}
		}
	}
	return m
}

// addEach returns m with f(x, y, c) added to every sample.
func addEach(m *frame.Image, f func(x, y, c int) float32) *frame.Image {
	out := m.Clone()
	for y := range m.H {
		for x := range m.W {
			for c := range 3 {
				out.Set(x, y, c, m.At(x, y, c)+f(x, y, c))
			}
		}
	}
	return out
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestY(t *testing.T) {
	tests := []struct {
		name    string
		r, g, b float32
		want    float64
	}{
		{"black", 0, 0, 0, 16.0 / 255},
		{"white", 1, 1, 1, 235.0 / 255},
		{"red", 1, 0, 0, (16 + 65.481) / 255},
		{"green", 0, 1, 0, (16 + 128.553) / 255},
		{"blue", 0, 0, 1, (16 + 24.966) / 255},
		{"gray100", 100.0 / 255, 100.0 / 255, 100.0 / 255, (16 + 219*100.0/255) / 255},
		// 0.5*255 = 127.5 rounds to 128: Y sees the 8-bit code.
		{"half-rounds-up", 0.5, 0.5, 0.5, (16 + 219*128.0/255) / 255},
		{"clamped", 1.7, -0.3, 1, (16 + 65.481 + 24.966) / 255},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := frame.New(2, 1)
			m.Set(1, 0, 0, tc.r)
			m.Set(1, 0, 1, tc.g)
			m.Set(1, 0, 2, tc.b)
			y := Y(m)
			if len(y) != 2 {
				t.Fatalf("len %d", len(y))
			}
			if !near(y[1], tc.want, 1e-12) {
				t.Errorf("Y=%.12f want %.12f", y[1], tc.want)
			}
		})
	}
}

func TestPSNR(t *testing.T) {
	gt := texture(1, 40, 30, 0.2, 0.8)
	tests := []struct {
		name  string
		pred  *frame.Image
		space Space
		want  float64
		tol   float64
	}{
		// MSE = 0.1² = 0.01 -> 10 log10(1/0.01) = 20 dB.
		{"offset-0.1-rgb", addEach(gt, func(int, int, int) float32 { return 0.1 }), SpaceRGB, 20, 1e-5},
		// ±0.05 alternating: MSE = 0.0025 -> -20 log10(0.05) = 26.0206 dB.
		{"alternating-0.05-rgb", addEach(gt, func(x, y, c int) float32 {
			if (x+y+c)%2 == 0 {
				return 0.05
			}
			return -0.05
		}), SpaceRGB, 26.020599913279625, 1e-5},
		{"identical", gt.Clone(), SpaceRGB, math.Inf(1), 0},
		{"identical-y", gt.Clone(), SpaceY, math.Inf(1), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PSNR(gt, tc.pred, tc.space, 0)
			if err != nil {
				t.Fatal(err)
			}
			if math.IsInf(tc.want, 1) {
				if !math.IsInf(got, 1) {
					t.Errorf("got %g want +Inf", got)
				}
				return
			}
			if !near(got, tc.want, tc.tol) {
				t.Errorf("got %.8f want %.8f", got, tc.want)
			}
		})
	}
}

func TestPSNRYGray(t *testing.T) {
	// Gray code 100 vs 151: ΔY = 219·51/255² = 11169/65025 on every pixel,
	// so PSNR = -20 log10(0.171764705882) = 15.301321 dB.
	got, err := PSNR(gray8(16, 16, 100), gray8(16, 16, 151), SpaceY, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !near(got, 15.301321398597114, 1e-9) {
		t.Errorf("got %.9f want 15.301321399", got)
	}
}

func TestSSIMIdentical(t *testing.T) {
	gt := texture(2, 48, 40, 0, 1)
	for _, space := range []Space{SpaceY, SpaceRGB} {
		t.Run(space.String(), func(t *testing.T) {
			tests := []struct {
				name string
				fn   func(a, b *frame.Image, s Space, c int) (float64, error)
				want float64
			}{
				{"SSIM", SSIM, 1},
				{"MSSSIM", MSSSIM, 1},
				{"GMSD", GMSD, 0},
			}
			for _, tc := range tests {
				got, err := tc.fn(gt, gt.Clone(), space, 1)
				if err != nil {
					t.Fatal(err)
				}
				if !near(got, tc.want, 1e-12) {
					t.Errorf("%s = %.15f want %g", tc.name, got, tc.want)
				}
			}
		})
	}
}

func TestSSIMConstantOffset(t *testing.T) {
	// Constant images a and b: σ = 0 so the contrast-structure term is
	// C2/C2 = 1 and SSIM = (2ab + C1) / (a² + b² + C1) with C1 = 1e-4.
	const s04_05 = 0.9756157034869544 // a = 0.4, b = 0.5
	tests := []struct {
		name      string
		gt, pred  *frame.Image
		space     Space
		fn        func(a, b *frame.Image, s Space, c int) (float64, error)
		want, tol float64
	}{
		{"ssim-rgb", uniform(20, 16, 0.4), uniform(20, 16, 0.5), SpaceRGB, SSIM, s04_05, 1e-7},
		// Y of gray codes 100 and 151: a = 0.399538639, b = 0.571303345.
		{"ssim-y", gray8(20, 16, 100), gray8(20, 16, 151), SpaceY, SSIM, 0.9393088188600037, 1e-9},
		// 5 scales (short side 176): only the coarsest luminance counts,
		// SSIM^0.1333.
		{"msssim-5-scales", uniform(176, 180, 0.4), uniform(176, 180, 0.5), SpaceRGB, MSSSIM, 0.996714695806604, 1e-7},
		// 64x64: scales 64, 32, 16 fit the 11x11 window; weights renormalised,
		// so SSIM^(0.3001/0.6305).
		{"msssim-3-scales", uniform(64, 64, 0.4), uniform(64, 64, 0.5), SpaceRGB, MSSSIM, 0.9883186854697233, 1e-7},
		// 11x11: one scale, MS-SSIM = SSIM.
		{"msssim-1-scale", uniform(11, 11, 0.4), uniform(11, 11, 0.5), SpaceRGB, MSSSIM, s04_05, 1e-7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.fn(tc.gt, tc.pred, tc.space, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got, tc.want, tc.tol) {
				t.Errorf("got %.12f want %.12f", got, tc.want)
			}
		})
	}
}

func TestSSIMOrdering(t *testing.T) {
	gt := texture(3, 64, 48, 0.1, 0.9)
	r := rand.New(rand.NewPCG(9, 9))
	noisy := func(sigma float32) *frame.Image {
		return addEach(gt, func(int, int, int) float32 { return sigma * float32(r.NormFloat64()) })
	}
	low, high := noisy(0.02), noisy(0.1)
	for _, space := range []Space{SpaceY, SpaceRGB} {
		sl, _ := SSIM(gt, low, space, 0)
		sh, _ := SSIM(gt, high, space, 0)
		ml, _ := MSSSIM(gt, low, space, 0)
		mh, _ := MSSSIM(gt, high, space, 0)
		gl, _ := GMSD(gt, low, space, 0)
		gh, _ := GMSD(gt, high, space, 0)
		if !(1 > sl && sl > sh && sh > 0) || !(1 > ml && ml > mh) || !(0 < gl && gl < gh) {
			t.Errorf("%v: SSIM %g,%g MS-SSIM %g,%g GMSD %g,%g not ordered", space, sl, sh, ml, mh, gl, gh)
		}
	}
}

func TestGMSDHand(t *testing.T) {
	// 4x2 RGB image: gt 0.3 everywhere; pred 0.3 on the left 2x2 block and
	// 0.6 on the right. After 2x2 averaging: gt [0.3 0.3], pred [0.3 0.6].
	// Zero-padded Prewitt magnitudes (each pixel sees its one neighbour in 3
	// rows, divided by 3): gt [0.1 0.1], pred [0.2 0.1]. GMS = [(0.04+T) /
	// (0.05+T), 1], T = 170/255², and GMSD = |GMS0 - GMS1| / sqrt(2)
	// (N-1 normalisation) = 0.01/(0.05+T)/sqrt(2).
	gt := uniform(4, 2, 0.3)
	pred := uniform(4, 2, 0.3)
	for y := range 2 {
		for x := 2; x < 4; x++ {
			for c := range 3 {
				pred.Set(x, y, c, 0.6)
			}
		}
	}
	got, err := GMSD(gt, pred, SpaceRGB, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.1343942081012941; !near(got, want, 1e-6) {
		t.Errorf("got %.10f want %.10f", got, want)
	}
	if !near(GMSDConstant, 0.0026143790849673, 1e-15) {
		t.Errorf("GMSDConstant = %g", GMSDConstant)
	}
}

func TestLaplacianAndHFRatio(t *testing.T) {
	// A single unit impulse in a 5x5 black image: over the 3x3 interior the
	// centre gives |4| and its four neighbours |-1| each: mean 8/9.
	imp := frame.New(5, 5)
	for c := range 3 {
		imp.Set(2, 2, c, 1)
	}
	got, err := LaplacianMean(imp, SpaceRGB, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !near(got, 8.0/9, 1e-12) {
		t.Errorf("LaplacianMean impulse = %g want 8/9", got)
	}

	gt := texture(4, 48, 40, 0, 1)
	blurred := gt.Clone()
	for y := 1; y < gt.H-1; y++ {
		for x := 1; x < gt.W-1; x++ {
			for c := range 3 {
				blurred.Set(x, y, c, (4*gt.At(x, y, c)+gt.At(x-1, y, c)+gt.At(x+1, y, c)+gt.At(x, y-1, c)+gt.At(x, y+1, c))/8)
			}
		}
	}
	tests := []struct {
		name   string
		pred   *frame.Image
		space  Space
		lo, hi float64
	}{
		{"self-y", gt.Clone(), SpaceY, 1, 1},
		{"self-rgb", gt.Clone(), SpaceRGB, 1, 1},
		{"blurred-y", blurred, SpaceY, 0, 0.9},
		{"blurred-rgb", blurred, SpaceRGB, 0, 0.9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := HFRatio(gt, tc.pred, tc.space, 2)
			if err != nil {
				t.Fatal(err)
			}
			if r < tc.lo-1e-12 || r > tc.hi+1e-12 {
				t.Errorf("HFRatio = %g, want in [%g, %g]", r, tc.lo, tc.hi)
			}
		})
	}
	flat := uniform(8, 8, 0.5)
	if r, _ := HFRatio(flat, flat, SpaceY, 0); r != 1 {
		t.Errorf("flat vs flat: %g want 1", r)
	}
	if r, _ := HFRatio(flat, imp.PadReplicate(8, 8), SpaceRGB, 0); !math.IsInf(r, 1) {
		t.Errorf("flat gt vs detail: %g want +Inf", r)
	}
}

func TestCrop(t *testing.T) {
	// pred differs from gt only in a 3-pixel border band.
	gt := texture(5, 40, 36, 0.2, 0.8)
	pred := addEach(gt, func(x, y, c int) float32 {
		if x < 3 || y < 3 || x >= 37 || y >= 33 {
			return 0.1
		}
		return 0
	})
	tests := []struct {
		crop    int
		wantInf bool
	}{{0, false}, {2, false}, {3, true}, {5, true}}
	for _, tc := range tests {
		p, err := PSNR(gt, pred, SpaceRGB, tc.crop)
		if err != nil {
			t.Fatal(err)
		}
		if math.IsInf(p, 1) != tc.wantInf {
			t.Errorf("crop %d: PSNR %g, want inf=%v", tc.crop, p, tc.wantInf)
		}
		s, err := SSIM(gt, pred, SpaceY, tc.crop)
		if err != nil {
			t.Fatal(err)
		}
		// From crop 3 on the band is gone and SSIM is exactly 1.
		if tc.crop >= 3 && s != 1 {
			t.Errorf("crop %d: SSIM %g want 1", tc.crop, s)
		}
		if tc.crop == 0 && s >= 1 {
			t.Errorf("crop 0: SSIM %g want < 1", s)
		}
	}
	// PSNR at crop 0: band of 0.1 over (40*36-34*30)/(40*36) of the samples.
	p, _ := PSNR(gt, pred, SpaceRGB, 0)
	frac := float64(40*36-34*30) / float64(40*36)
	if want := -10 * math.Log10(0.01*frac); !near(p, want, 1e-4) {
		t.Errorf("crop 0 PSNR %g want %g", p, want)
	}
}

func TestErrors(t *testing.T) {
	a := texture(6, 32, 24, 0, 1)
	b := texture(7, 30, 24, 0, 1)
	small := texture(8, 14, 14, 0, 1)
	type fn func(gt, pred *frame.Image, s Space, c int) (float64, error)
	funcs := map[string]fn{"PSNR": PSNR, "SSIM": SSIM, "MSSSIM": MSSSIM, "GMSD": GMSD, "HFRatio": HFRatio}
	tests := []struct {
		name     string
		gt, pred *frame.Image
		space    Space
		crop     int
		want     error
		only     string // "" for all functions
	}{
		{"size", a, b, SpaceY, 0, ErrSizeMismatch, ""},
		{"nil", a, nil, SpaceY, 0, ErrNilFrame, ""},
		{"malformed", a, &frame.Image{W: 32, H: 24, Pix: make([]float32, 10)}, SpaceY, 0, ErrNilFrame, ""},
		{"negative-crop", a, a, SpaceY, -1, ErrCrop, ""},
		{"crop-too-large", a, a, SpaceY, 12, ErrCrop, ""},
		{"space", a, a, Space(7), 0, ErrSpace, ""},
		{"too-small-ssim", small, small, SpaceY, 2, ErrTooSmall, "SSIM"},
		{"too-small-msssim", small, small, SpaceY, 2, ErrTooSmall, "MSSSIM"},
	}
	for _, tc := range tests {
		for name, f := range funcs {
			if tc.only != "" && name != tc.only {
				continue
			}
			if _, err := f(tc.gt, tc.pred, tc.space, tc.crop); !errors.Is(err, tc.want) {
				t.Errorf("%s/%s: err %v, want %v", tc.name, name, err, tc.want)
			}
		}
	}
	if _, err := LaplacianMean(a, SpaceY, 11); !errors.Is(err, ErrTooSmall) {
		t.Errorf("LaplacianMean 32x24 crop 11: %v", err)
	}
	if _, err := WarpError(a, a, a, b, 0); !errors.Is(err, ErrSizeMismatch) {
		t.Errorf("WarpError: %v", err)
	}
	if _, err := TemporalDiff(a, b, a, a, 0); !errors.Is(err, ErrSizeMismatch) {
		t.Errorf("TemporalDiff: %v", err)
	}
	if _, err := TemporalDiff(a, a, a, a, 12); !errors.Is(err, ErrCrop) {
		t.Errorf("TemporalDiff crop: %v", err)
	}
}

func TestParseSpace(t *testing.T) {
	tests := []struct {
		in   string
		want Space
		err  bool
	}{{"y", SpaceY, false}, {"RGB", SpaceRGB, false}, {" Y ", SpaceY, false}, {"yuv", 0, true}}
	for _, tc := range tests {
		got, err := ParseSpace(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParseSpace(%q) = %v, %v", tc.in, got, err)
		}
		if !tc.err && got.String() != map[Space]string{SpaceY: "Y", SpaceRGB: "RGB"}[got] {
			t.Errorf("String() = %q", got.String())
		}
	}
}
