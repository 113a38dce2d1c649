package metrics

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/pssr/pssr/flow"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/metrics/niqe"
)

// MaxPSNR is the value, in dB, that Evaluator records for a frame whose PSNR
// is +Inf (prediction identical to the ground truth), so that per-frame scores
// and averages stay finite.
const MaxPSNR = 100.0

// FrameScores holds the scores of one frame. The temporal fields (WarpErr,
// WarpErrGT, TempDiff) are NaN for the first frame, which has no predecessor, and
// WarpErr is also NaN when every pixel was masked out; HFRatio is +Inf when
// the ground truth is flat and the prediction is not. encoding/json rejects
// such values, so write per-frame scores with WriteCSV (or replace them
// first); Summary is always finite. LPIPS is NaN without Options.LPIPS, and
// NIQE and NIQEGT are NaN when the cropped frame is smaller than a NIQE patch
// (96x96), has no textured patch, or Options.NoNIQE is set.
type FrameScores struct {
	Index    int     `json:"index"`     // position in the sequence, from 0
	PSNR     float64 `json:"psnr"`      // dB, capped at MaxPSNR
	SSIM     float64 `json:"ssim"`      // see SSIM
	MSSSIM   float64 `json:"ms_ssim"`   // see MSSSIM
	GMSD     float64 `json:"gmsd"`      // see GMSD
	HFRatio  float64 `json:"hf_ratio"`  // see HFRatio
	WarpErr  float64 `json:"warp_err"`  // see WarpError
	TempDiff float64 `json:"temp_diff"` // see TemporalDiff
	// WarpErrGT is the warp error of the ground truth itself, with the flow
	// and mask of WarpErr: what a perfect prediction would score. Sharp
	// frames score higher than blurred ones, so a prediction's WarpErr is
	// read against this reference, not against zero.
	WarpErrGT float64 `json:"warp_err_gt"`
	LPIPS     float64 `json:"lpips"`   // Options.LPIPS on the cropped 8-bit RGB frames, lower is better
	NIQE      float64 `json:"niqe"`    // NIQE of the cropped prediction's luma (no reference), lower is better
	NIQEGT    float64 `json:"niqe_gt"` // NIQE of the cropped ground truth's luma, for comparison
}

// Options configures an Evaluator.
type Options struct {
	// Space selects the samples of the full-reference metrics (temporal
	// metrics always use Y).
	Space Space
	// Crop is the border, in pixels, left out of every metric.
	Crop int
	// Flow configures the optical flow of the warping error (zero value:
	// flow's defaults).
	Flow flow.Options
	// LPIPS, when not nil, scores every pair with a learned perceptual
	// distance, normally *lpips.Metric (package metrics/lpips), on the
	// cropped RGB frames rounded to 8 bits, whatever Space is.
	LPIPS PairScorer
	// NoNIQE turns off NIQE, the no-reference naturalness score (package
	// metrics/niqe) of the prediction and of the ground truth, computed on
	// the cropped luma. It costs about 0.25 s per 1280x720 frame and image.
	NoNIQE bool
}

// Evaluator scores a sequence frame by frame. Feed the (gt, pred) pairs in
// order with Add; it keeps only the previous pair's luma planes, so memory
// does not grow with the sequence, and running sums for Summary. An
// Evaluator is not safe for concurrent use.
type Evaluator struct {
	opt  Options
	w, h int
	n    int // frames added

	prevGT, prevPred []float64 // Y planes of the previous pair
	niqe             *niqe.Model

	sum    [8]float64 // PSNR, SSIM, MSSSIM, GMSD, HFRatio, WarpErr, TempDiff, WarpErrGT
	cnt    [8]int
	capped int
	nonFin int

	// Perceptual sums: LPIPS, NIQE, NIQEGT; their counts are the frames
	// with a finite value.
	psum [3]float64
	pcnt [3]int
}

// NewEvaluator returns an Evaluator with the given options. It returns
// ErrSpace for an unknown space and ErrCrop for a negative crop (a crop too
// large for the frames is reported by the first Add).
func NewEvaluator(opt Options) (*Evaluator, error) {
	if opt.Space != SpaceY && opt.Space != SpaceRGB {
		return nil, fmt.Errorf("NewEvaluator: %w: %d", ErrSpace, int(opt.Space))
	}
	if opt.Crop < 0 {
		return nil, fmt.Errorf("NewEvaluator: %w: %d", ErrCrop, opt.Crop)
	}
	e := &Evaluator{opt: opt}
	if !opt.NoNIQE {
		m, err := niqe.Pristine()
		if err != nil {
			return nil, fmt.Errorf("NewEvaluator: %w", err)
		}
		e.niqe = m
	}
	return e, nil
}

