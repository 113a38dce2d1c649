package degrade

import (
	"context"
	"encoding/json"
	"image"
	"math"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/pssr/pssr/frame"
)

func testRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

// testFrame loads the real 128x96 test picture.
func testFrame(t testing.TB) *frame.Image {
	t.Helper()
	m, err := frame.Load("testdata/basketballpass-f001-128x96.png")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func hasFFmpeg() bool {
	_, err := exec.LookPath("ffmpeg")
	return err == nil
}

func TestKernels(t *testing.T) {
	tests := []struct {
		name      string
		spec      KernelSpec
		symmetric bool // isotropic: invariant under transposition and flips
	}{
		{"iso", KernelSpec{Type: Iso, Size: 21, SigmaX: 3, SigmaY: 3}, true},
		{"iso small", KernelSpec{Type: Iso, Size: 7, SigmaX: 0.2, SigmaY: 0.2}, true},
		{"aniso", KernelSpec{Type: Aniso, Size: 15, SigmaX: 2.5, SigmaY: 0.4, Theta: 0.7}, false},
		{"generalized iso", KernelSpec{Type: GeneralizedIso, Size: 13, SigmaX: 1.5, SigmaY: 1.5, Beta: 0.5}, true},
		{"generalized aniso", KernelSpec{Type: GeneralizedAniso, Size: 11, SigmaX: 2, SigmaY: 1, Theta: -2, Beta: 4}, false},
		{"plateau iso", KernelSpec{Type: PlateauIso, Size: 9, SigmaX: 1, SigmaY: 1, Beta: 2}, true},
		{"plateau aniso", KernelSpec{Type: PlateauAniso, Size: 17, SigmaX: 3, SigmaY: 0.2, Theta: 3, Beta: 1}, false},
		{"sinc", KernelSpec{Type: SincType, Size: 21, Omega: math.Pi / 5}, true},
		{"sinc small", KernelSpec{Type: SincType, Size: 7, Omega: math.Pi}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.spec.Kernel()
			if k.Size != tc.spec.Size || len(k.W) != k.Size*k.Size || k.Size%2 != 1 {
				t.Fatalf("size %d with %d weights, want %d", k.Size, len(k.W), tc.spec.Size)
			}
			if s := k.Sum(); math.Abs(s-1) > 1e-9 {
				t.Errorf("sum %v, want 1", s)
			}
			n := k.Size
			for y := range n {
				for x := range n {
					v := k.At(x, y)
					// Every family is point-symmetric.
					if d := math.Abs(v - k.At(n-1-x, n-1-y)); d > 1e-12 {
						t.Fatalf("not point-symmetric at (%d,%d): %v", x, y, d)
					}
					if !tc.symmetric {
						continue
					}
					for _, w := range []float64{k.At(y, x), k.At(n-1-x, y), k.At(x, n-1-y)} {
						if math.Abs(v-w) > 1e-12 {
							t.Fatalf("isotropic kernel not symmetric at (%d,%d): %v vs %v", x, y, v, w)
						}
					}
				}
			}
		})
	}
}

func TestRandomKernel(t *testing.T) {
	r := testRand(7)
	counts := map[KernelType]int{}
	const n = 4000
	for _, cfg := range []KernelConfig{FirstKernelConfig(), SecondKernelConfig()} {
		for range n / 2 {
			s := RandomKernel(r, cfg)
			counts[s.Type]++
			if s.Size < 7 || s.Size > 21 || s.Size%2 != 1 {
				t.Fatalf("size %d", s.Size)
			}
			if s.Type != SincType && (s.SigmaX < cfg.Sigma[0] || s.SigmaX > cfg.Sigma[1] || s.SigmaY < cfg.Sigma[0] || s.SigmaY > cfg.Sigma[1]) {
				t.Fatalf("sigma out of range: %+v", s)
			}
			k := s.Kernel()
			if k.Size != s.Size || math.Abs(k.Sum()-1) > 1e-9 {
				t.Fatalf("%+v: size %d sum %v", s, k.Size, k.Sum())
			}
		}
	}
	// Expected frequencies: sinc 0.1, the others 0.9*p.
	want := map[KernelType]float64{SincType: 0.1, Iso: 0.9 * 0.45, Aniso: 0.9 * 0.25, GeneralizedIso: 0.9 * 0.12, PlateauIso: 0.9 * 0.12}
	for typ, p := range want {
		got := float64(counts[typ]) / n
		if sd := math.Sqrt(p * (1 - p) / n); math.Abs(got-p) > 5*sd {
			t.Errorf("%s frequency %.3f, want %.3f", typ, got, p)
		}
	}
}

