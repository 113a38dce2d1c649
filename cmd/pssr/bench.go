package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/bench"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/freqfuse"
	"github.com/pssr/pssr/metrics"
	"github.com/pssr/pssr/metrics/lpips"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/peers"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/upscale"
)

func init() { commands = append(commands, newBenchCmd) }

// benchPSSRMode is a PS-SR mode bench offers: a pipeline mode and, for
// ModePSSR, the form of the frequency update.
type benchPSSRMode struct {
	name string
	mode pipeline.Mode
	fuse pipeline.FuseMode
}

// benchPSSRModes are the PS-SR modes bench offers, in the order it runs them.
var benchPSSRModes = []benchPSSRMode{
	{"decoder", pipeline.ModeDecoder, pipeline.FuseFinal},
	{"base", pipeline.ModeBase, pipeline.FuseFinal},
	{"base-4step", pipeline.ModeBase4Step, pipeline.FuseFinal},
	{"pssr", pipeline.ModePSSR, pipeline.DefaultOptions().Fuse},
	{"pssr-final", pipeline.ModePSSR, pipeline.FuseFinal},
	{"pssr-nofuse", pipeline.ModePSSRNoFuse, pipeline.FuseFinal},
}

// benchPSSRFlags are bench's settings of the PS-SR modes.
type benchPSSRFlags struct {
	backendSpec, runtimeSpec, modelPath string
	explicitModel                       bool // --model was given
	scale, tile, windowT                int
	deviceOps                           string
	fuseParams                          freqfuse.Params
	latentFc                            float64
}

