package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pssr/pssr/internal/atomicfile"
	"github.com/pssr/pssr/metrics"
	"github.com/pssr/pssr/metrics/lpips"
	"github.com/pssr/pssr/progress"
	"github.com/pssr/pssr/video"
)

func init() { commands = append(commands, newEvalCmd) }

// evalReport is the --json file: the inputs and the summary.
type evalReport struct {
	GT   string `json:"gt"`
	Pred string `json:"pred"`
	metrics.Summary
}

func newEvalCmd(a *app) *cobra.Command {
	var (
		gt, pred          string
		crop              int
		useY, useRGB      bool
		jsonPath, csvPath string
		noLPIPS, noNIQE   bool
		backendSpec       string
	)
	cmd := &cobra.Command{
		Use:   "eval --gt GT --pred PRED",
		Short: "Score a super-resolved video against the ground truth (PSNR, SSIM, LPIPS, NIQE, temporal consistency)",
		Long: `eval compares PRED with GT frame by frame; both are videos or folders of
PNG/JPEG frames with the same frame size and number of frames. It prints the
mean of each metric:

  PSNR, SSIM, MS-SSIM  fidelity, higher is better (PSNR of identical frames
                       counts as 100 dB);
  GMSD                 gradient magnitude similarity deviation, lower is better;
  LPIPS                learned perceptual distance (SqueezeNet, v0.1) on RGB,
                       lower is better; it runs on --backend (--no-lpips skips
                       it);
  NIQE                 no-reference naturalness of PRED's luma (and, for
                       comparison, of GT's), lower is better; frames need
                       96x96 pixels after the crop (--no-niqe skips it);
  warp error           flicker that the true motion does not explain, lower is
                       better;
  temporal diff        error in the frame-to-frame change, lower is better;
  HF ratio             high-frequency energy of PRED over GT, 1 is ideal
                       (below: over-smoothed, above: added detail or noise).

The full-reference metrics see BT.601 luma (--y, the default) or RGB (--rgb);
the temporal ones and NIQE always use luma, LPIPS always RGB. --crop pixels
are left out at every border.`,
		Example: "  pssr eval --gt gt.mp4 --pred sr.mp4\n  pssr eval --gt gt_frames/ --pred sr_frames/ --rgb --crop 0 --csv frames.csv --json summary.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if crop < 0 {
				return fmt.Errorf("--crop %d: must be 0 or more", crop)
			}
			space := metrics.SpaceY
			if useRGB {
				space = metrics.SpaceRGB
			}
			for _, o := range []struct{ flag, path string }{{"--json", jsonPath}, {"--csv", csvPath}} {
				if o.path == "" {
					continue
				}
				if err := checkNotInput(o.path, gt, pred); err != nil {
					return fmt.Errorf("%s: %w", o.flag, err)
				}
				if err := checkOutputDir(o.flag, o.path); err != nil {
					return err
				}
			}
			if jsonPath != "" && csvPath != "" && samePath(jsonPath, csvPath) {
				return fmt.Errorf("--json and --csv name the same file %q", jsonPath)
			}
			ctx := cmd.Context()
			gi, err := video.Probe(ctx, gt)
			if err != nil {
				return fmt.Errorf("--gt: %w", err)
			}
			pi, err := video.Probe(ctx, pred)
			if err != nil {
				return fmt.Errorf("--pred: %w", err)
			}
			if gi.Width != pi.Width || gi.Height != pi.Height {
				return fmt.Errorf("frame sizes differ: GT %q is %dx%d, PRED %q is %dx%d", gt, gi.Width, gi.Height, pred, pi.Width, pi.Height)
			}
			if gi.Frames != pi.Frames {
				return fmt.Errorf("frame counts differ: GT %q has %d frames, PRED %q has %d", gt, gi.Frames, pred, pi.Frames)
			}
			if gi.Rotation != pi.Rotation {
				a.log.Warn("display rotations differ; frames are compared as stored", "gt", gi.Rotation, "pred", pi.Rotation)
			}
			if m := 2 * crop; gi.Width-m < 11 || gi.Height-m < 11 {
				return fmt.Errorf("--crop %d leaves %dx%d of the %dx%d frames; the metrics need at least 11x11",
					crop, max(0, gi.Width-m), max(0, gi.Height-m), gi.Width, gi.Height)
			}
			opt := metrics.Options{Space: space, Crop: crop, NoNIQE: noNIQE}
			if cw, ch := gi.Width-2*crop, gi.Height-2*crop; !noLPIPS && (cw < lpips.MinSize || ch < lpips.MinSize) {
				a.log.Warn("frames too small for LPIPS after the crop; scoring without it",
					"size", fmt.Sprintf("%dx%d", cw, ch), "min", lpips.MinSize)
				noLPIPS = true
			}
			if !noLPIPS {
				lp, _, closeLPIPS, err := openLPIPS(a, backendSpec)
				if err != nil {
					return err
				}
				defer closeLPIPS()
				opt.LPIPS = lp
			}
			ev, err := metrics.NewEvaluator(opt)
			if err != nil {
				return err
			}
			gr, err := video.Open(ctx, gt)
			if err != nil {
				return fmt.Errorf("--gt: %w", err)
			}
			defer gr.Close()
			pr, err := video.Open(ctx, pred)
			if err != nil {
				return fmt.Errorf("--pred: %w", err)
			}
			defer pr.Close()

			var scores []metrics.FrameScores
			bar := progress.New(a.stderr, gi.Frames, "eval", a.quiet)
			defer bar.Finish()
		loop:
			for n := 0; ; n++ {
				g, errG := gr.Next()
				p, errP := pr.Next()
				switch {
				case errG != nil && !errors.Is(errG, io.EOF):
					return fmt.Errorf("GT, frame %d: %w", n+1, errG)
				case errP != nil && !errors.Is(errP, io.EOF):
					return fmt.Errorf("PRED, frame %d: %w", n+1, errP)
				case errG != nil && errP != nil:
					break loop
				case errG != nil:
					return fmt.Errorf("frame counts differ: GT %q ended after %d frames, PRED %q has more", gt, n, pred)
				case errP != nil:
					return fmt.Errorf("frame counts differ: PRED %q ended after %d frames, GT %q has more", pred, n, gt)
				}
				s, err := ev.Add(g, p)
				if err != nil {
					return fmt.Errorf("frame %d: %w", n+1, err)
				}
				if csvPath != "" {
					scores = append(scores, s)
				}
				bar.Add(1)
			}
			bar.Finish()
			sum := ev.Summary()
			if sum.Frames == 0 {
				return fmt.Errorf("GT %q: %w", gt, video.ErrNoFrames)
			}
			if csvPath != "" {
				if err := atomicfile.Write(csvPath, func(w io.Writer) error { return metrics.WriteCSV(w, scores) }); err != nil {
					return fmt.Errorf("--csv: %w", err)
				}
			}
			if jsonPath != "" {
				rep := evalReport{GT: gt, Pred: pred, Summary: sum}
				err := atomicfile.Write(jsonPath, func(w io.Writer) error {
					enc := json.NewEncoder(w)
					enc.SetIndent("", "  ")
					return enc.Encode(rep)
				})
				if err != nil {
					return fmt.Errorf("--json: %w", err)
				}
			}
			return writeSummary(a.stdout, gt, pred, sum)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&gt, "gt", "", "ground-truth video or frame folder `GT` (required)")
	fl.StringVar(&pred, "pred", "", "predicted video or frame folder `PRED` (required)")
	fl.IntVar(&crop, "crop", 4, "`N` pixels left out at every border (usually the upscaling factor)")
	fl.BoolVar(&useY, "y", false, "full-reference metrics on BT.601 luma (the default)")
	fl.BoolVar(&useRGB, "rgb", false, "full-reference metrics on the RGB channels")
	fl.StringVar(&jsonPath, "json", "", "write the summary as JSON to `FILE`")
	fl.StringVar(&csvPath, "csv", "", "write the per-frame scores as CSV to `FILE`")
	fl.BoolVar(&noLPIPS, "no-lpips", false, "skip LPIPS (it needs models/perceptual/"+lpips.DefaultName+" or $"+lpips.EnvPath+")")
	fl.BoolVar(&noNIQE, "no-niqe", false, "skip NIQE")
	fl.StringVar(&backendSpec, "backend", "", `compute backend `+"`SPEC`"+` of LPIPS: "go", "xla:/abs/plugin.so" or "auto" (default $GOMLX_BACKEND or go)`)
	_ = cmd.MarkFlagRequired("gt")
	_ = cmd.MarkFlagRequired("pred")
	cmd.MarkFlagsMutuallyExclusive("y", "rgb")
	return cmd
}

