package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/ort"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/progress"
	"github.com/pssr/pssr/tiling"
	"github.com/pssr/pssr/upscale"
	"github.com/pssr/pssr/video"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newUpscaleCmd) }

// upscaleOptions are the flags of pssr upscale.
type upscaleOptions struct {
	opt                    pipeline.Options
	choices                upscale.Choices
	of                     outputFlags
	modelPath, backendSpec string
	runtimeSpec            string
	deviceOps              string
	resume, noCheckpoint   bool
	checkpointEvery        time.Duration
	recursive              bool
	maxPixels              int
	maxMemory              string
}

func newUpscaleCmd(a *app) *cobra.Command {
	o := &upscaleOptions{opt: pipeline.DefaultOptions(), choices: upscale.DefaultChoices()}
	cmd := &cobra.Command{
		Use:   "upscale IN OUT | IN_DIR OUT_DIR",
		Short: "Upscale a video (or a folder of videos) x2 or x4 with PS-SR",
		Long: `upscale reads IN (any video ffmpeg decodes, or a folder of PNG/JPEG frames),
upscales every frame x2 or x4 with PS-SR and writes OUT with the same frame
count, exact frame rate and rotation; audio and subtitle streams are copied
without re-encoding when OUT's container can hold them.

The low-quality frames are resized to the output size, encoded, and the base
network takes one step from their latent at t=699; the draft network, fed the
base network's features, takes --draft-steps more (599, 499, 399 for 3); the
frequency-domain update keeps the base result's low frequencies and takes
high-frequency detail from the draft. By default (--fuse latent) the update's
rule runs on the base and draft latents, with cut-off --latent-fc on the
latent grid, and the result is decoded once; --fuse final is the release's
form (both results decoded, the update on the pixels with cut-off --fc: more
detail, twice the decoding), per-step the paper's. Long videos run in
overlapping windows of --window-t frames
and large frames in overlapping tiles of --tile pixels, so memory stays
bounded. OUT is written to a temporary file and renamed when complete.

Finished windows are checkpointed in a hidden folder next to OUT
(".OUT.pssr-ckpt": lossless segments and a manifest holding the hashes of
the input, the model and the options). After an interruption (Ctrl-C,
SIGKILL, a power cut, a full disk), run the same command with --resume: it
continues at the first unfinished window, and the result is identical to an
uninterrupted run. The checkpoint is removed once OUT is complete; one made
from another input, model or options is refused.

Batch: when IN_DIR is a folder of videos (not of frames), every video in it
(and in its subfolders with --recursive) is upscaled into OUT_DIR under the
same relative name (with the codec's extension when the container cannot
hold it). Finished outputs are skipped, interrupted ones resumed, a failing
file does not stop the others; each file's status is printed, and the exit
status is 1 when any file failed.`,
		Example: `  pssr upscale testdata/sample.mp4 sample-x4.mp4
  pssr upscale in.mkv out.mkv --scale 2 --codec ffv1
  pssr upscale in.mkv out.mkv --scale 2 --codec ffv1 --resume   # after an interruption
  pssr upscale frames/ out/ --codec png --draft-steps 1 --fuse per-step
  pssr upscale videos/ videos-x4/ --recursive`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, a, args[0], args[1])
		},
	}
	f := cmd.Flags()
	opt := &o.opt
	f.IntVar(&opt.Scale, "scale", opt.Scale, "upscaling factor: 2 or 4")
	f.StringVar(&o.modelPath, "model", "", "model `FILE` (default: $PSSR_MODEL or the bundled models/pssr-tiny-x2 or -x4.safetensors, by --scale)")
	f.StringVar(&o.choices.Mode, "mode", o.choices.Mode, "pssr, pssr-nofuse, base (one step), base-4step (the base network at every timestep) or decoder (the decoder alone on the low-quality latent, no step)")
	f.IntVar(&o.choices.DraftSteps, "draft-steps", o.choices.DraftSteps, "draft steps after the base step (3 gives 599, 499, 399)")
	f.IntSliceVar(&o.choices.DraftTimesteps, "draft-timesteps", nil, "explicit draft timesteps, decreasing, below the base's 699 (overrides --draft-steps), e.g. 599,499,399")
	f.StringVar(&o.choices.Fuse, "fuse", o.choices.Fuse, "frequency update: latent (the rule on the base and last draft latents, one decode), final (the release: on the decoded frames, two decodes), per-step, or off")
	f.Float64Var(&opt.FuseParams.Alpha, "alpha", opt.FuseParams.Alpha, "strength of the draft's high-frequency band, 0 to 2")
	f.Float64Var(&opt.FuseParams.Fc, "fc", opt.FuseParams.Fc, "Butterworth cut-off of --fuse final and per-step on the pixels, in normalised frequency, in (0, 0.7072]")
	f.Float64Var(&opt.LatentFc, "latent-fc", opt.LatentFc, "Butterworth cut-off of --fuse latent on the latent grid, in (0, 0.7072]")
	f.IntVar(&opt.FuseParams.Order, "order", opt.FuseParams.Order, "Butterworth filter order, 1 to 8")
	f.IntVar(&opt.FuseParams.Border, "border", opt.FuseParams.Border, "border in pixels copied from the base result")
	f.IntVar(&opt.WindowT, "window-t", opt.WindowT, "temporal window in frames")
	f.IntVar(&opt.OverlapT, "overlap-t", opt.OverlapT, "overlap of temporal windows in frames (linear cross-fade)")
	f.IntVar(&opt.Tile, "tile", opt.Tile, tileHelp)
	f.IntVar(&opt.TileOverlap, "tile-overlap", opt.TileOverlap, "overlap of spatial tiles in output pixels (linear ramps)")
	f.StringVar(&o.backendSpec, "backend", "", `compute backend: "go", "xla:/abs/plugin.so" or "auto" (default $GOMLX_BACKEND or go)`)
	f.StringVar(&o.runtimeSpec, "runtime", ort.RuntimeAuto, runtimeHelp)
	f.StringVar(&o.deviceOps, "device-ops", "auto", deviceOpsHelp)
	f.BoolVar(&o.resume, "resume", false, "continue an interrupted run from its checkpoint next to OUT (starts from the beginning when there is none)")
	f.BoolVar(&o.noCheckpoint, "no-checkpoint", false, "keep no checkpoint: an interrupted run cannot be resumed")
	f.DurationVar(&o.checkpointEvery, "checkpoint-every", 0, "least time between two checkpoint commits (0: after every window)")
	f.BoolVarP(&o.recursive, "recursive", "r", false, "batch: also upscale the videos in IN_DIR's subfolders")
	f.StringVar(&o.maxMemory, "max-memory", "", maxMemoryHelp)
	f.IntVar(&o.maxPixels, "max-pixels", defaultMaxPixels, "refuse input frames with more than `N` pixels (width x height), before decoding them; 0 for no limit")
	o.of.register(f)
	return cmd
}

