// Package bench runs several upscaling modes over the same low-quality frames,
// in one process and one run, and reports their speed, peak memory and quality
// side by side.
//
// # Modes
//
// A Mode is a named function from low-quality frames to frames upscaled by an
// integer scale. This package provides the baselines bicubic and lanczos
// (frame.Resize) and modes that wrap the external peers of package peers;
// the command line adds the PS-SR modes of package pipeline. A mode whose
// Skip is set is listed in the report with that note and not run.
//
// # Input and ground truth
//
// Load reads at most Input.Frames frames. With a ground truth (Input.GT) the
// input is the low-quality clip and the ground truth must have as many frames,
// each scale times the input's size. With Input.Degrade the input itself is the
// ground truth and the low-quality frames are made from it by bicubic
// downscaling by the scale (antialiased, as MATLAB's imresize), rounded to
// 8 bits like decoded video; this is how the numbers in pssr's README are
// produced. Without either there is nothing to score against and only speed
// and memory are reported.
//
// # Measurements
//
// Each mode first runs once, untimed, on the first two frames (the warm-up:
// graph compilation, model loading by a peer's tool, caches), then once,
// timed, on all frames:
//
//   - seconds_per_frame is the wall time of that run divided by the number of
//     frames. For a peer it includes writing the input PNGs and decoding the
//     output PNGs, which the tool needs anyway.
//   - peak_rss_mb is the peak resident set size of the process during the
//     timed run, in MiB (2^20 bytes): VmHWM of /proc/self/status, reset before
//     the run by writing "5" to /proc/self/clear_refs after a garbage
//     collection that returns free memory to the system. It is the whole
//     process, so it includes the frames the bench itself holds (the same
//     for every mode); compare modes by their differences. Where procfs is
//     missing or the reset is refused, the Go runtime's own count of the
//     memory it has mapped (runtime/metrics, the data behind
//     runtime.MemStats, sampled every few milliseconds) stands in for it;
//     that count misses memory allocated outside Go (cgo, PJRT plugins).
//     A mode that runs other programs, as every peer does, is charged the
//     larger of that and its child processes' peak RSS. The child peak is
//     exact when the mode reports it (ReportChildRSS; a peers.Peer that
//     implements ChildRSSReporter does so automatically); otherwise it comes
//     from getrusage(RUSAGE_CHILDREN), which only keeps the largest child
//     of the process's life so far: when that maximum does not rise during a
//     mode, the child's own peak is unknown, the value is a lower bound
//     and the table marks it with ">=" (Result.RSSLowerBound).
//   - With a ground truth, every metric of metrics.Evaluator on BT.601 luma
//     (metrics.SpaceY) with a border of MetricCrop pixels left out, averaged
//     over the frames: psnr_y, ssim_y, ms_ssim_y, gmsd_y, temporal_err (the
//     flow-warping error), temporal_diff and hf_ratio, and lpips (the learned
//     perceptual distance of Options.LPIPS on the cropped 8-bit RGB frames)
//     when that is set.
//   - niqe, the no-reference naturalness score of the output's luma (package
//     metrics/niqe, lower is more natural), with the same border left out,
//     averaged over the frames; it needs no ground truth. The report's
//     gt_niqe is the ground truth's, for comparison, and gt_warp_err the
//     ground truth's own warp error under the same flow and mask: sharp
//     frames score higher than blurred ones, so a mode's warp err is read
//     against it. Frames smaller than a
//     96x96 NIQE patch after the crop have none.
//
// # Outputs
//
// Report.WriteJSON writes the report as JSON, Report.WriteTable as a text
// table, and Report.WriteHTML a folder with index.html, a quality-versus-time
// scatter plot and zoomed crops of one frame for every mode, the ground truth
// and the input. Every file is written to a temporary name and renamed into
// place.
package bench

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"regexp"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/metrics"
)

// Kinds of modes.
const (
	KindBaseline = "baseline" // interpolation by frame.Resize
	KindPSSR     = "pssr"     // PS-SR pipeline modes
	KindPeer     = "peer"     // external tools of package peers
)

