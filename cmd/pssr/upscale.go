package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/progress"
	"github.com/pssr/pssr/schedule"
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
			if modelPath == "" {
				if modelPath, err = model.DefaultPathFor(opt.Scale); err != nil {
					return err
				}
			}
			be, desc, err := backend.New(backendSpec, a.log)
			if err != nil {
				return fmt.Errorf("--backend: %w", err)
			}
			defer be.Finalize()
			if opt.OnDevice, err = parseDeviceOps(deviceOps, be); err != nil {
				return err
			}
			if opt.OnDevice && !cmd.Flags().Changed("tile") {
				opt.Tile = deviceTile
			}
			m, err := model.Load(be, modelPath)
			if err != nil {
				return fmt.Errorf("--model: %w", err)
			}
			warnModelScale(a.log, m, modelPath, opt.Scale)
			a.log.Info("upscale", "in", in, "size", fmt.Sprintf("%dx%d", info.Width, info.Height),
				"frames", info.Frames, "fps", info.FrameRate.String(), "scale", opt.Scale,
				"mode", opt.Mode, "model", modelPath, "backend", desc)
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
			bar := progress.New(a.stderr, info.Frames, "upscale", a.quiet)
			defer bar.Finish()
			n := 0
			err = u.Run(ctx, r.Next, func(f *frame.Image) error {
				n++
				bar.Add(1)
				return w.Write(f)
			})
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("after %d frames: %w", n, err)
			}
			if n == 0 {
				return fmt.Errorf("IN %q: %w", in, video.ErrNoFrames)
			}
			return w.Close()
		},
	}
	f := cmd.Flags()
	f.IntVar(&opt.Scale, "scale", opt.Scale, "upscaling factor: 2 or 4")
	f.StringVar(&modelPath, "model", "", "model `FILE` (default: $PSSR_MODEL or the bundled models/pssr-tiny-x2 or -x4.safetensors, by --scale)")
	f.StringVar(&mode, "mode", string(opt.Mode), "pssr, pssr-nofuse, base (one step), base-4step (the base network at every timestep) or decoder (the decoder alone on the low-quality latent, no step)")
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
	of.register(f)
	return cmd
}
