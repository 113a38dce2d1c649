// Package metrics scores super-resolved video against ground truth: the
// full-reference image metrics PSNR, SSIM, MS-SSIM and GMSD, a
// high-frequency energy ratio, and two temporal-consistency measures (the
// flow-warping error and the temporal-difference error). Evaluator runs all of
// them over a sequence one frame pair at a time and summarises the result,
// with the no-reference NIQE (package metrics/niqe) of both frames and, when
// Options.LPIPS is given, the learned perceptual distance LPIPS (package
// metrics/lpips, which needs a compute backend and so is plugged in through
// the PairScorer interface: this package stays free of GoMLX).
//
// # Conventions
//
// Every full-reference function takes (gt, pred, space, crop). Space selects
// the samples the metric sees:
//
//   - SpaceY: BT.601 studio-range luma as the VSR literature computes it (see
//     Y): RGB is first rounded to 8 bits, so scores match those of the saved
//     PNG frames that benchmarks evaluate.
//   - SpaceRGB: the three float channels, clamped to [0, 1] but not quantised.
//     Channel-wise metrics (SSIM, MS-SSIM, GMSD) are averaged over R, G, B;
//     PSNR and LaplacianMean pool all samples.
//
// All samples are on a [0, 1] scale (peak 1.0); the metric constants are
// converted from their published [0, 255] values where needed. crop removes
// crop pixels from every border before scoring (the usual "crop_border",
// normally the upscaling factor).
//
// Temporal metrics always work on Y.
package metrics

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/parallel"
)

// Errors returned (wrapped) by the metric functions.
var (
	// ErrSizeMismatch reports frames of different sizes.
	ErrSizeMismatch = errors.New("metrics: frame size mismatch")
	// ErrCrop reports a negative crop or one that leaves no pixels.
	ErrCrop = errors.New("metrics: invalid crop")
	// ErrTooSmall reports an image too small for the metric's window.
	ErrTooSmall = errors.New("metrics: image too small")
	// ErrSpace reports an unknown Space value.
	ErrSpace = errors.New("metrics: unknown colour space")
	// ErrNilFrame reports a nil frame or one whose Pix does not match W*H*3.
	ErrNilFrame = errors.New("metrics: nil or malformed frame")
)

// Space selects the samples a metric is computed on.
type Space int

const (
	// SpaceY is BT.601 studio-range luma in [16/255, 235/255] (see Y).
	SpaceY Space = iota
	// SpaceRGB is the three RGB channels, each in [0, 1].
	SpaceRGB
)

// String returns "Y" or "RGB".
func (s Space) String() string {
	switch s {
	case SpaceY:
		return "Y"
	case SpaceRGB:
		return "RGB"
	}
	return fmt.Sprintf("Space(%d)", int(s))
}

// ParseSpace parses "y" or "rgb" (any case).
func ParseSpace(s string) (Space, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "y":
		return SpaceY, nil
	case "rgb":
		return SpaceRGB, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrSpace, s)
}

// BT.601 studio-range luma weights for 8-bit R'G'B' in [0, 255] producing
// Y' in [16, 235]: 65.481/255 ≈ 0.257, 128.553/255 ≈ 0.504, 24.966/255 ≈
// 0.098 (the MATLAB rgb2ycbcr coefficients used by the VSR literature).
const (
	yR = 65.481 / 255
	yG = 128.553 / 255
	yB = 24.966 / 255
)

// quant8 rounds a [0, 1] sample to its 8-bit code, clamping (NaN -> 0).
func quant8(v float32) float64 {
	f := math.Round(float64(v) * 255)
	if !(f > 0) {
		return 0
	}
	if f > 255 {
		return 255
	}
	return f
}

// Y returns the BT.601 studio-range luma of img, one value per pixel in
// row-major order, on a [0, 1] scale:
//
//	Y = (16 + 0.257 R8 + 0.504 G8 + 0.098 B8) / 255
//
// where R8, G8, B8 are the samples rounded to 8-bit codes (round(255 v),
// clamped to [0, 255]) and the weights are exactly 65.481/255, 128.553/255
// and 24.966/255. This is the convention of the VSR literature (MATLAB
// rgb2ycbcr on 8-bit frames, BasicSR's bgr2ycbcr with y_only): RGB is
// quantised as in the saved frames, the luma itself is not rounded.
// Values lie in [16/255, 235/255].
func Y(img *frame.Image) []float64 {
	n := img.W * img.H
	out := make([]float64, n)
	parallel.Rows(img.H, 64, 0, func(y0, y1 int) {
		for i := y0 * img.W; i < y1*img.W; i++ {
			p := img.Pix[3*i : 3*i+3 : 3*i+3]
			out[i] = (16 + yR*quant8(p[0]) + yG*quant8(p[1]) + yB*quant8(p[2])) / 255
		}
	})
	return out
}