func TestPadIndex(t *testing.T) {
	tests := []struct {
		i, n int
		pad  Padding
		want int
	}{
		{-1, 5, Reflect, 1}, {-2, 5, Reflect, 2}, {5, 5, Reflect, 3}, {6, 5, Reflect, 2},
		{-9, 5, Reflect, 1}, {3, 5, Reflect, 3}, {-3, 1, Reflect, 0},
		{-1, 5, Replicate, 0}, {7, 5, Replicate, 4}, {2, 5, Replicate, 2},
	}
	for _, tc := range tests {
		if got := padIndex(tc.i, tc.n, tc.pad); got != tc.want {
			t.Errorf("padIndex(%d, %d, %v) = %d, want %d", tc.i, tc.n, tc.pad, got, tc.want)
		}
	}
}

func TestFilterSeparableMatchesDirect(t *testing.T) {
	src := testFrame(t).Crop(frame.New(40, 30).Bounds())
	tests := []KernelSpec{
		{Type: Iso, Size: 21, SigmaX: 2, SigmaY: 2},
		{Type: Aniso, Size: 13, SigmaX: 3, SigmaY: 0.5, Theta: 0.4},
		{Type: PlateauAniso, Size: 9, SigmaX: 1.3, SigmaY: 0.7, Theta: 2, Beta: 1.5},
		{Type: SincType, Size: 11, Omega: 1.3},
	}
	for _, spec := range tests {
		for _, pad := range []Padding{Reflect, Replicate} {
			t.Run(string(spec.Type)+"/"+pad.String(), func(t *testing.T) {
				k := spec.Kernel()
				got := Filter(src, k, pad)
				want := filterDirect(src, k, pad)
				for i := range want.Pix {
					if d := math.Abs(float64(got.Pix[i] - want.Pix[i])); d > 1e-5 {
						t.Fatalf("sample %d: %v vs %v", i, got.Pix[i], want.Pix[i])
					}
				}
			})
		}
	}
}

func TestFilterConstant(t *testing.T) {
	m := frame.New(9, 6)
	for i := range m.Pix {
		m.Pix[i] = 0.25
	}
	k := Gaussian(21, 3, 1, 0.3) // larger than the image: padding wraps
	for _, pad := range []Padding{Reflect, Replicate} {
		out := Filter(m, k, pad)
		for i, v := range out.Pix {
			if math.Abs(float64(v)-0.25) > 1e-6 {
				t.Fatalf("%v: sample %d = %v", pad, i, v)
			}
		}
	}
}

func gray(w, h int, v float32) *frame.Image {
	m := frame.New(w, h)
	for i := range m.Pix {
		m.Pix[i] = v
	}
	return m
}

func TestGaussianNoise(t *testing.T) {
	r := testRand(3)
	for draw := range 12 {
		spec := drawNoise(r, 1, [2]float64{1, 30}, [2]float64{0.05, 3}, 0.4)
		m := gray(96, 96, 0.5)
		AddGaussianNoise(m, spec.Sigma, spec.Gray, r)
		var s, s2 float64
		for i, v := range m.Pix {
			d := float64(v) - 0.5
			s += d
			s2 += d * d
			if spec.Gray && i%3 == 0 && (m.Pix[i+1] != v || m.Pix[i+2] != v) {
				t.Fatalf("draw %d: gray noise differs between channels at pixel %d", draw, i/3)
			}
		}
		n := float64(len(m.Pix))
		std := math.Sqrt(s2/n - (s/n)*(s/n))
		if std < 1.0/255*0.9 || std > 30.0/255*1.1 {
			t.Errorf("draw %d: std %.4f outside [1, 30]/255", draw, std)
		}
		if math.Abs(std*255-spec.Sigma) > 0.06*spec.Sigma {
			t.Errorf("draw %d: std %.3f/255, drawn sigma %.3f", draw, std*255, spec.Sigma)
		}
	}
}

