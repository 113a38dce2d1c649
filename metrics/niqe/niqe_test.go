package niqe

import (
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// lumaOf returns MATLAB's rgb2ycbcr Y of an 8-bit image, rounded to
// integers: the input convention of published NIQE values.
func lumaOf(img image.Image) (y []float64, w, h int) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	y = make([]float64, 0, w*h)
	for py := b.Min.Y; py < b.Max.Y; py++ {
		for px := b.Min.X; px < b.Max.X; px++ {
			r, g, bl, _ := img.At(px, py).RGBA()
			v := 16 + (65.481*float64(r>>8)+128.553*float64(g>>8)+24.966*float64(bl>>8))/255
			y = append(y, math.Round(v))
		}
	}
	return y, w, h
}

func loadLuma(t *testing.T, path string) ([]float64, int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return lumaOf(img)
}

func pristine(t testing.TB) *Model {
	t.Helper()
	m, err := Pristine()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// framePath is a real 416x240 video frame committed in the repository.
var framePath = filepath.Join("..", "..", "testdata", "basketballpass", "f071.png")

// TestPublishedBaboon compares with the published MATLAB value for BasicSR's
// test image (MATLAB R2021a, LIVE's niqe_release code: 5.72957338). The
// image is not committed (its licence is unclear): set PSSR_NIQE_BABOON to
// its path, or place it in ../shared/models/perceptual/niqe/, to run it.
func TestPublishedBaboon(t *testing.T) {
	path := os.Getenv("PSSR_NIQE_BABOON")
	if path == "" {
		path = filepath.Join("..", "..", "..", "shared", "models", "perceptual", "niqe", "baboon.png")
		if _, err := os.Stat(path); err != nil {
			t.Skip("PSSR_NIQE_BABOON not set and no shared copy (BasicSR test_scripts/data/baboon.png)")
		}
	}
	y, w, h := loadLuma(t, path)
	got, err := pristine(t).Score(y, w, h)
	if err != nil {
		t.Fatal(err)
	}
	const want = 5.72957338
	t.Logf("NIQE(baboon) = %.8f, MATLAB %.8f, diff %.2g", got, want, got-want)
	if math.Abs(got-want) > 1e-5 {
		t.Errorf("NIQE(baboon) = %.6f, want %.8f ± 1e-5", got, want)
	}
}

// blur returns y filtered by a separable Gaussian of deviation sigma.
func blur(y []float64, w, h int, sigma float64) []float64 {
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	var s float64
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		s += k[i]
	}
	for i := range k {
		k[i] /= s
	}
	tmp := make([]float64, len(y))
	out := make([]float64, len(y))
	for py := range h {
		for px := range w {
			var v float64
			for i, kv := range k {
				v += kv * y[py*w+min(max(px+i-r, 0), w-1)]
			}
			tmp[py*w+px] = v
		}
	}
	for py := range h {
		for px := range w {
			var v float64
			for i, kv := range k {
				v += kv * tmp[min(max(py+i-r, 0), h-1)*w+px]
			}
			out[py*w+px] = math.Round(v)
		}
	}
	return out
}

