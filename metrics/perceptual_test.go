package metrics

import (
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/pssr/pssr/frame"
)

// fakeLPIPS records what the Evaluator hands a PairScorer and returns the
// mean absolute difference of the samples (0 for identical inputs).
type fakeLPIPS struct {
	w, h    int
	off8bit int // samples that were not on the 8-bit grid
	err     error
	calls   int
}

func (f *fakeLPIPS) Distance(ref, dist []float32, w, h int) (float64, error) {
	f.calls++
	f.w, f.h = w, h
	if f.err != nil {
		return 0, f.err
	}
	var s float64
	for i := range ref {
		for _, v := range []float32{ref[i], dist[i]} {
			if c := float64(v) * 255; math.Abs(c-math.Round(c)) > 1e-3 || v < 0 || v > 1 {
				f.off8bit++
			}
		}
		s += math.Abs(float64(ref[i] - dist[i]))
	}
	return s / float64(len(ref)), nil
}

// blurred returns m box-filtered over 5x5 pixels: a prediction that lost
// detail.
func blurred(m *frame.Image) *frame.Image {
	out := m.Clone()
	for y := range m.H {
		for x := range m.W {
			for c := range 3 {
				var s float32
				for dy := -2; dy <= 2; dy++ {
					for dx := -2; dx <= 2; dx++ {
						s += m.At(min(max(x+dx, 0), m.W-1), min(max(y+dy, 0), m.H-1), c)
					}
				}
				out.Set(x, y, c, s/25)
			}
		}
	}
	return out
}

func TestEvaluatorPerceptual(t *testing.T) {
	gt, err := frame.Load(filepath.Join("..", "testdata", "basketballpass", "f071.png"))
	if err != nil {
		t.Fatal(err)
	}
	pred := blurred(gt)
	// Overshoot beyond [0, 1]: the scorer must still see 8-bit samples.
	pred.Set(10, 10, 0, 1.3)
	lp := &fakeLPIPS{}
	ev, err := NewEvaluator(Options{Space: SpaceY, Crop: 4, LPIPS: lp})
	if err != nil {
		t.Fatal(err)
	}
	same, err := ev.Add(gt, gt)
	if err != nil {
		t.Fatal(err)
	}
	blur, err := ev.Add(gt, pred)
	if err != nil {
		t.Fatal(err)
	}
	if lp.calls != 2 || lp.w != gt.W-8 || lp.h != gt.H-8 {
		t.Errorf("scorer called %d times with %dx%d, want 2 with the cropped %dx%d", lp.calls, lp.w, lp.h, gt.W-8, gt.H-8)
	}
	if lp.off8bit != 0 {
		t.Errorf("%d samples handed to the scorer were not 8-bit codes in [0, 1]", lp.off8bit)
	}
	if same.LPIPS != 0 || !(blur.LPIPS > 0) {
		t.Errorf("LPIPS identical %g, blurred %g: want 0 and > 0", same.LPIPS, blur.LPIPS)
	}
	// NIQE: no reference, so an identical pair scores the ground truth's
	// value twice, and blurring makes the prediction less natural.
	if math.IsNaN(same.NIQE) || same.NIQE != same.NIQEGT {
		t.Errorf("identical pair: NIQE %g, NIQE GT %g, want equal and finite", same.NIQE, same.NIQEGT)
	}
	if !(same.NIQE > 1 && same.NIQE < 10) {
		t.Errorf("NIQE of a real frame %g, want within (1, 10)", same.NIQE)
	}
	if !(blur.NIQE > blur.NIQEGT+0.5) || blur.NIQEGT != same.NIQEGT {
		t.Errorf("blurred prediction NIQE %g against GT %g (GT alone %g): want clearly higher", blur.NIQE, blur.NIQEGT, same.NIQEGT)
	}
	s := ev.Summary()
	if s.LPIPSFrames != 2 || s.NIQEFrames != 2 || s.Skipped != 0 {
		t.Errorf("summary counts %+v", s)
	}
	if !near(s.LPIPS, blur.LPIPS/2, 1e-12) || !near(s.NIQE, (same.NIQE+blur.NIQE)/2, 1e-12) || !near(s.NIQEGT, same.NIQEGT, 1e-12) {
		t.Errorf("summary LPIPS %g NIQE %g NIQE GT %g", s.LPIPS, s.NIQE, s.NIQEGT)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("summary does not encode: %v", err)
	}

	// A scorer error fails Add and leaves the Evaluator unchanged.
	lp.err = errors.New("device lost")
	if _, err := ev.Add(gt, pred); !errors.Is(err, lp.err) {
		t.Errorf("Add with a failing scorer: %v", err)
	}
	if ev.Summary().Frames != 2 {
		t.Error("a failed Add was recorded")
	}
}

func TestEvaluatorPerceptualOff(t *testing.T) {
	// Frames smaller than a NIQE patch, and no LPIPS: the perceptual scores
	// are NaN per frame and absent (0 over 0 frames) in the summary.
	a := texture(51, 64, 48, 0.2, 0.8)
	ev, err := NewEvaluator(Options{Space: SpaceY})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := ev.Add(a, a)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(fs.LPIPS) || !math.IsNaN(fs.NIQE) || !math.IsNaN(fs.NIQEGT) {
		t.Errorf("small frame: LPIPS %g NIQE %g %g, want NaN", fs.LPIPS, fs.NIQE, fs.NIQEGT)
	}
	if s := ev.Summary(); s.LPIPSFrames != 0 || s.NIQEFrames != 0 || s.LPIPS != 0 || s.NIQE != 0 || s.Skipped != 0 {
		t.Errorf("summary %+v", s)
	}
	// NoNIQE on a frame large enough for it.
	big := texture(52, 200, 120, 0.2, 0.8)
	ev, err = NewEvaluator(Options{NoNIQE: true})
	if err != nil {
		t.Fatal(err)
	}
	if fs, err = ev.Add(big, big); err != nil || !math.IsNaN(fs.NIQE) {
		t.Errorf("NoNIQE: NIQE %g, err %v", fs.NIQE, err)
	}
}

func TestNIQEFunction(t *testing.T) {
	gt, err := frame.Load(filepath.Join("..", "testdata", "basketballpass", "f071.png"))
	if err != nil {
		t.Fatal(err)
	}
	clean, err := NIQE(gt, 4)
	if err != nil {
		t.Fatal(err)
	}
	soft, err := NIQE(blurred(gt), 4)
	if err != nil {
		t.Fatal(err)
	}
	if !(clean > 1 && clean < 10 && soft > clean+0.5) {
		t.Errorf("NIQE clean %g, blurred %g: want a natural value and a clearly higher one", clean, soft)
	}
	if _, err := NIQE(gt, gt.W); !errors.Is(err, ErrCrop) {
		t.Errorf("crop of the whole frame: %v", err)
	}
	if v, err := NIQE(texture(53, 90, 90, 0.2, 0.8), 0); err != nil || !math.IsNaN(v) {
		t.Errorf("90x90 frame: %v, %v; want NaN", v, err)
	}
}