func TestPoissonNoiseScalesWithIntensity(t *testing.T) {
	for _, gr := range []bool{false, true} {
		// 256 columns, one per 8-bit level, so vals = 256.
		m := frame.New(256, 64)
		for y := range m.H {
			for x := range m.W {
				for c := range 3 {
					m.Set(x, y, c, float32(x)/255)
				}
			}
		}
		const scale = 2
		AddPoissonNoise(m, scale, gr, testRand(11))
		for _, level := range []int{32, 64, 128, 192} {
			v := float64(level) / 255
			var s, s2 float64
			var n float64
			for y := range m.H {
				for c := range 3 {
					d := float64(m.At(level, y, c)) - v
					s += d
					s2 += d * d
					n++
				}
			}
			variance := s2/n - (s/n)*(s/n)
			want := scale * scale * v / 256
			// With gray noise the three channels share values: fewer samples.
			tol := 0.25
			if math.Abs(variance/want-1) > tol {
				t.Errorf("gray=%v level %d: variance %.3g, want %.3g", gr, level, variance, want)
			}
		}
		if gr {
			for i := 0; i < len(m.Pix); i += 3 {
				if m.Pix[i] != m.Pix[i+1] || m.Pix[i] != m.Pix[i+2] {
					t.Fatalf("gray Poisson noise differs between channels at pixel %d", i/3)
				}
			}
		}
	}
}

func TestJPEG(t *testing.T) {
	src := testFrame(t)
	for _, q := range []int{30, 95} {
		out, err := JPEG(src, q)
		if err != nil {
			t.Fatal(err)
		}
		if !frame.SameSize(out, src) {
			t.Fatalf("size %dx%d", out.W, out.H)
		}
		if p := psnr(src, out); p < 25 {
			t.Errorf("quality %d: PSNR %.1f dB", q, p)
		}
	}
}

func psnr(a, b *frame.Image) float64 {
	var s float64
	for i := range a.Pix {
		d := float64(a.Pix[i] - b.Pix[i])
		s += d * d
	}
	return 10 * math.Log10(float64(len(a.Pix))/s)
}