// plane is a single-channel float64 image.
type plane struct {
	pix  []float64
	w, h int
}

// crop returns the inner part of p without c pixels on each side (a copy).
func (p plane) crop(c int) plane {
	if c == 0 {
		return p
	}
	w, h := p.w-2*c, p.h-2*c
	out := plane{make([]float64, w*h), w, h}
	for y := range h {
		copy(out.pix[y*w:(y+1)*w], p.pix[(y+c)*p.w+c:])
	}
	return out
}

// checkFrame validates a frame's shape.
func checkFrame(name string, m *frame.Image) error {
	if m == nil {
		return fmt.Errorf("%w: %s is nil", ErrNilFrame, name)
	}
	if m.W <= 0 || m.H <= 0 || len(m.Pix) != m.W*m.H*3 {
		return fmt.Errorf("%w: %s is %dx%d with %d samples", ErrNilFrame, name, m.W, m.H, len(m.Pix))
	}
	return nil
}

// checkPair validates a gt/pred pair and the crop.
func checkPair(gt, pred *frame.Image, crop int) error {
	if err := checkFrame("gt", gt); err != nil {
		return err
	}
	if err := checkFrame("pred", pred); err != nil {
		return err
	}
	if !frame.SameSize(gt, pred) {
		return fmt.Errorf("%w: gt %dx%d, pred %dx%d", ErrSizeMismatch, gt.W, gt.H, pred.W, pred.H)
	}
	return checkCrop(gt.W, gt.H, crop)
}

func checkCrop(w, h, crop int) error {
	if crop < 0 || 2*crop >= w || 2*crop >= h {
		return fmt.Errorf("%w: crop %d of a %dx%d frame", ErrCrop, crop, w, h)
	}
	return nil
}

// planesOf returns the full-frame planes of img in space.
func planesOf(img *frame.Image, space Space) ([]plane, error) {
	switch space {
	case SpaceY:
		return []plane{{Y(img), img.W, img.H}}, nil
	case SpaceRGB:
		n := img.W * img.H
		out := make([]plane, 3)
		for c := range out {
			out[c] = plane{make([]float64, n), img.W, img.H}
		}
		parallel.Rows(img.H, 64, 0, func(y0, y1 int) {
			for i := y0 * img.W; i < y1*img.W; i++ {
				for c := range 3 {
					v := float64(img.Pix[3*i+c])
					if !(v > 0) {
						v = 0
					} else if v > 1 {
						v = 1
					}
					out[c].pix[i] = v
				}
			}
		})
		return out, nil
	}
	return nil, fmt.Errorf("%w: %d", ErrSpace, int(space))
}

// preparePair validates the arguments and returns the cropped planes.
func preparePair(gt, pred *frame.Image, space Space, crop int) (g, p []plane, err error) {
	if err := checkPair(gt, pred, crop); err != nil {
		return nil, nil, err
	}
	if g, err = planesOf(gt, space); err != nil {
		return nil, nil, err
	}
	if p, err = planesOf(pred, space); err != nil {
		return nil, nil, err
	}
	for i := range g {
		g[i], p[i] = g[i].crop(crop), p[i].crop(crop)
	}
	return g, p, nil
}

// PSNR returns the peak signal-to-noise ratio of pred against gt in dB with
// peak 1.0: 10 log10(1 / MSE), the MSE pooled over all samples of the
// cropped planes (all three channels for SpaceRGB). Identical inputs give
// +Inf; callers that need a finite number should cap it (Evaluator uses
// MaxPSNR).
func PSNR(gt, pred *frame.Image, space Space, crop int) (float64, error) {
	g, p, err := preparePair(gt, pred, space, crop)
	if err != nil {
		return 0, fmt.Errorf("PSNR: %w", err)
	}
	return psnrPlanes(g, p), nil
}

func psnrPlanes(g, p []plane) float64 {
	var se float64
	var n int
	for c := range g {
		se += sqErr(g[c].pix, p[c].pix)
		n += len(g[c].pix)
	}
	mse := se / float64(n)
	if mse == 0 {
		return math.Inf(1)
	}
	return -10 * math.Log10(mse)
}

func sqErr(a, b []float64) float64 {
	b = b[:len(a)]
	var s float64
	for i, x := range a {
		d := x - b[i]
		s += d * d
	}
	return s
}