// MetricCrop is the border, in pixels of the upscaled frame, that the quality
// metrics leave out.
const MetricCrop = 4

// DefaultWarmupFrames is the number of frames of the untimed warm-up run.
const DefaultWarmupFrames = 2

// Mode is one way of upscaling a clip.
type Mode struct {
	// Name identifies the mode in the report and names its crop file: lower
	// case letters, digits, '.', '_' and '-', and not "gt" or "lq".
	Name string
	// Kind is KindBaseline, KindPSSR or KindPeer.
	Kind string
	// Run upscales the frames of lq by scale. It must return one frame per
	// input frame, in order, each scale times the input's size, and must
	// not modify lq.
	Run func(ctx context.Context, lq []*frame.Image, scale int) ([]*frame.Image, error)
	// Skip, when not nil, makes the bench list the mode as skipped with
	// Skip's message instead of running it.
	Skip error
}

// Options configures Run.
type Options struct {
	// Input describes the input for the report (e.g. Input.String()).
	Input string
	// Scale is the upscaling factor, at least 1.
	Scale int
	// Backend describes the compute backend of the PS-SR modes for the
	// report ("" when none was used).
	Backend string
	// Runtime names the runtime of the PS-SR networks ("go", "ort"; ""
	// when none was used).
	Runtime string
	// Machine describes the machine; "" means DescribeMachine().
	Machine string
	// WarmupFrames is the number of frames of the untimed warm-up run:
	// 0 means DefaultWarmupFrames, a negative value no warm-up.
	WarmupFrames int
	// KeepGoing reports a mode that fails as skipped, with "failed: " and
	// its error as the note, and goes on with the next mode. Without it the
	// first failure ends Run. A cancelled context always ends Run.
	KeepGoing bool
	// Log receives progress messages; nil discards them.
	Log *slog.Logger
	// LPIPS, when not nil, adds the perceptual distance to the quality
	// scores (normally *lpips.Metric of package metrics/lpips); it is used
	// only with a ground truth.
	LPIPS metrics.PairScorer
}

// Result holds the measurements of one mode. Fields that were not measured
// (a skipped mode; quality without a ground truth) are zero, and encoded as
// null by MarshalJSON.
type Result struct {
	Name string
	Kind string
	// Skipped is the note of a mode that did not run ("" when it ran).
	Skipped string
	// Failed is set when the mode ran and failed under Options.KeepGoing.
	Failed bool

	// SecondsPerFrame is the timed run's wall time divided by its frames.
	SecondsPerFrame float64
	// PeakRSSMB is the peak resident memory in MiB (see the package
	// documentation); RSSLowerBound marks a value that may miss a child
	// process's peak, and RSSSource says how it was measured: "vmhwm" or
	// "runtime", with "+children" when a child's peak was larger.
	PeakRSSMB     float64
	RSSLowerBound bool
	RSSSource     string

	// Quality is set when a ground truth was given; Metrics then holds its
	// averages (Metrics.LPIPSFrames > 0 when Options.LPIPS was set).
	Quality bool
	Metrics metrics.Summary
	// NIQE is the mean no-reference NIQE of the output over NIQEFrames
	// frames (0 and 0 when no frame was large enough), with or without a
	// ground truth.
	NIQE       float64
	NIQEFrames int

	// Crop is the region Report.CropRect of frame Report.CropFrame of the
	// mode's output, clamped to [0, 1] (nil for a skipped mode).
	Crop *frame.Image
}

// Ran reports whether the mode ran to completion.
func (r *Result) Ran() bool { return r.Skipped == "" }