// run upscales in to out, or every video of folder in into folder out.
func (o *upscaleOptions) run(cmd *cobra.Command, a *app, in, out string) error {
	if !cmd.Flags().Changed("draft-timesteps") {
		o.choices.DraftTimesteps = nil
	}
	if err := o.choices.Apply(&o.opt); err != nil {
		return err
	}
	if o.resume && o.noCheckpoint {
		return errors.New("--resume needs a checkpoint: drop --no-checkpoint")
	}
	batch := false
	if st, err := os.Stat(in); err == nil && st.IsDir() && (o.recursive || upscale.HasVideos(in, false)) {
		batch = true
	} else if o.recursive {
		return fmt.Errorf("--recursive: IN %q is not a folder of videos", in)
	}
	if batch {
		if err := o.of.validate(); err != nil {
			return err
		}
		if err := checkNotInput(out, in); err != nil {
			return err
		}
	} else if err := o.of.check(out, in); err != nil {
		return err
	}
	if err := video.CheckTools(); err != nil {
		return err
	}
	ctx := cmd.Context()
	var info *video.Info
	if !batch {
		var err error
		if info, err = video.Probe(ctx, in); err != nil {
			return fmt.Errorf("IN: %w", err)
		}
		if err := checkPixels(info, o.maxPixels); err != nil {
			return err
		}
		if info.HasAlpha {
			a.log.Warn("IN has an alpha channel (transparency); it is dropped: OUT is opaque RGB", "in", in, "pix_fmt", info.PixFmt)
		}
		if err := o.of.checkFrames(out, info.Frames, in); err != nil {
			return err
		}
	} else if o.maxPixels < 0 {
		return fmt.Errorf("--max-pixels %d: must be 0 (no limit) or positive", o.maxPixels)
	}
	if o.modelPath == "" {
		var err error
		if o.modelPath, err = model.DefaultPathFor(o.opt.Scale); err != nil {
			return err
		}
	}
	be, desc, err := backend.New(o.backendSpec, a.log)
	if err != nil {
		return fmt.Errorf("--backend: %w", err)
	}
	// After an interrupt the abandoned load or run may still use the
	// backend; the process exits without finalizing it.
	abandoned := false
	defer func() {
		if !abandoned {
			be.Finalize()
		}
	}()
	if o.opt.OnDevice, err = parseDeviceOps(o.deviceOps, be); err != nil {
		return err
	}
	rt, err := selectRuntime(a.log, o.runtimeSpec, be)
	if err != nil {
		return err
	}
	// The config comes from the model file's header alone: a bad file, or
	// a budget nothing fits, fails before the model loads.
	cfg, err := model.ReadConfig(o.modelPath)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	if !o.opt.OnDevice && info != nil {
		budget := defaultMemoryBudget()
		if cmd.Flags().Changed("max-memory") {
			if budget, err = parseBytes("--max-memory", o.maxMemory); err != nil {
				return err
			}
		}
		fitted, err := pipeline.FitMemory(rt.Name(), cfg, o.opt, info.Width*o.opt.Scale, info.Height*o.opt.Scale, info.Frames, budget,
			cmd.Flags().Changed("window-t"), cmd.Flags().Changed("tile"))
		if err != nil {
			return err
		}
		if fitted.WindowT != o.opt.WindowT || fitted.Tile != o.opt.Tile {
			a.log.Info("smaller windows and tiles to fit the memory budget (--max-memory)",
				"window_t", fitted.WindowT, "overlap_t", fitted.OverlapT, "tile", fitted.Tile, "tile_overlap", fitted.TileOverlap,
				"budget", pipeline.FormatBytes(budget))
		}
		o.opt = fitted
	}
	var bar *progress.Bar // set below; the run reports windows computed to it
	o.opt.OnComputed = func(frames int) {
		if bar != nil {
			bar.Computed(frames)
		}
	}
	e, abandoned, err := interruptible(ctx, func() (*upscale.Engine, error) {
		return upscale.NewEngine(upscale.Setup{Model: o.modelPath, Options: o.opt, TileSet: cmd.Flags().Changed("tile"), Backend: be, Runtime: rt})
	})
	if abandoned {
		return err
	}
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	warnModelScale(a.log, e.Model, o.modelPath, o.opt.Scale)
	job := upscale.Job{
		Output:          o.of.writerOptions(out, a.log),
		Checkpoint:      !o.noCheckpoint,
		Resume:          o.resume,
		CheckpointEvery: o.checkpointEvery,
		Log:             a.log,
	}
	if batch {
		return o.runBatch(ctx, a, e, job, in, out)
	}
	a.log.Info("upscale", "in", in, "size", fmt.Sprintf("%dx%d", info.Width, info.Height),
		"frames", info.Frames, "fps", info.FrameRate.String(), "scale", o.opt.Scale,
		"mode", o.opt.Mode, "model", o.modelPath, "backend", desc, "runtime", rt.Name())
	bar = progress.New(a.stderr, info.Frames, "upscale", a.quiet)
	defer bar.Finish()
	if spans, err := tiling.Windows(info.Frames, o.opt.WindowT, o.opt.OverlapT); err == nil {
		work := 0
		for _, s := range spans {
			work += s.Len()
		}
		bar.SetWork(work)
	}
	job.In, job.Out, job.Info = in, out, info
	job.Progress = func(int, int) { bar.Add(1) }
	// A run stops at its next cancellation check and removes its temporary
	// output; one that is compiling graphs is given up after a grace time,
	// and its temporary output removed here.
	_, abandoned, err = interruptibleGrace(ctx, 700*time.Millisecond, func() (upscale.Result, error) { return e.Run(ctx, job) })
	if abandoned {
		removeOwnTemporaries(out)
		return err
	}
	return o.of.explain(err)
}

