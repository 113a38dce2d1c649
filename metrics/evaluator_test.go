package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/pssr/pssr/frame"
)

func TestEvaluatorSequence(t *testing.T) {
	const w, h = 64, 48
	// Ground truth pans by (3, 2) pixels per frame; the prediction is the
	// truth with a constant +10-code offset (no flicker) except frame 2,
	// which is an exact copy.
	gts := []*frame.Image{quantize(texture(31, w, h, 0.2, 0.8))}
	for i := 1; i < 3; i++ {
		gts = append(gts, shifted(gts[i-1], quantize(texture(31+uint64(i), w, h, 0.2, 0.8)), 3, 2))
	}
	off := func(m *frame.Image) *frame.Image {
		return addEach(m, func(int, int, int) float32 { return 10.0 / 255 })
	}
	preds := []*frame.Image{off(gts[0]), off(gts[1]), gts[2].Clone()}

	ev, err := NewEvaluator(Options{Space: SpaceY, Crop: 4})
	if err != nil {
		t.Fatal(err)
	}
	var all []FrameScores
	for i := range gts {
		fs, err := ev.Add(gts[i], preds[i])
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, fs)
	}
	// Frames 0 and 1: ΔY = 219·10/255² everywhere.
	dy := 2190.0 / 65025
	wantPSNR := -20 * math.Log10(dy)
	tests := []struct {
		name      string
		got, want float64
		tol       float64
	}{
		{"psnr0", all[0].PSNR, wantPSNR, 1e-9},
		{"psnr1", all[1].PSNR, wantPSNR, 1e-9},
		{"psnr2-capped", all[2].PSNR, MaxPSNR, 0},
		{"ssim2", all[2].SSIM, 1, 1e-12},
		{"gmsd2", all[2].GMSD, 0, 1e-12},
		{"hf0", all[0].HFRatio, 1, 1e-12},
		{"tempdiff1", all[1].TempDiff, 0, 1e-12},
		// Frame 2 drops the offset: the predicted change differs by -ΔY.
		{"tempdiff2", all[2].TempDiff, dy, 1e-12},
		{"warp1", all[1].WarpErr, 0, 2e-4},
		{"warp2", all[2].WarpErr, dy, 2e-3},
		// The truth pans by whole pixels: warping it along its own flow
		// reproduces it.
		{"warpgt1", all[1].WarpErrGT, 0, 2e-4},
		{"warpgt2", all[2].WarpErrGT, 0, 2e-4},
	}
	for _, tc := range tests {
		if !near(tc.got, tc.want, tc.tol) {
			t.Errorf("%s = %.9f want %.9f", tc.name, tc.got, tc.want)
		}
	}
	if !math.IsNaN(all[0].WarpErr) || !math.IsNaN(all[0].TempDiff) {
		t.Errorf("frame 0 temporal scores %g %g, want NaN", all[0].WarpErr, all[0].TempDiff)
	}

	s := ev.Summary()
	if s.Frames != 3 || s.TemporalFrames != 2 || s.CappedPSNR != 1 || s.Skipped != 0 || s.Space != "Y" || s.Crop != 4 {
		t.Errorf("summary counts %+v", s)
	}
	if want := (2*wantPSNR + MaxPSNR) / 3; !near(s.PSNR, want, 1e-9) {
		t.Errorf("summary PSNR %g want %g", s.PSNR, want)
	}
	if want := (all[1].TempDiff + all[2].TempDiff) / 2; !near(s.TempDiff, want, 1e-15) {
		t.Errorf("summary TempDiff %g want %g", s.TempDiff, want)
	}
	if want := (all[1].WarpErr + all[2].WarpErr) / 2; !near(s.WarpErr, want, 1e-15) {
		t.Errorf("summary WarpErr %g want %g", s.WarpErr, want)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("summary does not encode: %v", err)
	}

	var buf bytes.Buffer
	if err := WriteCSV(&buf, all); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 || lines[0] != "frame,psnr,ssim,ms_ssim,gmsd,hf_ratio,warp_err,temp_diff,lpips,niqe,niqe_gt,warp_err_gt" {
		t.Fatalf("CSV:\n%s", buf.String())
	}
	if !strings.HasPrefix(lines[1], "0,") || !strings.HasSuffix(lines[1], ",,") {
		t.Errorf("frame 0 row %q: want empty temporal cells", lines[1])
	}
	if !strings.HasPrefix(lines[3], "2,100,1,1,0,1,") {
		t.Errorf("frame 2 row %q", lines[3])
	}
}