// Report is the outcome of a bench run.
type Report struct {
	Input   string
	Scale   int
	Frames  int
	Machine string
	Backend string
	// Runtime is the runtime of the PS-SR networks (see Options.Runtime).
	Runtime string
	Modes   []Result

	// HasGT reports whether quality was measured against a ground truth.
	HasGT bool
	// GTNIQE is the mean NIQE of the ground truth's frames, and GTNIQEFrames
	// the frames it averages (0 without a ground truth or when too small).
	GTNIQE       float64
	GTNIQEFrames int
	// GTWarpErr is the ground truth's own warp error (metrics
	// FrameScores.WarpErrGT: the flow and mask of every mode's warp err
	// applied to the truth), the reference a mode's warp err is read
	// against; GTWarpFrames the frame pairs it averages (0 without a ground
	// truth or with one frame).
	GTWarpErr    float64
	GTWarpFrames int
	// CropFrame and CropRect locate the region shown by the crops: a frame
	// index and a rectangle in upscaled coordinates, chosen where the ground
	// truth (without one, the bicubic upscale of the input) has the most
	// detail.
	CropFrame int
	CropRect  image.Rectangle
	// GTCrop is that region of the ground truth (nil without one); LQCrop is
	// the matching region, CropRect divided by Scale, of the input.
	GTCrop, LQCrop *frame.Image
}

// cropSize is the side of the crop region in upscaled pixels (divisible by
// 2, 3, 4 and 8, so the region maps onto whole input pixels).
const cropSize = 96

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Run runs every mode over lq and scores it against gt when gt is not nil
// (gt[i] must be Scale times the size of lq[i]). Modes run one after another
// in the order given.
func Run(ctx context.Context, lq, gt []*frame.Image, modes []Mode, opt Options) (*Report, error) {
	if err := validate(lq, gt, modes, opt); err != nil {
		return nil, err
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	warm := opt.WarmupFrames
	if warm == 0 {
		warm = DefaultWarmupFrames
	}
	warm = min(warm, len(lq))
	rep := &Report{
		Input:   opt.Input,
		Scale:   opt.Scale,
		Frames:  len(lq),
		Machine: opt.Machine,
		Backend: opt.Backend,
		Runtime: opt.Runtime,
		HasGT:   gt != nil,
	}
	if rep.Machine == "" {
		rep.Machine = DescribeMachine()
	}
	rep.CropFrame, rep.CropRect = cropRegion(lq, gt, opt.Scale)
	lqRect := image.Rect(rep.CropRect.Min.X/opt.Scale, rep.CropRect.Min.Y/opt.Scale,
		rep.CropRect.Max.X/opt.Scale, rep.CropRect.Max.Y/opt.Scale)
	rep.LQCrop = lq[rep.CropFrame].Crop(lqRect).Clamp()
	if gt != nil {
		rep.GTCrop = gt[rep.CropFrame].Crop(rep.CropRect).Clamp()
	}

	for _, m := range modes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res := Result{Name: m.Name, Kind: m.Kind}
		if m.Skip != nil {
			res.Skipped = m.Skip.Error()
			log.Info("bench: skipping mode", "mode", m.Name, "reason", res.Skipped)
			rep.Modes = append(rep.Modes, res)
			continue
		}
		log.Info("bench: running mode", "mode", m.Name, "frames", len(lq), "warmup", max(warm, 0))
		err := runMode(ctx, m, lq, gt, opt.Scale, warm, opt.LPIPS, rep, &res)
		if err != nil {
			if ctx.Err() != nil || !opt.KeepGoing {
				return nil, fmt.Errorf("bench: mode %s: %w", m.Name, err)
			}
			log.Warn("bench: mode failed", "mode", m.Name, "err", err)
			res = Result{Name: m.Name, Kind: m.Kind, Skipped: "failed: " + err.Error(), Failed: true}
		} else {
			log.Info("bench: mode done", "mode", m.Name, "seconds_per_frame", res.SecondsPerFrame,
				"peak_rss_mb", res.PeakRSSMB, "psnr_y", res.Metrics.PSNR)
		}
		rep.Modes = append(rep.Modes, res)
	}
	return rep, nil
}