func TestParsePreset(t *testing.T) {
	tests := []struct {
		in      string
		want    Preset
		wantErr bool
	}{
		{"bicubic", Bicubic, false},
		{" RealESRGAN ", RealESRGAN, false},
		{"realbasicvsr", RealBasicVSR, false},
		{"bsrgan", "", true},
	}
	for _, tc := range tests {
		got, err := ParsePreset(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParsePreset(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func clip(t testing.TB, n, w, h int) []*frame.Image {
	src := testFrame(t)
	out := make([]*frame.Image, n)
	for i := range out {
		out[i] = src.Crop(frame.New(w, h).Bounds().Add(image.Pt(i*3, i)))
	}
	return out
}

func TestOutputSize(t *testing.T) {
	tests := []struct {
		preset Preset
		scale  int
		w, h   int
	}{
		{Bicubic, 4, 64, 48},
		{Bicubic, 4, 67, 45},
		{Bicubic, 1, 20, 20},
		{RealESRGAN, 4, 64, 48},
		{RealESRGAN, 4, 67, 45},
		{RealESRGAN, 2, 33, 31},
		{RealBasicVSR, 4, 64, 48},
		{RealBasicVSR, 4, 67, 45},
	}
	for _, tc := range tests {
		t.Run(string(tc.preset), func(t *testing.T) {
			if tc.preset == RealBasicVSR && !hasFFmpeg() {
				t.Skip("no ffmpeg")
			}
			for seed := range uint64(3) {
				d, err := New(tc.preset, tc.scale, seed)
				if err != nil {
					t.Fatal(err)
				}
				out, err := d.Clip(context.Background(), clip(t, 3, tc.w, tc.h))
				if err != nil {
					t.Fatal(err)
				}
				if len(out) != 3 {
					t.Fatalf("%d frames", len(out))
				}
				for _, f := range out {
					if f.W != tc.w/tc.scale || f.H != tc.h/tc.scale {
						t.Fatalf("seed %d: %dx%d, want %dx%d", seed, f.W, f.H, tc.w/tc.scale, tc.h/tc.scale)
					}
					for _, v := range f.Pix {
						if v < 0 || v > 1 || v*255 != float32(math.Round(float64(v*255))) {
							t.Fatalf("sample %v is not an 8-bit level", v)
						}
					}
				}
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	presets := []Preset{Bicubic, RealESRGAN}
	if hasFFmpeg() {
		presets = append(presets, RealBasicVSR)
	}
	in := clip(t, 3, 64, 48)
	for _, p := range presets {
		t.Run(string(p), func(t *testing.T) {
			run := func(seed uint64) []*frame.Image {
				d, err := New(p, 4, seed)
				if err != nil {
					t.Fatal(err)
				}
				out, err := d.Clip(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			a, b, c := run(42), run(42), run(43)
			same := func(x, y []*frame.Image) bool {
				for i := range x {
					for j := range x[i].Pix {
						if x[i].Pix[j] != y[i].Pix[j] {
							return false
						}
					}
				}
				return true
			}
			if !same(a, b) {
				t.Error("same seed gave different output")
			}
			if p != Bicubic && same(a, c) {
				t.Error("different seeds gave identical output")
			}
		})
	}
}

func TestDrawsPerClip(t *testing.T) {
	// Identical frames in: the video preset uses one draw for all of them,
	// the image preset one per frame.
	f := testFrame(t).Crop(frame.New(64, 48).Bounds())
	in := []*frame.Image{f, f, f, f}
	tests := []struct {
		preset Preset
		draws  int
	}{
		{RealBasicVSR, 1},
		{RealESRGAN, 4},
		{Bicubic, 1},
	}
	for _, tc := range tests {
		t.Run(string(tc.preset), func(t *testing.T) {
			if tc.preset == RealBasicVSR && !hasFFmpeg() {
				t.Skip("no ffmpeg")
			}
			d, err := New(tc.preset, 4, 9)
			if err != nil {
				t.Fatal(err)
			}
			out, ps, err := d.ClipParams(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(in) || len(ps) != tc.draws {
				t.Fatalf("%d frames, %d draws; want %d draws", len(out), len(ps), tc.draws)
			}
			if tc.draws > 1 {
				b0, _ := json.Marshal(ps[0].Blur1)
				b1, _ := json.Marshal(ps[1].Blur1)
				if string(b0) == string(b1) {
					t.Error("per-frame draws share blur parameters")
				}
			}
			// Params round-trip through JSON and replay bit-identically.
			js, err := json.Marshal(ps[0])
			if err != nil {
				t.Fatal(err)
			}
			var back Params
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			replay, err := d.Apply(context.Background(), back, in[:len(in)/tc.draws])
			if err != nil {
				t.Fatal(err)
			}
			for i := range replay[0].Pix {
				if replay[0].Pix[i] != out[0].Pix[i] {
					t.Fatal("replayed Params differ from the original output")
				}
			}
		})
	}
}

func TestCompressVideo(t *testing.T) {
	if !hasFFmpeg() {
		t.Skip("no ffmpeg")
	}
	tests := []struct {
		codec string
		w, h  int
	}{
		{"libx264", 64, 48},
		{"h264", 63, 47},
		{"mpeg4", 65, 48},
	}
	for _, tc := range tests {
		t.Run(tc.codec, func(t *testing.T) {
			in := clip(t, 5, tc.w, tc.h)
			spec := VideoSpec{Codec: tc.codec, Bitrate: 100000}
			out, err := CompressVideo(context.Background(), in, spec)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(in) {
				t.Fatalf("%d frames out of %d", len(out), len(in))
			}
			for i := range out {
				if !frame.SameSize(out[i], in[i]) {
					t.Fatalf("frame %d is %dx%d", i, out[i].W, out[i].H)
				}
				if p := psnr(in[i], out[i]); p < 15 {
					t.Errorf("frame %d PSNR %.1f dB", i, p)
				}
			}
			again, err := CompressVideo(context.Background(), in, spec)
			if err != nil {
				t.Fatal(err)
			}
			for i := range out {
				for j := range out[i].Pix {
					if out[i].Pix[j] != again[i].Pix[j] {
						t.Fatal("compression is not deterministic")
					}
				}
			}
		})
	}
	if _, err := CompressVideo(context.Background(), clip(t, 2, 16, 16), VideoSpec{Codec: "vp9", Bitrate: 1e4}); err == nil {
		t.Error("unknown codec accepted")
	}
}

func BenchmarkRealESRGAN720p(b *testing.B) {
	src := testFrame(b)
	hq := frame.Resize(src, 1280, 720, frame.Bicubic)
	d, err := New(RealESRGAN, 4, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := d.Clip(context.Background(), []*frame.Image{hq}); err != nil {
			b.Fatal(err)
		}
	}
}