// TestDegradationRaisesScore checks the defining property of NIQE on a real
// frame: blurring it or adding noise makes it less natural, so the score
// rises, and more of the distortion raises it further.
func TestDegradationRaisesScore(t *testing.T) {
	m := pristine(t)
	y, w, h := loadLuma(t, framePath)
	score := func(name string, v []float64) float64 {
		s, err := m.Score(v, w, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-8s NIQE %.4f", name, s)
		return s
	}
	clean := score("clean", y)
	// Regression pin of this implementation on the frame (not a reference
	// value: TestPublishedBaboon is the one against MATLAB).
	if math.Abs(clean-4.3076) > 1e-3 {
		t.Errorf("clean frame NIQE %.4f, this implementation gave 4.3076", clean)
	}
	if !(clean > 1 && clean < 10) {
		t.Errorf("clean frame NIQE %.3f, want a natural-image value in (1, 10)", clean)
	}
	blur1, blur3 := score("blur σ1", blur(y, w, h, 1)), score("blur σ3", blur(y, w, h, 3))
	rng := rand.New(rand.NewPCG(1, 2))
	noisy := func(sd float64) []float64 {
		out := make([]float64, len(y))
		for i, v := range y {
			out[i] = math.Round(min(max(v+sd*rng.NormFloat64(), 0), 255))
		}
		return out
	}
	noise10, noise30 := score("noise 10", noisy(10)), score("noise 30", noisy(30))
	if !(clean < blur1 && blur1 < blur3) {
		t.Errorf("blur: NIQE clean %.3f, σ1 %.3f, σ3 %.3f, want increasing", clean, blur1, blur3)
	}
	if !(clean < noise10 && noise10 < noise30) {
		t.Errorf("noise: NIQE clean %.3f, sd 10 %.3f, sd 30 %.3f, want increasing", clean, noise10, noise30)
	}
}

// TestAGGDFit checks the moment-matching fit on samples of known
// distributions: a Gaussian has shape 2 and scale σ√2 on both sides, a
// Laplacian shape 1, and an asymmetric one its two scales.
func TestAGGDFit(t *testing.T) {
	m := pristine(t)
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 200000
	g := make([]float64, n)
	l := make([]float64, n)
	sk := make([]float64, n)
	for i := range n {
		g[i] = 0.5 * rng.NormFloat64()
		l[i] = rng.ExpFloat64()
		if rng.IntN(2) == 0 {
			l[i] = -l[i]
		}
		// An AGGD with scales 1 (left) and 3 (right) in units of 0.5√2:
		// each side is a half-Gaussian, the left one drawn with probability
		// βl/(βl+βr) = 1/4 (the density is continuous at 0).
		sk[i] = math.Abs(g[i])
		if rng.IntN(4) == 0 {
			sk[i] = -sk[i]
		} else {
			sk[i] *= 3
		}
	}
	if a, bl, br := m.aggd(g); math.Abs(a-2) > 0.05 || math.Abs(bl-0.5*math.Sqrt2) > 0.01 || math.Abs(br-0.5*math.Sqrt2) > 0.01 {
		t.Errorf("Gaussian σ=0.5: alpha %.3f, betas %.3f %.3f, want 2, 0.707, 0.707", a, bl, br)
	}
	if a, _, _ := m.aggd(l); math.Abs(a-1) > 0.05 {
		t.Errorf("Laplacian: alpha %.3f, want 1", a)
	}
	if a, bl, br := m.aggd(sk); math.Abs(a-2) > 0.05 || math.Abs(bl-0.5*math.Sqrt2) > 0.01 || math.Abs(br-1.5*math.Sqrt2) > 0.03 {
		t.Errorf("asymmetric Gaussian: alpha %.3f, betas %.3f %.3f, want 2, 0.707, 2.121", a, bl, br)
	}
}

// TestHalve checks MATLAB-style bicubic halving: constants stay constant and
// away from the borders a linear ramp is sampled exactly at the centres of
// the 2x2 input cells.
func TestHalve(t *testing.T) {
	const w, h = 20, 12
	ramp := make([]float64, w*h)
	flat := make([]float64, w*h)
	for y := range h {
		for x := range w {
			ramp[y*w+x] = 3*float64(x) + 0.5*float64(y)
			flat[y*w+x] = 42
		}
	}
	out, ow, oh := halve(ramp, w, h)
	if ow != 10 || oh != 6 {
		t.Fatalf("size %dx%d, want 10x6", ow, oh)
	}
	for y := 2; y < oh-2; y++ {
		for x := 2; x < ow-2; x++ {
			want := 3*(2*float64(x)+0.5) + 0.5*(2*float64(y)+0.5)
			if got := out[y*ow+x]; math.Abs(got-want) > 1e-9 {
				t.Fatalf("ramp at (%d,%d) = %g, want %g", x, y, got, want)
			}
		}
	}
	fo, _, _ := halve(flat, w, h)
	for i, v := range fo {
		if math.Abs(v-42) > 1e-9 {
			t.Fatalf("flat image halved to %g at %d", v, i)
		}
	}
}

func TestEdgeCases(t *testing.T) {
	m := pristine(t)
	if _, err := m.Score(make([]float64, 95*200), 95, 200); err == nil {
		t.Error("95x200: no error")
	}
	if _, err := m.Score(make([]float64, 10), 96, 96); err == nil {
		t.Error("short slice: no error")
	}
	flat := make([]float64, 192*96)
	for i := range flat {
		flat[i] = 128
	}
	if s, err := m.Score(flat, 192, 96); err != nil || !math.IsNaN(s) {
		t.Errorf("flat image: %v, %v, want NaN and no error", s, err)
	}
	// The remainder beyond whole patches is ignored.
	y, w, h := loadLuma(t, framePath)
	a, err := m.Score(y, w, h)
	if err != nil {
		t.Fatal(err)
	}
	cw, ch := 4*BlockSize, 2*BlockSize
	crop := make([]float64, 0, cw*ch)
	for py := range ch {
		crop = append(crop, y[py*w:py*w+cw]...)
	}
	if b, err := m.Score(crop, cw, ch); err != nil || b != a {
		t.Errorf("cropped to whole patches: %v (%v), full frame %v", b, err, a)
	}
}

// BenchmarkScore720p times NIQE on a 1280x720 luma plane (the real frame
// tiled).
func BenchmarkScore720p(b *testing.B) {
	m := pristine(b)
	f, err := os.Open(framePath)
	if err != nil {
		b.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	src, sw, sh := lumaOf(img)
	const w, h = 1280, 720
	y := make([]float64, w*h)
	for py := range h {
		for px := range w {
			y[py*w+px] = src[(py%sh)*sw+px%sw]
		}
	}
	for b.Loop() {
		if _, err := m.Score(y, w, h); err != nil {
			b.Fatal(err)
		}
	}
}
