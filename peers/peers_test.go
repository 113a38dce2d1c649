package peers

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pssr/pssr/frame"
)

// sharedFrame is a real video frame; CI has shared/ beside the repository,
// users may not.
var sharedFrame = filepath.Join("..", "..", "shared", "data", "basketballpass-416x240", "f001.png")

func TestNamesAndByName(t *testing.T) {
	root := t.TempDir()
	all := All(root)
	var got []string
	for _, p := range all {
		got = append(got, p.Name())
	}
	want := []string{"realesrgan-x4fast", "realesrgan-x4plus", "upscalerjs-slim", "upscalerjs-medium", "upscalerjs-thick"}
	if !slices.Equal(got, want) {
		t.Fatalf("All names = %v, want %v", got, want)
	}
	for _, n := range want {
		p, err := ByName(root, n)
		if err != nil || p.Name() != n {
			t.Errorf("ByName(%q) = %v, %v", n, p, err)
		}
	}
	if _, err := ByName(root, "bicubic-x4"); err == nil {
		t.Error("ByName of an unknown peer: no error")
	}
}

func TestDefaultRoot(t *testing.T) {
	t.Setenv(EnvRoot, "/opt/peers")
	if got := DefaultRoot(); got != "/opt/peers" {
		t.Errorf("DefaultRoot with $%s set = %q", EnvRoot, got)
	}
	t.Setenv(EnvRoot, "")
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := DefaultRoot(), filepath.Join(repo, ".cache", "peers"); got != want {
		t.Errorf("DefaultRoot = %q, want %q", got, want)
	}
}

func TestNotInstalled(t *testing.T) {
	root := t.TempDir()
	in := t.TempDir()
	if err := frame.SavePNG(filepath.Join(in, "a.png"), frame.New(4, 4)); err != nil {
		t.Fatal(err)
	}
	for _, p := range All(root) {
		err := p.Available()
		if err == nil {
			t.Errorf("%s: Available in an empty root", p.Name())
			continue
		}
		if !strings.Contains(err.Error(), "install-peers.sh") {
			t.Errorf("%s: Available error does not say how to install: %v", p.Name(), err)
		}
		if err := p.Upscale(context.Background(), in, t.TempDir(), 4); err == nil {
			t.Errorf("%s: Upscale without an install: no error", p.Name())
		}
	}
}