func validate(lq, gt []*frame.Image, modes []Mode, opt Options) error {
	if opt.Scale < 1 {
		return fmt.Errorf("bench: scale %d: must be at least 1", opt.Scale)
	}
	if len(lq) == 0 {
		return errors.New("bench: no input frames")
	}
	for i, f := range lq {
		if f == nil || f.W < 1 || f.H < 1 || len(f.Pix) != f.W*f.H*3 {
			return fmt.Errorf("bench: input frame %d is empty or malformed", i)
		}
		if !frame.SameSize(f, lq[0]) {
			return fmt.Errorf("bench: input frame %d is %dx%d, frame 0 is %dx%d", i, f.W, f.H, lq[0].W, lq[0].H)
		}
	}
	if gt != nil {
		if len(gt) != len(lq) {
			return fmt.Errorf("bench: %d ground-truth frames for %d input frames", len(gt), len(lq))
		}
		for i, g := range gt {
			if g == nil || len(g.Pix) != g.W*g.H*3 {
				return fmt.Errorf("bench: ground-truth frame %d is empty or malformed", i)
			}
			if g.W != lq[i].W*opt.Scale || g.H != lq[i].H*opt.Scale {
				return fmt.Errorf("bench: ground-truth frame %d is %dx%d; want %dx%d (scale %d x input %dx%d)",
					i, g.W, g.H, lq[i].W*opt.Scale, lq[i].H*opt.Scale, opt.Scale, lq[i].W, lq[i].H)
			}
		}
	}
	if len(modes) == 0 {
		return errors.New("bench: no modes to run")
	}
	seen := map[string]bool{}
	for _, m := range modes {
		if !nameRE.MatchString(m.Name) || m.Name == "gt" || m.Name == "lq" {
			return fmt.Errorf("bench: invalid mode name %q (lower-case letters, digits, '.', '_', '-'; not gt or lq)", m.Name)
		}
		if seen[m.Name] {
			return fmt.Errorf("bench: mode %s given twice", m.Name)
		}
		seen[m.Name] = true
		switch m.Kind {
		case KindBaseline, KindPSSR, KindPeer:
		default:
			return fmt.Errorf("bench: mode %s: unknown kind %q", m.Name, m.Kind)
		}
		if m.Run == nil && m.Skip == nil {
			return fmt.Errorf("bench: mode %s has neither Run nor Skip", m.Name)
		}
	}
	return nil
}

// runMode warms m up, times it over lq, measures its memory and scores it.
func runMode(ctx context.Context, m Mode, lq, gt []*frame.Image, scale, warm int, lp metrics.PairScorer, rep *Report, res *Result) error {
	rec := &childRSS{}
	mctx := context.WithValue(ctx, childRSSKey{}, rec)
	before := childUsage()

	if warm > 0 {
		out, err := m.Run(mctx, lq[:warm], scale)
		if err == nil {
			err = checkOutput(out, lq[:warm], scale)
		}
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}

	rec.reset() // the exact child peak is that of the timed run
	runtime.GC()
	debug.FreeOSMemory()
	meter := StartPeakMeter()
	start := time.Now()
	out, err := m.Run(mctx, lq, scale)
	elapsed := time.Since(start)
	selfPeak, source := meter.Stop()
	after := childUsage()
	if err != nil {
		return err
	}
	if err := checkOutput(out, lq, scale); err != nil {
		return err
	}

	res.SecondsPerFrame = elapsed.Seconds() / float64(len(lq))
	if res.SecondsPerFrame <= 0 { // a clock too coarse for a trivial mode
		res.SecondsPerFrame = math.SmallestNonzeroFloat64
	}
	peak := selfPeak
	child, exact := rec.get()
	if !exact && after.ok && after.maxRSS > before.maxRSS {
		child, exact = after.maxRSS, true
	}
	spawned := exact || (after.ok && after.cpu > before.cpu)
	if child > peak {
		peak = child
		source += "+children"
	}
	res.PeakRSSMB = float64(peak) / (1 << 20)
	res.RSSSource = source
	res.RSSLowerBound = spawned && !exact

	res.Crop = out[rep.CropFrame].Crop(rep.CropRect).Clamp()
	if gt != nil {
		ev, err := metrics.NewEvaluator(metrics.Options{Space: metrics.SpaceY, Crop: MetricCrop, LPIPS: lp})
		if err != nil {
			return err
		}
		for i := range out {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := ev.Add(gt[i], out[i]); err != nil {
				return fmt.Errorf("scoring frame %d: %w", i, err)
			}
		}
		res.Quality = true
		res.Metrics = ev.Summary()
		res.NIQE, res.NIQEFrames = res.Metrics.NIQE, res.Metrics.NIQEFrames
		if rep.GTNIQEFrames == 0 {
			rep.GTNIQE, rep.GTNIQEFrames = res.Metrics.NIQEGT, res.Metrics.NIQEFrames
		}
		if rep.GTWarpFrames == 0 {
			rep.GTWarpErr, rep.GTWarpFrames = res.Metrics.WarpErrGT, res.Metrics.TemporalFrames
		}
		return nil
	}
	var sum float64
	for i, f := range out {
		if err := ctx.Err(); err != nil {
			return err
		}
		v, err := metrics.NIQE(f, MetricCrop)
		if err != nil {
			return fmt.Errorf("NIQE of frame %d: %w", i, err)
		}
		if !math.IsNaN(v) {
			sum += v
			res.NIQEFrames++
		}
	}
	if res.NIQEFrames > 0 {
		res.NIQE = sum / float64(res.NIQEFrames)
	}
	return nil
}