func newBenchCmd(a *app) *cobra.Command {
	var (
		gt, modes, jsonPath, htmlDir, peersRoot string
		frames, warmup                          int
		degrade, keepGoing, noLPIPS             bool
		p                                       = benchPSSRFlags{fuseParams: freqfuse.DefaultParams(), latentFc: pipeline.DefaultLatentFc}
	)
	cmd := &cobra.Command{
		Use:   "bench IN",
		Short: "Compare upscaling modes on the same frames: speed, peak memory and quality",
		Long: `bench runs several upscaling modes, one after another in one process, on the
same low-quality frames and prints their seconds per frame, peak memory and,
with a ground truth, their quality side by side.

IN is a video or a folder of PNG/JPEG frames; at most --frames frames are read.
  --gt GT     IN is the low-quality clip and GT its ground truth (same number
              of frames, each --scale times IN's size).
  (no --gt)   by default (--degrade) IN is the ground truth and the low-quality
              frames are its bicubic downscale by --scale, rounded to 8 bits;
              this is how the numbers in the README are produced. With
              --degrade=false IN is low-quality and only speed and memory are
              measured.

Modes (--modes takes names, kinds or "all"):
  baseline  bicubic, lanczos
  pssr      decoder, base, base-4step, pssr, pssr-final, pssr-nofuse (the
            model of --model on the backend of --backend; skipped when no
            model is found; decoder is the model's decoder alone on the
            low-quality latent; pssr is upscale's default, the update on the
            latents with one decode; pssr-final the release's update on the
            decoded frames, two decodes)
  peer      realesrgan-x4fast, realesrgan-x4plus, upscalerjs-slim,
            upscalerjs-medium, upscalerjs-thick (external tools installed by
            scripts/install-peers.sh; skipped when not installed)

Each mode first runs untimed on the first --warmup frames, then timed on all
frames. PS-SR graphs are compiled for each clip length, so unless --warmup
equals the number of frames the timed run of a PS-SR mode includes a compile.
Peak memory is the process's peak RSS during the timed run (VmHWM, reset
between modes), or a peer tool's own peak when larger ("≥" marks a lower
bound). Quality is measured on BT.601 luma with a 4-pixel border left out,
and LPIPS (on RGB, on the backend of --backend; --no-lpips skips it) beside
PSNR and SSIM. NIQE, a no-reference naturalness score (lower is better),
is reported for every mode, with or without a ground truth, and for the
ground truth itself; it needs frames of 96x96 or more.`,
		Example: `  pssr bench clip.mp4 --frames 10 --json bench.json --html report/
  pssr bench lq_frames/ --gt gt_frames/ --scale 4 --modes bicubic,lanczos,pssr
  pssr bench clip.mp4 --modes baseline,peers --scale 4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := args[0]
			fs := cmd.Flags()
			if gt != "" && !fs.Changed("degrade") {
				degrade = false
			}
			if gt != "" && degrade {
				return errors.New("--degrade makes IN the ground truth; it cannot be combined with --gt")
			}
			scale := p.scale
			p.explicitModel = fs.Changed("model")
			if scale < 1 {
				return fmt.Errorf("--scale %d: must be at least 1", scale)
			}
			if frames < 1 {
				return fmt.Errorf("--frames %d: must be at least 1", frames)
			}
			if warmup < 0 {
				return fmt.Errorf("--warmup %d: must be 0 or more", warmup)
			}
			if err := benchCheckOutputs(jsonPath, htmlDir, in, gt); err != nil {
				return err
			}
			if peersRoot == "" {
				peersRoot = peers.DefaultRoot()
			}
			all := append(bench.Baselines(), benchPSSRPlaceholders()...)
			all = append(all, bench.PeerModes(peersRoot)...)
			selected, err := bench.Select(all, modes)
			if err != nil {
				return fmt.Errorf("--modes: %w", err)
			}

			ctx := cmd.Context()
			input := bench.Input{Path: in, GT: gt, Degrade: degrade, Scale: scale, Frames: frames}
			lq, gtFrames, err := bench.Load(ctx, input)
			if err != nil {
				return err
			}

			backendDesc, runtimeName := "", ""
			if benchHasKind(selected, bench.KindPSSR) {
				desc, rtName, cleanup, err := benchWirePSSR(a, selected, p)
				if err != nil {
					return err
				}
				defer cleanup()
				backendDesc, runtimeName = desc, rtName
				if warmup < len(lq) {
					a.log.Warn("the timed runs of the PS-SR modes include compiling their graphs for the clip length; use --warmup equal to the frames read to exclude it",
						"frames", len(lq), "warmup", warmup)
				}
			}

			var lp metrics.PairScorer
			if gtFrames != nil && !noLPIPS {
				if cw, ch := gtFrames[0].W-2*bench.MetricCrop, gtFrames[0].H-2*bench.MetricCrop; cw < lpips.MinSize || ch < lpips.MinSize {
					a.log.Warn("frames too small for LPIPS; scoring without it", "size", fmt.Sprintf("%dx%d", cw, ch))
				} else {
					m, _, closeLPIPS, err := openLPIPS(a, p.backendSpec)
					if err != nil {
						return err
					}
					defer closeLPIPS()
					lp = m
				}
			}

			wf := warmup
			if wf == 0 {
				wf = -1 // bench.Options: negative is no warm-up
			}
			rep, err := bench.Run(ctx, lq, gtFrames, selected, bench.Options{
				Input: input.String(), Scale: scale, Backend: backendDesc, Runtime: runtimeName,
				WarmupFrames: wf, KeepGoing: keepGoing, Log: a.log, LPIPS: lp,
			})
			if err != nil {
				return err
			}
			if jsonPath != "" {
				if err := rep.WriteJSON(jsonPath); err != nil {
					return fmt.Errorf("--json: %w", err)
				}
			}
			if htmlDir != "" {
				if err := rep.WriteHTML(htmlDir); err != nil {
					return fmt.Errorf("--html: %w", err)
				}
			}
			return rep.WriteTable(a.stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&gt, "gt", "", "ground truth `GT` of IN (video or frame folder, --scale times IN's size)")
	f.IntVar(&p.scale, "scale", 4, "upscaling factor `N`")
	f.IntVar(&frames, "frames", bench.DefaultFrames, "read at most `N` frames")
	f.StringVar(&modes, "modes", "all", "comma-separated `LIST` of modes and kinds (baseline, pssr, peer) to run, in order")
	f.StringVar(&jsonPath, "json", "", "write the results as JSON to `FILE`")
	f.StringVar(&htmlDir, "html", "", "write an HTML report (table, quality-vs-time plot, zoomed crops) into folder `DIR`")
	f.StringVar(&p.modelPath, "model", "", "PS-SR model `FILE` (default: $PSSR_MODEL or models/pssr-tiny-x2 or -x4.safetensors, by --scale)")
	f.StringVar(&p.backendSpec, "backend", "", `compute backend `+"`SPEC`"+` of the PS-SR modes: "go", "xla:/abs/plugin.so" or "auto" (default $GOMLX_BACKEND or go)`)
	f.StringVar(&p.runtimeSpec, "runtime", "auto", runtimeHelp+"; used by the PS-SR modes")
	f.StringVar(&peersRoot, "peers", "", "folder the peers are installed in (default $PSSR_PEERS or .cache/peers of the checkout)")
	f.BoolVar(&degrade, "degrade", true, "without --gt: IN is the ground truth and the input its bicubic downscale by --scale")
	f.IntVar(&warmup, "warmup", bench.DefaultWarmupFrames, "untimed warm-up run on the first `N` frames of each mode (0: none)")
	f.StringVar(&p.deviceOps, "device-ops", "auto", deviceOpsHelp)
	f.IntVar(&p.tile, "tile", -1, "spatial tile side of the PS-SR modes in output pixels (0: whole frames; default: upscale's default)")
	f.Float64Var(&p.fuseParams.Alpha, "alpha", p.fuseParams.Alpha, "strength of the draft's high-frequency band in the pssr modes, 0 to 2")
	f.Float64Var(&p.fuseParams.Fc, "fc", p.fuseParams.Fc, "Butterworth cut-off of pssr-final's update on the pixels, in (0, 0.7072]")
	f.Float64Var(&p.latentFc, "latent-fc", p.latentFc, "Butterworth cut-off of pssr's update on the latent grid, in (0, 0.7072]")
	f.IntVar(&p.windowT, "window-t", 0, "temporal window of the PS-SR modes in frames (default: upscale's default)")
	f.BoolVar(&noLPIPS, "no-lpips", false, "skip LPIPS (it needs models/perceptual/"+lpips.DefaultName+" or $"+lpips.EnvPath+")")
	f.BoolVar(&keepGoing, "keep-going", true, "report a mode that fails as failed and go on (false: stop at the first failure)")
	return cmd
}

// benchPSSRPlaceholders lists the PS-SR modes for --modes before the model
// is loaded; benchWirePSSR replaces them.
func benchPSSRPlaceholders() []bench.Mode {
	var ms []bench.Mode
	for _, m := range benchPSSRModes {
		ms = append(ms, bench.Mode{Name: m.name, Kind: bench.KindPSSR, Skip: errors.New("not loaded")})
	}
	return ms
}

func benchHasKind(ms []bench.Mode, kind string) bool {
	for _, m := range ms {
		if m.Kind == kind {
			return true
		}
	}
	return false
}

// benchWirePSSR loads the backend and the model and makes the selected PS-SR
// modes run the pipeline. Without an explicit --model, a missing default
// model or a backend that does not start skips the modes with that note;
// an explicit --model that fails to load is an error. It returns the
// backend's description and a function that releases it.
func benchWirePSSR(a *app, selected []bench.Mode, p benchPSSRFlags) (string, string, func(), error) {
	path := p.modelPath
	skipAll := func(err error) {
		for i := range selected {
			if selected[i].Kind == bench.KindPSSR {
				selected[i].Run, selected[i].Skip = nil, err
			}
		}
	}
	if path == "" {
		dp, err := model.DefaultPathFor(p.scale)
		if err != nil {
			skipAll(err)
			return "", "", func() {}, nil
		}
		path = dp
	}
	be, desc, err := backend.New(p.backendSpec, a.log)
	if err != nil {
		if p.explicitModel || p.backendSpec != "" {
			return "", "", nil, fmt.Errorf("--backend: %w", err)
		}
		skipAll(err)
		return "", "", func() {}, nil
	}
	cleanup := func() { be.Finalize() }
	onDevice, err := parseDeviceOps(p.deviceOps, be)
	if err != nil {
		cleanup()
		return "", "", nil, err
	}
	a.log.Info("backend", "backend", desc, "device_ops", onDevice)
	rt, err := selectRuntime(a.log, p.runtimeSpec, be)
	if err != nil {
		cleanup()
		return "", "", nil, fmt.Errorf("--runtime: %w", err)
	}
	base := pipeline.DefaultOptions()
	base.Scale, base.FuseParams, base.LatentFc, base.OnDevice = p.scale, p.fuseParams, p.latentFc, onDevice
	if p.tile >= 0 {
		base.Tile = p.tile
	}
	if p.windowT > 0 {
		base.WindowT = p.windowT
		base.OverlapT = min(base.OverlapT, p.windowT/2)
	}
	e, err := upscale.NewEngine(upscale.Setup{Model: path, Options: base, TileSet: p.tile >= 0, Backend: be, Runtime: rt})
	if err != nil {
		if p.explicitModel {
			cleanup()
			return "", "", nil, fmt.Errorf("--model: %w", err)
		}
		skipAll(fmt.Errorf("loading %s: %w", path, err))
		return desc, rt.Name(), cleanup, nil
	}
	a.log.Info("model", "path", path)
	warnModelScale(a.log, e.Model, path, p.scale)
	for i := range selected {
		if selected[i].Kind != bench.KindPSSR {
			continue
		}
		opt := e.Upscaler.Options()
		for _, bm := range benchPSSRModes {
			if bm.name == selected[i].Name {
				opt.Mode, opt.Fuse = bm.mode, bm.fuse
			}
		}
		u, err := e.Variant(opt)
		if err != nil {
			selected[i].Run, selected[i].Skip = nil, err
			continue
		}
		selected[i].Run, selected[i].Skip = benchPipelineRun(e, u, p.windowT > 0, p.tile >= 0), nil
	}
	return desc, rt.Name(), cleanup, nil
}

// benchPipelineRun upscales a clip with u0's options fitted to the memory
// budget on e's runtime (on u0 when they need no change, else on a variant
// of u0 that shares its compiled networks): in one piece when it fits one temporal
// window, else streamed through the windows as pssr upscale does.
func benchPipelineRun(e *upscale.Engine, u0 *pipeline.Upscaler, windowSet, tileSet bool) func(context.Context, []*frame.Image, int) ([]*frame.Image, error) {
	opt := u0.Options()
	return func(ctx context.Context, lq []*frame.Image, scale int) ([]*frame.Image, error) {
		// The host path fits its windows and tiles to the memory budget,
		// as pssr upscale does (a 720p clip would not fit otherwise).
		u := u0
		if !opt.OnDevice && len(lq) > 0 {
			o, err := pipeline.FitMemory(e.Runtime().Name(), e.Model.Config, opt, lq[0].W*scale, lq[0].H*scale, len(lq), defaultMemoryBudget(), windowSet, tileSet)
			if err != nil {
				return nil, err
			}
			// FitMemory changes the window and the tile (and their
			// overlaps with them).
			if o.WindowT != opt.WindowT || o.Tile != opt.Tile {
				if u, err = u0.WithOptions(o); err != nil {
					return nil, err
				}
			}
		}
		if len(lq) <= u.Options().WindowT {
			return u.UpscaleClip(ctx, lq)
		}
		i := 0
		next := func() (*frame.Image, error) {
			if i == len(lq) {
				return nil, io.EOF
			}
			i++
			return lq[i-1], nil
		}
		var out []*frame.Image
		err := u.Run(ctx, next, func(f *frame.Image) error { out = append(out, f); return nil })
		return out, err
	}
}

// benchCheckOutputs fails before the run when --json or --html names an
// input, or when --json's folder does not exist.
func benchCheckOutputs(jsonPath, htmlDir string, inputs ...string) error {
	for _, o := range []struct{ flag, path string }{{"--json", jsonPath}, {"--html", htmlDir}} {
		if o.path == "" {
			continue
		}
		out, err := filepath.Abs(o.path)
		if err != nil {
			return fmt.Errorf("%s: %w", o.flag, err)
		}
		for _, in := range inputs {
			if in == "" {
				continue
			}
			ai, err := filepath.Abs(in)
			if err == nil && (ai == out || strings.HasPrefix(ai, out+string(filepath.Separator))) {
				return fmt.Errorf("%s %q would overwrite the input %q", o.flag, o.path, in)
			}
		}
	}
	if jsonPath != "" {
		dir := filepath.Dir(jsonPath)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("--json %q: folder %q does not exist", jsonPath, dir)
		}
		if st, err := os.Stat(jsonPath); err == nil && st.IsDir() {
			return fmt.Errorf("--json %q is a folder", jsonPath)
		}
	}
	return nil
}
