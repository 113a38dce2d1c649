package metrics

import (
	"errors"
	"fmt"
	"math"

	"github.com/pssr/pssr/flow"
	"github.com/pssr/pssr/frame"
)

// ErrNoValidPixels reports a warping error with every pixel masked out
// (occluded, out of frame or cropped).
var ErrNoValidPixels = errors.New("metrics: no valid pixels for the warping error")

// WarpError returns the flow-warping error of a predicted frame pair: the
// mean absolute difference, on Y in [0, 1] (see Y), between predCur and
// predPrev warped onto it, over the pixels where the motion is trusted.
//
// The flow is estimated on the ground truth, so that the measure penalises
// only temporal inconsistency the true motion does not explain: f =
// flow.Dense(Y(gtCur), Y(gtPrev)) maps every pixel of the current frame to
// its position in the previous one, and predPrev is warped bilinearly along
// f. A pixel is left out when it lies within crop of the border, when x+f(x)
// falls outside the frame, or when f fails the forward-backward consistency
// check against the reverse flow flow.Dense(Y(gtPrev), Y(gtCur)) (see
// flow.OcclusionMask). ErrNoValidPixels is returned when nothing is left.
// The flow uses flow's default options.
func WarpError(gtPrev, gtCur, predPrev, predCur *frame.Image, crop int) (float64, error) {
	if err := checkQuad(gtPrev, gtCur, predPrev, predCur, crop); err != nil {
		return 0, fmt.Errorf("WarpError: %w", err)
	}
	v, err := warpError(Y(gtPrev), Y(gtCur), Y(predPrev), Y(predCur), gtCur.W, gtCur.H, crop, flow.Options{})
	if err != nil {
		return 0, fmt.Errorf("WarpError: %w", err)
	}
	return v, nil
}

// TemporalDiff returns the mean absolute difference between the predicted
// and the true frame-to-frame change on Y in [0, 1]:
//
//	mean |(predCur - predPrev) - (gtCur - gtPrev)|
//
// over the cropped frame. It needs no motion estimate; it is 0 when the
// prediction changes exactly as the ground truth does (including a constant
// error that does not flicker).
func TemporalDiff(gtPrev, gtCur, predPrev, predCur *frame.Image, crop int) (float64, error) {
	if err := checkQuad(gtPrev, gtCur, predPrev, predCur, crop); err != nil {
		return 0, fmt.Errorf("TemporalDiff: %w", err)
	}
	return temporalDiff(Y(gtPrev), Y(gtCur), Y(predPrev), Y(predCur), gtCur.W, gtCur.H, crop), nil
}

// checkQuad validates the four frames of a temporal metric and the crop.
func checkQuad(gtPrev, gtCur, predPrev, predCur *frame.Image, crop int) error {
	names := []string{"gtPrev", "gtCur", "predPrev", "predCur"}
	for i, m := range []*frame.Image{gtPrev, gtCur, predPrev, predCur} {
		if err := checkFrame(names[i], m); err != nil {
			return err
		}
		if !frame.SameSize(m, gtCur) {
			return fmt.Errorf("%w: %s is %dx%d, gtCur %dx%d", ErrSizeMismatch, names[i], m.W, m.H, gtCur.W, gtCur.H)
		}
	}
	return checkCrop(gtCur.W, gtCur.H, crop)
}

func temporalDiff(gp, gc, pp, pc []float64, w, h, crop int) float64 {
	var s float64
	for y := crop; y < h-crop; y++ {
		for x := crop; x < w-crop; x++ {
			i := y*w + x
			s += math.Abs((pc[i] - pp[i]) - (gc[i] - gp[i]))
		}
	}
	return s / float64((w-2*crop)*(h-2*crop))
}

func to32(p []float64) []float32 {
	out := make([]float32, len(p))
	for i, v := range p {
		out[i] = float32(v)
	}
	return out
}

// warpError computes WarpError from full-frame Y planes.
func warpError(gp, gc, pp, pc []float64, w, h, crop int, opt flow.Options) (float64, error) {
	v, _, err := warpErrors(gp, gc, pp, pc, w, h, crop, opt)
	return v, err
}

// warpErrors returns WarpError of the prediction and, with the same flow
// and mask, of the ground truth itself: the error that flow estimation,
// bilinear resampling, lighting changes and unmasked occlusions leave even
// for a perfect prediction, the reference a prediction's warp error is read
// against.
func warpErrors(gp, gc, pp, pc []float64, w, h, crop int, opt flow.Options) (pred, gt float64, err error) {
	gp32, gc32 := to32(gp), to32(gc)
	fu, fv := flow.Dense(gc32, gp32, w, h, opt) // current -> previous
	bu, bv := flow.Dense(gp32, gc32, w, h, opt) // previous -> current
	occ := flow.OcclusionMask(fu, fv, bu, bv, w, h)
	warped := flow.Warp(to32(pp), w, h, fu, fv)
	warpedGT := flow.Warp(gp32, w, h, fu, fv)
	var s, sg float64
	var n int
	for y := crop; y < h-crop; y++ {
		for x := crop; x < w-crop; x++ {
			i := y*w + x
			if occ[i] {
				continue
			}
			s += math.Abs(float64(warped[i]) - pc[i])
			sg += math.Abs(float64(warpedGT[i]) - gc[i])
			n++
		}
	}
	if n == 0 {
		return math.NaN(), math.NaN(), ErrNoValidPixels
	}
	return s / float64(n), sg / float64(n), nil
}