// writeSummary prints the per-metric table.
func writeSummary(w io.Writer, gt, pred string, s metrics.Summary) error {
	fmt.Fprintf(w, "PRED %s against GT %s: %d frames, %s, crop %d\n", pred, gt, s.Frames, s.Space, s.Crop)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tmean\tbetter\t")
	row := func(name, value, better string) { fmt.Fprintf(tw, "%s\t%s\t%s\t\n", name, value, better) }
	row("PSNR (dB)", fmt.Sprintf("%.3f", s.PSNR), "higher")
	row("SSIM", fmt.Sprintf("%.4f", s.SSIM), "higher")
	row("MS-SSIM", fmt.Sprintf("%.4f", s.MSSSIM), "higher")
	row("GMSD", fmt.Sprintf("%.4f", s.GMSD), "lower")
	if s.LPIPSFrames > 0 {
		row("LPIPS", fmt.Sprintf("%.4f", s.LPIPS), "lower")
	} else {
		row("LPIPS", "n/a", "lower")
	}
	if s.NIQEFrames > 0 {
		row("NIQE", fmt.Sprintf("%.3f", s.NIQE), "lower")
		row("NIQE of GT", fmt.Sprintf("%.3f", s.NIQEGT), "reference")
	} else {
		row("NIQE", "n/a", "lower")
	}
	temporal := func(v float64) string {
		if s.TemporalFrames == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.5f", v)
	}
	row("warp error", temporal(s.WarpErr), "lower")
	row("warp error of GT", temporal(s.WarpErrGT), "reference")
	row("temporal diff", temporal(s.TempDiff), "lower")
	row("HF ratio", fmt.Sprintf("%.4f", s.HFRatio), "near 1")
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.CappedPSNR > 0 {
		fmt.Fprintf(w, "%d of %d frames are identical to GT (PSNR counted as %g dB)\n", s.CappedPSNR, s.Frames, metrics.MaxPSNR)
	}
	if s.TemporalFrames == 0 {
		fmt.Fprintln(w, "temporal metrics need at least 2 frames")
	}
	if s.NIQEFrames == 0 && s.Frames > 0 {
		fmt.Fprintln(w, "NIQE needs frames of at least 96x96 after the crop (or was turned off)")
	}
	if s.Skipped > 0 {
		fmt.Fprintf(w, "%d per-frame values were not finite and left out of the means\n", s.Skipped)
	}
	return nil
}