// fakeRealesrgan installs a shell script as the realesrgan runner.
func fakeRealesrgan(t *testing.T, script string) Peer {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "realesrgan")
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".param", ".bin"} {
		if err := os.WriteFile(filepath.Join(dir, "models", "realesrgan-x4fast"+ext), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "realesrgan-ncnn-vulkan"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := ByName(root, "realesrgan-x4fast")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Available(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunErrors(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	in := t.TempDir()
	if err := frame.SavePNG(filepath.Join(in, "a.png"), frame.New(4, 4)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	p := fakeRealesrgan(t, "echo 'vkCreateInstance failed -9' >&2\nexit 3\n")
	err := p.Upscale(ctx, in, t.TempDir(), 4)
	if err == nil || !strings.Contains(err.Error(), "vkCreateInstance failed -9") {
		t.Errorf("failing tool: error %v does not carry its stderr", err)
	}

	p = fakeRealesrgan(t, "echo 'Error: decode image failed' >&2\nexit 0\n")
	err = p.Upscale(ctx, in, t.TempDir(), 4)
	if err == nil || !strings.Contains(err.Error(), "no output") || !strings.Contains(err.Error(), "decode image failed") {
		t.Errorf("tool that writes nothing: error %v", err)
	}

	p = fakeRealesrgan(t, "exec sleep 30\n")
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = p.Upscale(cctx, in, t.TempDir(), 4)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("cancelled run: error %v after %v", err, time.Since(start))
	}

	// Arguments: the runner gets the folders, the model and fp32 is baked in.
	out := t.TempDir()
	p = fakeRealesrgan(t, `while [ $# -gt 0 ]; do case $1 in -o) o=$2;; -n) n=$2;; esac; shift; done
echo "$n" > "$o/a.png"
`)
	if err := p.Upscale(ctx, in, out, 4); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.png")); strings.TrimSpace(string(b)) != "realesrgan-x4fast" {
		t.Errorf("runner got model %q", b)
	}

	if err := p.Upscale(ctx, in, out, 2); err == nil {
		t.Error("realesrgan at scale 2: no error")
	}
	if err := p.Upscale(ctx, in, in, 4); err == nil {
		t.Error("same input and output folder: no error")
	}
	if err := p.Upscale(ctx, t.TempDir(), out, 4); err == nil {
		t.Error("empty input folder: no error")
	}
}

// gradient is a smooth frame with an all-zero green channel: the kind of flat
// dark content that realesrgan's fp16/int8 path on lavapipe turns to garbage.
func gradient(w, h int) *frame.Image {
	m := frame.New(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			t := float32(x) / float32(w-1)
			v := 1 - 0.5*float32(y)/float32(h-1)
			m.Set(x, y, 0, (1-t)*v)
			m.Set(x, y, 2, t*v)
		}
	}
	return m
}

// psnr returns the PSNR in dB of a against b (same size), per channel and
// over all channels.
func psnr(a, b *frame.Image) (all float64, ch [3]float64) {
	var se [3]float64
	for i := range a.Pix {
		d := float64(a.Pix[i] - b.Pix[i])
		se[i%3] += d * d
	}
	n := float64(a.W * a.H)
	db := func(mse float64) float64 { return 10 * math.Log10(1/math.Max(mse, 1e-12)) }
	for c := range 3 {
		ch[c] = db(se[c] / n)
	}
	return db((se[0] + se[1] + se[2]) / (3 * n)), ch
}

// TestUpscale runs every installed peer on a 64x48 crop of a real frame (when
// shared/ is there) and on a small synthetic gradient, and checks the outputs
// are 4x the size and close to a 4x bicubic of the input: an SR network
// sharpens, but it does not move far from bicubic, and a corrupted output
// does.
func TestUpscale(t *testing.T) {
	frames := map[string]*frame.Image{"grad.png": gradient(24, 16)}
	minDB := map[string]float64{"grad.png": 25}
	if full, err := frame.Load(sharedFrame); err == nil {
		frames["real.png"] = full.Crop(image.Rect(100, 80, 164, 128))
		minDB["real.png"] = 20
	} else {
		t.Logf("real frame %s not there (%v): gradient only", sharedFrame, err)
	}
	in := t.TempDir()
	for n, m := range frames {
		if err := frame.SavePNG(filepath.Join(in, n), m); err != nil {
			t.Fatal(err)
		}
	}
	root := DefaultRoot()
	for _, p := range All(root) {
		t.Run(p.Name(), func(t *testing.T) {
			if err := p.Available(); err != nil {
				t.Skipf("not installed: %v", err)
			}
			out := t.TempDir()
			start := time.Now()
			if err := p.Upscale(context.Background(), in, out, 4); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d frames in %.1fs", len(frames), time.Since(start).Seconds())
			for n, lr := range frames {
				sr, err := frame.Load(filepath.Join(out, n))
				if err != nil {
					t.Fatal(err)
				}
				if sr.W != 4*lr.W || sr.H != 4*lr.H {
					t.Fatalf("%s: output %dx%d, want %dx%d", n, sr.W, sr.H, 4*lr.W, 4*lr.H)
				}
				ref := frame.Resize(lr, sr.W, sr.H, frame.Bicubic).Clamp()
				all, ch := psnr(sr, ref)
				t.Logf("%s: PSNR vs bicubic %.2f dB (R %.2f G %.2f B %.2f)", n, all, ch[0], ch[1], ch[2])
				if worst := min(ch[0], ch[1], ch[2]); worst < minDB[n] {
					t.Errorf("%s: PSNR vs bicubic %.2f dB in the worst channel, want > %v dB: output corrupted", n, worst, minDB[n])
				}
			}
		})
	}
}

// BenchmarkUpscale180x144 times each installed peer on 180x144 crops of real
// frames (x4 to 720x576), 2 frames a call, and reports seconds per frame
// (process start and model load included, spread over the 2 frames). Run it
// with -benchtime=1x: realesrgan-x4plus takes about a minute a frame on 2
// CPU cores.
func BenchmarkUpscale180x144(b *testing.B) {
	in := b.TempDir()
	for i := 1; i <= 2; i++ {
		f := filepath.Join(filepath.Dir(sharedFrame), fmt.Sprintf("f%03d.png", i))
		full, err := frame.Load(f)
		if err != nil {
			b.Skipf("real frames not there: %v", err)
		}
		if err := frame.SavePNG(filepath.Join(in, filepath.Base(f)), full.Crop(image.Rect(100, 50, 280, 194))); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range All(DefaultRoot()) {
		b.Run(p.Name(), func(b *testing.B) {
			if err := p.Available(); err != nil {
				b.Skipf("not installed: %v", err)
			}
			out := b.TempDir()
			b.ResetTimer()
			for range b.N {
				if err := p.Upscale(context.Background(), in, out, 4); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(2*b.N), "s/frame")
		})
	}
}