// runBatch upscales every video of folder in into folder out, printing one
// status line per file and a summary.
func (o *upscaleOptions) runBatch(ctx context.Context, a *app, e *upscale.Engine, job upscale.Job, in, out string) error {
	var codec video.Codec
	if o.of.codec != "" {
		codec = o.of.outputCodec(out)
	}
	items, err := upscale.PlanBatch(in, out, o.recursive, codec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("OUT_DIR: %w", err)
	}
	a.log.Info("upscale: batch", "in", in, "out", out, "files", len(items), "scale", o.opt.Scale, "model", o.modelPath)
	job.Output.Codec = codec
	counts := map[string]int{}
	_, err = e.RunBatch(ctx, items, job, func(s upscale.Status) {
		counts[s.State]++
		switch s.State {
		case upscale.StateDone:
			extra := ""
			if s.Result.Resumed > 0 {
				extra = fmt.Sprintf(", %d resumed", s.Result.Resumed)
			}
			fmt.Fprintf(a.stdout, "done     %s -> %s (%d frames%s, %.1fs)\n", s.Rel, s.Out, s.Result.Frames, extra, s.Elapsed.Seconds())
		case upscale.StateSkipped:
			fmt.Fprintf(a.stdout, "skipped  %s -> %s (%v)\n", s.Rel, s.Out, s.Err)
		default:
			fmt.Fprintf(a.stdout, "FAILED   %s: %v\n", s.Rel, o.of.explain(s.Err))
		}
	})
	if errors.Is(err, context.Canceled) {
		return err
	}
	fmt.Fprintf(a.stdout, "batch: %d files: %d done, %d skipped, %d failed\n", len(items),
		counts[upscale.StateDone], counts[upscale.StateSkipped], counts[upscale.StateFailed])
	return err
}

// defaultMaxPixels is the default --max-pixels: 4096x4096 input pixels.
const defaultMaxPixels = 4096 * 4096

// checkPixels refuses input frames above limit pixels (0: no limit) from
// the probed size, before any frame is decoded, so a decompression bomb
// (a tiny file declaring a huge image) fails with a clear error instead
// of exhausting memory.
func checkPixels(info *video.Info, limit int) error {
	if limit < 0 {
		return fmt.Errorf("--max-pixels %d: must be 0 (no limit) or positive", limit)
	}
	if limit > 0 && info.Width*info.Height > limit {
		return fmt.Errorf("IN %q: frames of %dx%d are %d pixels, above --max-pixels %d (raise it to upscale them)",
			info.Path, info.Width, info.Height, info.Width*info.Height, limit)
	}
	return nil
}