// Add scores the next frame pair and returns its scores. All frames must
// have the size of the first (ErrSizeMismatch) and be at least 11x11 after
// the crop (ErrTooSmall). The temporal scores compare
// this pair with the previous one. On error the pair is not recorded and the
// Evaluator is unchanged.
func (e *Evaluator) Add(gt, pred *frame.Image) (FrameScores, error) {
	if err := checkPair(gt, pred, e.opt.Crop); err != nil {
		return FrameScores{}, fmt.Errorf("Evaluator.Add frame %d: %w", e.n, err)
	}
	if e.n > 0 && (gt.W != e.w || gt.H != e.h) {
		return FrameScores{}, fmt.Errorf("Evaluator.Add frame %d: %w: %dx%d, sequence is %dx%d",
			e.n, ErrSizeMismatch, gt.W, gt.H, e.w, e.h)
	}
	w, h, crop := gt.W, gt.H, e.opt.Crop
	gy, py := Y(gt), Y(pred)

	var g, p []plane
	if e.opt.Space == SpaceY {
		g = []plane{plane{gy, w, h}.crop(crop)}
		p = []plane{plane{py, w, h}.crop(crop)}
	} else {
		var err error
		if g, p, err = preparePair(gt, pred, e.opt.Space, crop); err != nil {
			return FrameScores{}, fmt.Errorf("Evaluator.Add frame %d: %w", e.n, err)
		}
	}
	if err := checkWindow(g[0]); err != nil {
		return FrameScores{}, fmt.Errorf("Evaluator.Add frame %d: %w", e.n, err)
	}

	fs := FrameScores{Index: e.n, WarpErr: math.NaN(), TempDiff: math.NaN(), WarpErrGT: math.NaN(),
		LPIPS: math.NaN(), NIQE: math.NaN(), NIQEGT: math.NaN()}
	var err error
	if fs.LPIPS, err = perceptual(e.opt.LPIPS, gt, pred, crop); err != nil {
		return FrameScores{}, fmt.Errorf("Evaluator.Add frame %d: %w", e.n, err)
	}
	if e.niqe != nil {
		done := make(chan struct{})
		go func() {
			fs.NIQEGT = niqeOf(e.niqe, plane{gy, w, h}.crop(crop))
			close(done)
		}()
		fs.NIQE = niqeOf(e.niqe, plane{py, w, h}.crop(crop))
		<-done
	}
	fs.PSNR = psnrPlanes(g, p)
	capped := false
	if math.IsInf(fs.PSNR, 1) {
		fs.PSNR = MaxPSNR
		capped = true
	}
	for c := range g {
		s, ms := ssimMSSSIM(g[c], p[c])
		fs.SSIM += s
		fs.MSSSIM += ms
	}
	fs.SSIM /= float64(len(g))
	fs.MSSSIM /= float64(len(g))
	fs.GMSD = gmsdPlanes(g, p)
	fs.HFRatio = hfRatio(laplacianMean(g), laplacianMean(p))

	if e.n > 0 {
		fs.TempDiff = temporalDiff(e.prevGT, gy, e.prevPred, py, w, h, crop)
		v, vg, err := warpErrors(e.prevGT, gy, e.prevPred, py, w, h, crop, e.opt.Flow)
		if err != nil && !errors.Is(err, ErrNoValidPixels) {
			return FrameScores{}, fmt.Errorf("Evaluator.Add frame %d: %w", e.n, err)
		}
		fs.WarpErr, fs.WarpErrGT = v, vg
	}

	e.w, e.h = w, h
	e.prevGT, e.prevPred = gy, py
	if capped {
		e.capped++
	}
	for i, v := range []float64{fs.PSNR, fs.SSIM, fs.MSSSIM, fs.GMSD, fs.HFRatio, fs.WarpErr, fs.TempDiff, fs.WarpErrGT} {
		if i >= 5 && e.n == 0 {
			continue // no temporal score for the first frame
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			e.nonFin++
			continue
		}
		e.sum[i] += v
		e.cnt[i]++
	}
	for i, v := range []float64{fs.LPIPS, fs.NIQE, fs.NIQEGT} {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			e.psum[i] += v
			e.pcnt[i]++
		}
	}
	e.n++
	return fs, nil
}