// checkOutput verifies that out has one frame per input frame of the right
// size.
func checkOutput(out, lq []*frame.Image, scale int) error {
	if len(out) != len(lq) {
		return fmt.Errorf("returned %d frames for %d input frames", len(out), len(lq))
	}
	for i, f := range out {
		if f == nil || len(f.Pix) != f.W*f.H*3 {
			return fmt.Errorf("output frame %d is nil or malformed", i)
		}
		if f.W != lq[i].W*scale || f.H != lq[i].H*scale {
			return fmt.Errorf("output frame %d is %dx%d; want %dx%d (scale %d)", i, f.W, f.H,
				lq[i].W*scale, lq[i].H*scale, scale)
		}
	}
	return nil
}

// cropRegion picks the middle frame and, in it, the cropSize x cropSize
// region (smaller for small frames) whose luma has the largest summed
// absolute Laplacian, on the ground truth or, without one, on the bicubic
// upscale of the input. Its corner is a multiple of scale so that it maps
// onto whole input pixels.
func cropRegion(lq, gt []*frame.Image, scale int) (int, image.Rectangle) {
	idx := len(lq) / 2
	var ref *frame.Image
	if gt != nil {
		ref = gt[idx]
	} else {
		ref = frame.Resize(lq[idx], lq[idx].W*scale, lq[idx].H*scale, frame.Bicubic)
	}
	w, h := ref.W, ref.H
	side := max(scale, cropSize-cropSize%scale)
	cw, ch := min(side, w), min(side, h)
	// Integral image of |Laplacian| of the luma (zero at the border).
	y := make([]float64, w*h)
	for i := range y {
		p := ref.Pix[i*3 : i*3+3]
		y[i] = 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
	}
	sum := make([]float64, (w+1)*(h+1))
	for j := 0; j < h; j++ {
		row := 0.0
		for i := 0; i < w; i++ {
			v := 0.0
			if i > 0 && j > 0 && i < w-1 && j < h-1 {
				c := j*w + i
				v = math.Abs(4*y[c] - y[c-1] - y[c+1] - y[c-w] - y[c+w])
			}
			row += v
			sum[(j+1)*(w+1)+i+1] = sum[j*(w+1)+i+1] + row
		}
	}
	step := scale * max(1, 8/scale)
	positions := func(n, c int) []int {
		var ps []int
		for p := 0; p+c <= n; p += step {
			ps = append(ps, p)
		}
		if last := (n - c) / scale * scale; len(ps) == 0 || ps[len(ps)-1] != last {
			ps = append(ps, last)
		}
		return ps
	}
	best, bx, by := -1.0, 0, 0
	for _, y0 := range positions(h, ch) {
		for _, x0 := range positions(w, cw) {
			s := sum[(y0+ch)*(w+1)+x0+cw] - sum[y0*(w+1)+x0+cw] - sum[(y0+ch)*(w+1)+x0] + sum[y0*(w+1)+x0]
			if s > best {
				best, bx, by = s, x0, y0
			}
		}
	}
	return idx, image.Rect(bx, by, bx+cw, by+ch)
}
