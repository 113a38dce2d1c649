package frame

import (
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// opaque hides an image's concrete type, so FromImage takes its generic
// colour-model path.
type opaque struct{ image.Image }

func TestFromImageYCbCrMatchesColorModel(t *testing.T) {
	// Odd sizes, so the last column and row share chroma samples with the
	// one before under 4:2:0.
	yc := image.NewYCbCr(image.Rect(0, 0, 7, 5), image.YCbCrSubsampleRatio420)
	for y := 0; y < 5; y++ {
		for x := 0; x < 7; x++ {
			yc.Y[yc.YOffset(x, y)] = uint8(16 + 31*x + 17*y)
		}
	}
	for i := range yc.Cb {
		yc.Cb[i] = uint8(40 + 53*i)
		yc.Cr[i] = uint8(220 - 37*i)
	}
	cases := map[string]image.Image{
		"whole": yc,
		"sub":   yc.SubImage(image.Rect(1, 1, 6, 4)),
	}
	for name, src := range cases {
		if _, ok := src.(*image.YCbCr); !ok {
			t.Fatalf("%s: %T, want *image.YCbCr", name, src)
		}
		fast := FromImage(src)
		slow := FromImage(opaque{src})
		if !SameSize(fast, slow) || fast.W != src.Bounds().Dx() || fast.H != src.Bounds().Dy() {
			t.Fatalf("%s: sizes %dx%d and %dx%d for %v", name, fast.W, fast.H, slow.W, slow.H, src.Bounds())
		}
		for i := range fast.Pix {
			if d := math.Abs(float64(fast.Pix[i] - slow.Pix[i])); d > 1.0/255+1e-6 {
				t.Errorf("%s: sample %d: fast %v, colour model %v (diff %v > 1/255)",
					name, i, fast.Pix[i]*255, slow.Pix[i]*255, d*255)
			}
		}
	}
}

func TestTo8(t *testing.T) {
	for _, c := range []struct {
		v    float32
		want uint8
	}{
		{0, 0}, {1, 255}, {0.5, 128}, {100.0 / 255, 100}, {100.4 / 255, 100}, {100.6 / 255, 101},
		{-0.1, 0}, {1.2, 255}, {float32(math.NaN()), 0}, {float32(math.Inf(1)), 255}, {float32(math.Inf(-1)), 0},
	} {
		if got := To8(c.v); got != c.want {
			t.Errorf("To8(%v) = %d, want %d", c.v, got, c.want)
		}
	}
}

// TestPNG16RoundTrip checks that SavePNG16 writes a 16-bit PNG and Load
// reads every 16-bit level back, where SavePNG keeps 8 bits.
func TestPNG16RoundTrip(t *testing.T) {
	m := New(7, 5)
	for i := range m.Pix {
		m.Pix[i] = float32((i*4099)%65536) / 65535 // levels between the 8-bit ones
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		save  func(string, *Image) error
		model color.Model
		step  float64
	}{
		{"16.png", SavePNG16, color.RGBA64Model, 65535},
		{"8.png", SavePNG, color.RGBAModel, 255},
	} {
		path := filepath.Join(dir, tc.name)
		if err := tc.save(path, m); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _, err := image.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ColorModel != tc.model {
			t.Errorf("%s: colour model %v, want %v", tc.name, cfg.ColorModel, tc.model)
		}
		back, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range m.Pix {
			want := float32(math.Round(float64(m.Pix[i])*tc.step) / tc.step)
			if math.Abs(float64(back.Pix[i]-want)) > 1e-7 {
				t.Fatalf("%s: sample %d is %v, want %v (%g levels)", tc.name, i, back.Pix[i], want, tc.step+1)
			}
		}
	}
}