// Summary holds the averages over a sequence. Every field is finite, so it
// encodes to JSON as is.
type Summary struct {
	Space  string `json:"space"`  // "Y" or "RGB"
	Crop   int    `json:"crop"`   // border left out, pixels
	Frames int    `json:"frames"` // frames added

	// Means of the per-frame scores over all frames. PSNR is the mean of the
	// per-frame PSNRs in dB (not the PSNR of the pooled MSE), with +Inf
	// frames counted as MaxPSNR.
	PSNR    float64 `json:"psnr"`
	SSIM    float64 `json:"ssim"`
	MSSSIM  float64 `json:"ms_ssim"`
	GMSD    float64 `json:"gmsd"`
	HFRatio float64 `json:"hf_ratio"`

	// Means of the temporal scores over frames 1..Frames-1 (0 when there are
	// fewer than two frames).
	WarpErr  float64 `json:"warp_err"`
	TempDiff float64 `json:"temp_diff"`
	// WarpErrGT is the ground truth's own warp error (FrameScores.WarpErrGT).
	WarpErrGT float64 `json:"warp_err_gt"`

	// TemporalFrames is the number of frames with temporal scores, Frames-1.
	TemporalFrames int `json:"temporal_frames"`
	// CappedPSNR counts the frames whose PSNR was +Inf and entered as MaxPSNR.
	CappedPSNR int `json:"capped_psnr"`
	// Skipped counts per-frame values left out of the means because they were
	// not finite (an HFRatio of +Inf against a flat ground truth, a WarpErr
	// with every pixel masked).
	Skipped int `json:"skipped"`

	// LPIPS is the mean over the LPIPSFrames frames scored with
	// Options.LPIPS (0 and 0 without it).
	LPIPS       float64 `json:"lpips"`
	LPIPSFrames int     `json:"lpips_frames"`
	// NIQE and NIQEGT are the means of the prediction's and the ground
	// truth's NIQE over the NIQEFrames frames that have one (0 when none
	// has: NoNIQE, or frames smaller than 96x96 after the crop).
	NIQE       float64 `json:"niqe"`
	NIQEGT     float64 `json:"niqe_gt"`
	NIQEFrames int     `json:"niqe_frames"`
}

// Summary returns the averages of the frames added so far. A mean with no
// finite contribution is 0.
func (e *Evaluator) Summary() Summary {
	mean := func(i int) float64 {
		if e.cnt[i] == 0 {
			return 0
		}
		return e.sum[i] / float64(e.cnt[i])
	}
	pmean := func(i int) float64 {
		if e.pcnt[i] == 0 {
			return 0
		}
		return e.psum[i] / float64(e.pcnt[i])
	}
	return Summary{
		Space:          e.opt.Space.String(),
		Crop:           e.opt.Crop,
		Frames:         e.n,
		PSNR:           mean(0),
		SSIM:           mean(1),
		MSSSIM:         mean(2),
		GMSD:           mean(3),
		HFRatio:        mean(4),
		WarpErr:        mean(5),
		TempDiff:       mean(6),
		WarpErrGT:      mean(7),
		TemporalFrames: max(e.n-1, 0),
		CappedPSNR:     e.capped,
		Skipped:        e.nonFin,
		LPIPS:          pmean(0),
		LPIPSFrames:    e.pcnt[0],
		NIQE:           pmean(1),
		NIQEGT:         pmean(2),
		NIQEFrames:     e.pcnt[1],
	}
}

// csvHeader is the header row of WriteCSV.
func csvHeader() []string {
	return []string{"frame", "psnr", "ssim", "ms_ssim", "gmsd", "hf_ratio", "warp_err", "temp_diff",
		"lpips", "niqe", "niqe_gt", "warp_err_gt"}
}

// WriteCSV writes one row per frame with the header
// frame,psnr,ssim,ms_ssim,gmsd,hf_ratio,warp_err,temp_diff,lpips,niqe,niqe_gt,warp_err_gt.
// Values use the shortest decimal form that round-trips; NaN (the temporal
// scores of the first frame, scores that were not computed) is written as an
// empty cell.
func WriteCSV(w io.Writer, scores []FrameScores) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader()); err != nil {
		return fmt.Errorf("WriteCSV: %w", err)
	}
	f := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	for _, s := range scores {
		row := []string{strconv.Itoa(s.Index), f(s.PSNR), f(s.SSIM), f(s.MSSSIM), f(s.GMSD),
			f(s.HFRatio), f(s.WarpErr), f(s.TempDiff), f(s.LPIPS), f(s.NIQE), f(s.NIQEGT), f(s.WarpErrGT)}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("WriteCSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("WriteCSV: %w", err)
	}
	return nil
}