// TestWarpErrGT: the ground truth's own warp error is what a perfect
// prediction scores, positive when the truth changes in ways the flow does
// not explain (here, grain that is new in every frame), and a prediction
// that adds flicker on top scores above it.
func TestWarpErrGT(t *testing.T) {
	const w, h = 64, 48
	grain := func(m *frame.Image, seed uint64) *frame.Image {
		g := texture(seed, w, h, -0.03, 0.03)
		return quantize(addEach(m, func(x, y, c int) float32 { return g.Pix[(y*w+x)*3+c] }))
	}
	base := quantize(texture(31, w, h, 0.2, 0.8))
	gts := []*frame.Image{grain(base, 90)}
	for i := 1; i < 4; i++ {
		base = shifted(base, quantize(texture(31+uint64(i), w, h, 0.2, 0.8)), 2, 1)
		gts = append(gts, grain(base, 90+uint64(i)))
	}
	flicker := func(m *frame.Image, i int) *frame.Image {
		return addEach(m, func(int, int, int) float32 { return float32(i%2) * 8 / 255 })
	}
	perfect, _ := NewEvaluator(Options{Space: SpaceY, Crop: 4, NoNIQE: true})
	flick, _ := NewEvaluator(Options{Space: SpaceY, Crop: 4, NoNIQE: true})
	for i, g := range gts {
		fp, err := perfect.Add(g, g.Clone())
		if err != nil {
			t.Fatal(err)
		}
		ff, err := flick.Add(g, flicker(g, i))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if !math.IsNaN(fp.WarpErrGT) {
				t.Errorf("frame 0 WarpErrGT %g, want NaN", fp.WarpErrGT)
			}
			continue
		}
		if fp.WarpErr != fp.WarpErrGT || !(fp.WarpErrGT > 0.002) {
			t.Errorf("frame %d, perfect prediction: WarpErr %g, WarpErrGT %g: want equal and above 0.002", i, fp.WarpErr, fp.WarpErrGT)
		}
		if ff.WarpErrGT != fp.WarpErrGT || !(ff.WarpErr > ff.WarpErrGT+0.01) {
			t.Errorf("frame %d, flickering prediction: WarpErr %g, WarpErrGT %g (perfect %g): want the same reference and an error well above it",
				i, ff.WarpErr, ff.WarpErrGT, fp.WarpErrGT)
		}
	}
	if s := perfect.Summary(); s.WarpErrGT != s.WarpErr || !(s.WarpErrGT > 0) {
		t.Errorf("summary WarpErr %g, WarpErrGT %g: want equal and positive", s.WarpErr, s.WarpErrGT)
	}
}

func TestEvaluatorRGBAndErrors(t *testing.T) {
	a := texture(41, 32, 24, 0.2, 0.8)
	b := texture(42, 32, 24, 0.2, 0.8)
	ev, err := NewEvaluator(Options{Space: SpaceRGB})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := ev.Add(a, addEach(a, func(int, int, int) float32 { return 0.1 }))
	if err != nil {
		t.Fatal(err)
	}
	if !near(fs.PSNR, 20, 1e-5) {
		t.Errorf("RGB PSNR %g want 20", fs.PSNR)
	}
	tests := []struct {
		name     string
		gt, pred *frame.Image
		want     error
	}{
		{"pair-mismatch", a, texture(43, 30, 24, 0, 1), ErrSizeMismatch},
		{"sequence-mismatch", texture(44, 40, 24, 0, 1), texture(45, 40, 24, 0, 1), ErrSizeMismatch},
		{"nil", a, nil, ErrNilFrame},
	}
	for _, tc := range tests {
		if _, err := ev.Add(tc.gt, tc.pred); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v want %v", tc.name, err, tc.want)
		}
	}
	// Failed Adds leave the state alone: the next good pair is frame 1.
	fs, err = ev.Add(b, b)
	if err != nil || fs.Index != 1 || math.IsNaN(fs.TempDiff) {
		t.Errorf("after errors: %+v, %v", fs, err)
	}

	optTests := []struct {
		name string
		opt  Options
		want error
	}{
		{"space", Options{Space: 5}, ErrSpace},
		{"crop", Options{Crop: -2}, ErrCrop},
	}
	for _, tc := range optTests {
		if _, err := NewEvaluator(tc.opt); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v want %v", tc.name, err, tc.want)
		}
	}
	small, _ := NewEvaluator(Options{Crop: 8})
	if _, err := small.Add(a, a); !errors.Is(err, ErrTooSmall) {
		t.Errorf("32x24 with crop 8: %v want ErrTooSmall", err)
	}
}

func BenchmarkEvaluator720p(b *testing.B) {
	const w, h = 1280, 720
	gt0 := texture(51, w, h, 0.1, 0.9)
	gt1 := shifted(gt0, gt0, 3, 2)
	pr0 := addEach(gt0, func(x, y, c int) float32 { return 0.01 * float32((x+y+c)%3-1) })
	pr1 := shifted(pr0, pr0, 3, 2)
	ev, _ := NewEvaluator(Options{Space: SpaceY, Crop: 4})
	if _, err := ev.Add(gt0, pr0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := ev.Add(gt1, pr1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFullReference720p(b *testing.B) {
	const w, h = 1280, 720
	gt := texture(52, w, h, 0.1, 0.9)
	pr := addEach(gt, func(x, y, c int) float32 { return 0.01 * float32((x+y+c)%3-1) })
	for _, space := range []Space{SpaceY, SpaceRGB} {
		b.Run(space.String(), func(b *testing.B) {
			for b.Loop() {
				g, p, _ := preparePair(gt, pr, space, 4)
				psnrPlanes(g, p)
				for c := range g {
					ssimMSSSIM(g[c], p[c])
				}
				gmsdPlanes(g, p)
				laplacianMean(g)
				laplacianMean(p)
			}
		})
	}
}

func BenchmarkWarpError720p(b *testing.B) {
	const w, h = 1280, 720
	gt0 := texture(53, w, h, 0.1, 0.9)
	gt1 := shifted(gt0, gt0, 3, 2)
	for b.Loop() {
		if _, err := WarpError(gt0, gt1, gt0, gt1, 4); err != nil {
			b.Fatal(err)
		}
	}
}
