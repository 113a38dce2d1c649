package main

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/progress"
	"github.com/pssr/pssr/schedule"
	"github.com/pssr/pssr/tiling"
	"github.com/pssr/pssr/video"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newUpscaleCmd) }

func newUpscaleCmd(a *app) *cobra.Command {
	opt := pipeline.DefaultOptions()
	var (
		of                     outputFlags
		modelPath, backendSpec string
		mode, fuse, deviceOps  string
		draftSteps             int
		draftTimesteps         []int
		maxPixels              int
		maxMemory              string
	)
	cmd := &cobra.Command{
		Use:   "upscale IN OUT",
		Short: "Upscale a video x2 or x4 with PS-SR",
		Long: `upscale reads IN (any video ffmpeg decodes, or a folder of PNG/JPEG frames),
upscales every frame x2 or x4 with PS-SR and writes OUT with the same frame
count, exact frame rate and rotation; audio and subtitle streams are copied
without re-encoding when OUT's container can hold them.

The low-quality frames are resized to the output size, encoded, and the base
network takes one step from their latent at t=699; the draft network, fed the
base network's features, takes --draft-steps more (599, 499, 399 for 3); the
frequency-domain update keeps the base result's low frequencies and takes
high-frequency detail from the draft (--fuse final, as released, or per-step,
as in the paper). Long videos run in overlapping windows of --window-t frames
and large frames in overlapping tiles of --tile pixels, so memory stays
bounded. OUT is written to a temporary file and renamed when complete.`,
		Example: `  pssr upscale testdata/sample.mp4 sample-x4.mp4
  pssr upscale in.mkv out.mkv --scale 2 --codec ffv1
  pssr upscale frames/ out/ --codec png --draft-steps 1 --fuse per-step`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, out := args[0], args[1]
			var err error
			if opt.Mode, err = pipeline.ParseMode(mode); err != nil {
				return fmt.Errorf("--mode: %w", err)
			}
			if opt.Fuse, err = pipeline.ParseFuseMode(fuse); err != nil {
				return err
			}
			if fuse == string(pipeline.FuseOff) && opt.Mode == pipeline.ModePSSR {
				opt.Mode = pipeline.ModePSSRNoFuse
			}
			if opt.Plan, err = schedule.PlanWithDrafts(draftSteps); err != nil {
				return fmt.Errorf("--draft-steps: %w", err)
			}
			if cmd.Flags().Changed("draft-timesteps") {
				opt.Plan.Draft = draftTimesteps
				if err := opt.Plan.Validate(); err != nil {
					return fmt.Errorf("--draft-timesteps: %w", err)
				}
			}
			if err := opt.Validate(); err != nil {
				return err
			}
			if err := of.check(out, in); err != nil {
				return err
			}
			if err := video.CheckTools(); err != nil {
				return err
			}
			ctx := cmd.Context()
			info, err := video.Probe(ctx, in)
			if err != nil {
				return fmt.Errorf("IN: %w", err)
			}
			if err := checkPixels(info, maxPixels); err != nil {
				return err
			}
			if info.HasAlpha {
				a.log.Warn("IN has an alpha channel (transparency); it is dropped: OUT is opaque RGB", "in", in, "pix_fmt", info.PixFmt)
			}
			if err := of.checkFrames(out, info.Frames, in); err != nil {
				return err
			}
			if modelPath == "" {
				if modelPath, err = model.DefaultPathFor(opt.Scale); err != nil {
					return err
				}
			}
			be, desc, err := backend.New(backendSpec, a.log)
			if err != nil {
				return fmt.Errorf("--backend: %w", err)
			}
			// After an interrupt the abandoned load or run may still use
			// the backend; the process exits without finalizing it.
			abandoned := false
			defer func() {
				if !abandoned {
					be.Finalize()
				}
			}()
			if opt.OnDevice, err = parseDeviceOps(deviceOps, be); err != nil {
				return err
			}
			if opt.OnDevice && !cmd.Flags().Changed("tile") {
				opt.Tile = deviceTile
			}
			// The config comes from the model file's header alone: a bad
			// file, or a budget nothing fits, fails before the model loads.
			cfg, err := model.ReadConfig(modelPath)
			if err != nil {
				return fmt.Errorf("--model: %w", err)
			}
			if !opt.OnDevice {
				budget := defaultMemoryBudget()
				if cmd.Flags().Changed("max-memory") {
					if budget, err = parseBytes("--max-memory", maxMemory); err != nil {
						return err
					}
				}
				fitted, err := pipeline.FitMemory(cfg, opt, info.Width*opt.Scale, info.Height*opt.Scale, info.Frames, budget,
					cmd.Flags().Changed("window-t"), cmd.Flags().Changed("tile"))
				if err != nil {
					return err
				}
				if fitted.WindowT != opt.WindowT || fitted.Tile != opt.Tile {
					a.log.Info("smaller windows and tiles to fit the memory budget (--max-memory)",
						"window_t", fitted.WindowT, "overlap_t", fitted.OverlapT, "tile", fitted.Tile, "tile_overlap", fitted.TileOverlap,
						"budget", pipeline.FormatBytes(budget))
				}
				opt = fitted
			}
			m, abandoned, err := interruptible(ctx, func() (*model.Model, error) { return model.Load(be, modelPath) })
			if abandoned {
				return err
			}
			if err != nil {
				return fmt.Errorf("--model: %w", err)
			}
			warnModelScale(a.log, m, modelPath, opt.Scale)
			a.log.Info("upscale", "in", in, "size", fmt.Sprintf("%dx%d", info.Width, info.Height),
				"frames", info.Frames, "fps", info.FrameRate.String(), "scale", opt.Scale,
				"mode", opt.Mode, "model", modelPath, "backend", desc)
			var bar *progress.Bar // set below; the run reports windows computed to it
			opt.OnComputed = func(frames int) { bar.Computed(frames) }
			u, err := pipeline.New(m, opt)
			if err != nil {
				return err
			}
			r, err := video.Open(ctx, in)
			if err != nil {
				return fmt.Errorf("IN: %w", err)
			}
			defer r.Close()
			w, err := of.create(ctx, out, info, info.Width*opt.Scale, info.Height*opt.Scale, a.log)
			if err != nil {
				return err
			}
			defer w.Abort()
			bar = progress.New(a.stderr, info.Frames, "upscale", a.quiet)
			defer bar.Finish()
			if spans, err := tiling.Windows(info.Frames, opt.WindowT, opt.OverlapT); err == nil {
				work := 0
				for _, s := range spans {
					work += s.Len()
				}
				bar.SetWork(work)
			}
			var n atomic.Int64
			_, abandoned, err = interruptible(ctx, func() (struct{}, error) {
				return struct{}{}, u.Run(ctx, r.Next, func(f *frame.Image) error {
					n.Add(1)
					bar.Add(1)
					return w.Write(f)
				})
			})
			if abandoned {
				return err
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("after %d frames: %w", n.Load(), err)
			}
			if n.Load() == 0 {
				return fmt.Errorf("IN %q: %w", in, video.ErrNoFrames)
			}
			return w.Close()
		},
	}
	f := cmd.Flags()
	f.IntVar(&opt.Scale, "scale", opt.Scale, "upscaling factor: 2 or 4")
	f.StringVar(&modelPath, "model", "", "model `FILE` (default: $PSSR_MODEL or the bundled models/pssr-tiny-x2 or -x4.safetensors, by --scale)")
	f.StringVar(&mode, "mode", string(opt.Mode), "pssr, pssr-nofuse, base (one step) or base-4step (the base network at every timestep)")
	f.IntVar(&draftSteps, "draft-steps", len(opt.Plan.Draft), "draft steps after the base step (3 gives 599, 499, 399)")
	f.IntSliceVar(&draftTimesteps, "draft-timesteps", nil, "explicit draft timesteps, decreasing, below the base's 699 (overrides --draft-steps), e.g. 599,499,399")
	f.StringVar(&fuse, "fuse", string(opt.Fuse), "frequency update: final (base vs last draft), per-step, or off")
	f.Float64Var(&opt.FuseParams.Alpha, "alpha", opt.FuseParams.Alpha, "strength of the draft's high-frequency band, 0 to 2")
	f.Float64Var(&opt.FuseParams.Fc, "fc", opt.FuseParams.Fc, "Butterworth cut-off in normalised frequency, in (0, 0.7072]")
	f.IntVar(&opt.FuseParams.Order, "order", opt.FuseParams.Order, "Butterworth filter order, 1 to 8")
	f.IntVar(&opt.FuseParams.Border, "border", opt.FuseParams.Border, "border in pixels copied from the base result")
	f.IntVar(&opt.WindowT, "window-t", opt.WindowT, "temporal window in frames")
	f.IntVar(&opt.OverlapT, "overlap-t", opt.OverlapT, "overlap of temporal windows in frames (linear cross-fade)")
	f.IntVar(&opt.Tile, "tile", opt.Tile, tileHelp)
	f.IntVar(&opt.TileOverlap, "tile-overlap", opt.TileOverlap, "overlap of spatial tiles in output pixels (linear ramps)")
	f.StringVar(&backendSpec, "backend", "", `compute backend: "go", "xla:/abs/plugin.so" or "auto" (default $GOMLX_BACKEND or go)`)
	f.StringVar(&deviceOps, "device-ops", "auto", deviceOpsHelp)
	f.StringVar(&maxMemory, "max-memory", "", maxMemoryHelp)
	f.IntVar(&maxPixels, "max-pixels", defaultMaxPixels, "refuse input frames with more than `N` pixels (width x height), before decoding them; 0 for no limit")
	of.register(f)
	return cmd
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
