// Package pipeline is the PS-SR sampling pipeline (method §2): it resizes the
// low-quality video to the output size, encodes it, takes the base step at
// t=699 from the low-quality latent, the draft steps with the base features,
// decodes, and applies the frequency-domain update, over temporal windows and
// spatial tiles so that any length and resolution runs in bounded memory.
//
// The networks come from package model and the noise schedule from package
// schedule; this package only composes them.
package pipeline

import (
	"context"
	"fmt"
	"image"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/freqfuse"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/schedule"
	"github.com/pssr/pssr/tiling"
)

// Mode selects what the pipeline computes.
type Mode string

// The pipeline modes.
const (
	// ModePSSR: base step, draft steps, frequency-domain update.
	ModePSSR Mode = "pssr"
	// ModePSSRNoFuse: base step and draft steps; the output is the last
	// draft prediction, without the frequency update.
	ModePSSRNoFuse Mode = "pssr-nofuse"
	// ModeBase: the base step only.
	ModeBase Mode = "base"
	// ModeBase4Step: the base network at every timestep of the plan, no draft.
	ModeBase4Step Mode = "base-4step"
	// ModeDecoder: no sampling step; the LQ-conditioned decoder decodes the
	// low-quality latent z_L itself (decode(encode(x_L)), x_L the bicubic
	// upsampling), which isolates what the autoencoder alone contributes.
	ModeDecoder Mode = "decoder"
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModePSSR, ModePSSRNoFuse, ModeBase, ModeBase4Step, ModeDecoder:
		return m, nil
	}
	return "", fmt.Errorf("pipeline: unknown mode %q (want pssr, pssr-nofuse, base, base-4step or decoder)", s)
}

// FuseMode selects the form of the frequency-domain update.
type FuseMode string

// The frequency-update forms.
const (
	// FuseFinal fuses once: the base result against the last draft (the release).
	FuseFinal FuseMode = "final"
	// FusePerStep fuses after every draft step: the previous result's low
	// frequencies with the new prediction's high frequencies (the paper's text).
	FusePerStep FuseMode = "per-step"
	// FuseLatent applies the update's rule to the base and last draft
	// latents (freqfuse.FuseLatentGraph) and decodes once: one decode
	// instead of two.
	FuseLatent FuseMode = "latent"
	// FuseOff skips the update (the output is the last draft prediction).
	FuseOff FuseMode = "off"
)

// ParseFuseMode checks a fuse mode name.
func ParseFuseMode(s string) (FuseMode, error) {
	switch m := FuseMode(s); m {
	case FuseFinal, FusePerStep, FuseLatent, FuseOff:
		return m, nil
	}
	return "", fmt.Errorf("pipeline: --fuse %q: want final, per-step, latent or off", s)
}

// Options configure an Upscaler.
type Options struct {
	// Scale is the upscaling factor (2 or 4).
	Scale int
	// Mode selects base, base-4step, pssr, pssr-nofuse or decoder.
	Mode Mode
	// Plan is the base timestep and the draft timesteps.
	Plan schedule.Plan
	// Fuse is the form of the frequency update in ModePSSR.
	Fuse FuseMode
	// FuseParams are alpha, fc, order and border of the update. Their Fc
	// is the pixel cut-off of FuseFinal and FusePerStep; FuseLatent uses
	// LatentFc instead (LatentParams).
	FuseParams freqfuse.Params
	// LatentFc is the Butterworth cut-off of FuseLatent, on the latent grid.
	LatentFc float64
	// WindowT and OverlapT are the temporal window and its overlap, in frames.
	WindowT, OverlapT int
	// Tile and TileOverlap are the spatial tile side and overlap, in output
	// pixels; Tile 0 processes whole frames.
	Tile, TileOverlap int
	// OnDevice runs the bicubic resize, the padding, the frequency update
	// and the crop inside the compiled graphs, so that only the low-quality
	// frames go to the backend and only finished frames come back: the fast
	// path on a GPU. It applies to whole frames (Tile 0, or frames no larger
	// than Tile) with the final, latent or no frequency update; other clips take the
	// host path. Results match the host path to float32 rounding.
	OnDevice bool
	// OnComputed, when set, is called by Run after each temporal window is
	// computed, with its number of frames (frames in an overlap count in
	// each of their windows), so progress can follow the computation
	// rather than the frames written.
	OnComputed func(frames int) `json:"-"`
}

// DefaultLatentFc is the default cut-off of FuseLatent on the latent grid:
// of the cut-offs 0.2 to 0.45 tried on three DAVIS training shots, the one
// whose result came closest to the released two-decode update (fc 0.2 on
// the pixels) in PSNR-Y, LPIPS and warp error (docs/model-card.md, "One
// decode by default"; docs/results/latent-fc-tune).
const DefaultLatentFc = 0.4

// DefaultOptions returns the released settings but for two choices: x4,
// pssr with 3 draft steps, the frequency update with alpha 1, order 2
// (pixel fc 0.2 and border 2 for FuseFinal), windows of 33 frames
// overlapping by 8 (the release overlaps by 16; scripts/seams measured 8 as
// good on the seams for 1.32x instead of 1.94x the compute), tiles of 768
// pixels overlapping by 128. The update is FuseLatent at DefaultLatentFc,
// which decodes once where the release's FuseFinal decodes twice.
func DefaultOptions() Options {
	return Options{
		Scale: 4, Mode: ModePSSR, Plan: schedule.DefaultPlan(), Fuse: FuseLatent,
		FuseParams: freqfuse.DefaultParams(), LatentFc: DefaultLatentFc,
		WindowT: 33, OverlapT: 8, Tile: 768, TileOverlap: 128,
	}
}

// LatentParams are the parameters of FuseLatent: FuseParams with LatentFc
// as the cut-off.
func (o Options) LatentParams() freqfuse.Params {
	p := o.FuseParams
	p.Fc = o.LatentFc
	return p
}

// Validate checks every option, naming the offending flag.
func (o Options) Validate() error {
	if o.Scale != 2 && o.Scale != 4 {
		return fmt.Errorf("pipeline: unsupported scale %d (--scale must be 2 or 4)", o.Scale)
	}
	if _, err := ParseMode(string(o.Mode)); err != nil {
		return err
	}
	if _, err := ParseFuseMode(string(o.Fuse)); err != nil {
		return err
	}
	if err := o.Plan.Validate(); err != nil {
		return err
	}
	if err := o.FuseParams.Validate(); err != nil {
		return fmt.Errorf("pipeline: frequency update flags (--alpha, --fc, --order, --border): %w", err)
	}
	if err := o.LatentParams().Validate(); err != nil {
		return fmt.Errorf("pipeline: --latent-fc %g: %w", o.LatentFc, err)
	}
	if o.WindowT < 1 || o.WindowT > 1024 {
		return fmt.Errorf("pipeline: --window-t %d out of range [1, 1024]", o.WindowT)
	}
	if o.OverlapT < 0 || o.OverlapT >= o.WindowT {
		return fmt.Errorf("pipeline: --overlap-t %d must be in [0, --window-t)", o.OverlapT)
	}
	if o.Tile != 0 && (o.Tile < 64 || o.Tile > 8192) {
		return fmt.Errorf("pipeline: --tile %d out of range (0 for whole frames, or 64..8192)", o.Tile)
	}
	if o.TileOverlap < 0 || (o.Tile > 0 && o.TileOverlap >= o.Tile/2) {
		return fmt.Errorf("pipeline: --tile-overlap %d must be in [0, --tile/2)", o.TileOverlap)
	}
	return nil
}

// Upscaler runs the pipeline with one model. It is not safe for concurrent use.
type Upscaler struct {
	m     *model.Model
	opt   Options
	fuser *freqfuse.Fuser

	enc, dec, base, draft netrun.Func
	decFused              netrun.Func // FuseLatent: fuse two latents, decode once (FusedDecoder)
	runtime               netrun.Runtime
	nFeat                 int
	dev                   deviceExecs
}

// DeviceTile is the default spatial tile side with the device path
// (Options.OnDevice): frames up to 2048 pixels a side (1080p and 2K
// outputs) run whole, so they take the device path; larger ones are tiled
// (and take the host path) to bound device memory.
const DeviceTile = 2048

// New prepares an Upscaler on the model's GoMLX backend (graphs are
// compiled lazily, per input shape).
func New(m *model.Model, opt Options) (*Upscaler, error) {
	return NewWithRuntime(m, opt, netrun.GoMLX{Backend: m.Backend})
}

// NewWithRuntime prepares an Upscaler whose networks (Networks and, for
// FuseLatent, FusedDecoder) run on
// rt, for example ONNX Runtime (package ort). The device path's graphs
// (Options.OnDevice) always run on the model's GoMLX backend.
func NewWithRuntime(m *model.Model, opt Options, rt netrun.Runtime) (*Upscaler, error) {
	return newUpscaler(m, opt, rt, nil)
}

// WithOptions returns an Upscaler with opt on u's model and runtime that
// shares u's compiled networks (and its fused decoder when opt's
// LatentParams are u's): other modes, windows or tiles without
// compiling the networks again or holding their compiled forms twice. The
// two Upscalers share state and must not run at the same time.
func (u *Upscaler) WithOptions(opt Options) (*Upscaler, error) {
	return newUpscaler(u.m, opt, u.runtime, u)
}

// newUpscaler prepares an Upscaler, with the networks of from when it is
// not nil.
func newUpscaler(m *model.Model, opt Options, rt netrun.Runtime, from *Upscaler) (*Upscaler, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	f, err := freqfuse.New(opt.FuseParams)
	if err != nil {
		return nil, err
	}
	u := &Upscaler{m: m, opt: opt, fuser: f, nFeat: len(m.Config.KeptBlocks()), runtime: rt}
	if from != nil {
		u.enc, u.dec, u.base, u.draft = from.enc, from.dec, from.base, from.draft
		if from.opt.LatentParams() == opt.LatentParams() {
			u.decFused = from.decFused
		}
	} else {
		// Latents travel between graphs as [1, T, h, w, C]; on a GoMLX
		// backend they stay on the device.
		fns := map[string]*netrun.Func{NetEncoder: &u.enc, NetDecoder: &u.dec, NetBaseStep: &u.base, NetDraftStep: &u.draft}
		for _, n := range Networks(m.Config) {
			if *fns[n.Name], err = rt.Compile(m.Store, n.Name, n.Fn); err != nil {
				return nil, err
			}
		}
	}
	if u.decFused == nil {
		fd := FusedDecoder(m.Config, opt.LatentParams())
		if u.decFused, err = rt.Compile(m.Store, fd.Name, fd.Fn); err != nil {
			return nil, err
		}
	}
	if opt.OnDevice {
		if err := u.newDeviceExecs(); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Runtime names the runtime the networks run on ("go", "ort", ...).
func (u *Upscaler) Runtime() string { return u.runtime.Name() }

// run runs a network and panics with its error (sample recovers it).
func run(ctx context.Context, f netrun.Func, args ...any) []*tensors.Tensor {
	out, err := f.Exec(ctx, args...)
	if err != nil {
		panic(err)
	}
	return out
}

// decodeGraph decodes latents [1, T, h, w, C] to frames [T, H, W, 3]
// conditioned on cond, clamped to [0, 1].
func decodeGraph(ctx *mlmodel.Scope, cfg model.AEConfig, z5, cond *Node) *Node {
	d := z5.Shape().Dimensions
	return ClampGraph(model.Decode(ctx, cfg, Reshape(z5, d[1], d[2], d[3], d[4]), cond))
}

// padded rounds a frame side up to the model's pixel multiple.
func (u *Upscaler) padded(v int) int {
	mult := u.m.Config.PixelMultiple()
	return (v + mult - 1) / mult * mult
}

// checkClip reports a frame whose size differs from the first one's.
func checkClip(clip []*frame.Image) error {
	for i, f := range clip {
		if f.W != clip[0].W || f.H != clip[0].H {
			return fmt.Errorf("pipeline: frame %d is %dx%d, clip is %dx%d", i, f.W, f.H, clip[0].W, clip[0].H)
		}
	}
	return nil
}

// ClampGraph clamps to [0, 1].
func ClampGraph(x *Node) *Node {
	return Min(Max(x, ScalarZero(x.Graph(), x.DType())), ScalarOne(x.Graph(), x.DType()))
}

// Options returns the upscaler's options.
func (u *Upscaler) Options() Options { return u.opt }

// Resize upsamples a low-quality frame to the output size (bicubic, clamped):
// the x_L the networks take.
func (u *Upscaler) Resize(lq *frame.Image) *frame.Image {
	return frame.Resize(lq, lq.W*u.opt.Scale, lq.H*u.opt.Scale, frame.Bicubic).Clamp()
}

// UpscaleClip upscales a short clip of low-quality frames (at most WindowT
// frames for bounded memory; tiles are applied inside).
func (u *Upscaler) UpscaleClip(ctx context.Context, lq []*frame.Image) ([]*frame.Image, error) {
	if len(lq) > 0 && u.onDevice(lq[0].W*u.opt.Scale, lq[0].H*u.opt.Scale) {
		return u.restoreLQ(ctx, lq)
	}
	if len(lq) == 0 {
		return nil, nil
	}
	s := u.opt.Scale
	w, h := lq[0].W*s, lq[0].H*s
	if u.opt.Tile == 0 || (w <= u.opt.Tile && h <= u.opt.Tile) {
		up := make([]*frame.Image, len(lq))
		for i, f := range lq {
			up[i] = u.Resize(f)
		}
		return u.restoreTile(ctx, up)
	}
	for i, f := range lq {
		if f == nil || f.W != lq[0].W || f.H != lq[0].H {
			return nil, fmt.Errorf("pipeline: clip frame %d is nil or not %dx%d", i, lq[0].W, lq[0].H)
		}
	}
	// Tiles are cut at the low-quality resolution and resized one at a
	// time, so no full-size frame of the clip is ever held but the output.
	tile := func(r image.Rectangle) ([]*frame.Image, error) {
		out := make([]*frame.Image, len(lq))
		for i, f := range lq {
			out[i] = u.resizeRegion(f, r)
		}
		return out, nil
	}
	return tiling.ProcessTilesFrom(ctx, len(lq), w, h, u.opt.Tile, u.opt.TileOverlap, u.m.Config.PixelMultiple(), tile, u.restoreTile)
}

// resizeMargin is how many low-quality pixels beyond a tile's footprint
// resizeRegion reads: more than the bicubic kernel's reach (2 pixels), so
// the tile's pixels are those of the whole resized frame.
const resizeMargin = 4

// resizeRegion returns the pixels in r of Resize(lq) without resizing the
// whole frame: it resizes a crop of lq around r's footprint. For scales 2
// and 4 the result is bit-identical to cropping Resize(lq).
func (u *Upscaler) resizeRegion(lq *frame.Image, r image.Rectangle) *frame.Image {
	s := u.opt.Scale
	src := image.Rect(r.Min.X/s-resizeMargin, r.Min.Y/s-resizeMargin,
		(r.Max.X+s-1)/s+resizeMargin, (r.Max.Y+s-1)/s+resizeMargin).Intersect(lq.Bounds())
	if src == lq.Bounds() {
		return u.Resize(lq).Crop(r)
	}
	up := frame.Resize(lq.Crop(src), src.Dx()*s, src.Dy()*s, frame.Bicubic)
	return up.Crop(r.Sub(src.Min.Mul(s))).Clamp()
}

// Restore runs the networks on a clip already resized to the output size,
// tile by tile.
func (u *Upscaler) Restore(ctx context.Context, up []*frame.Image) ([]*frame.Image, error) {
	if len(up) == 0 {
		return nil, nil
	}
	if u.opt.Tile == 0 || (up[0].W <= u.opt.Tile && up[0].H <= u.opt.Tile) {
		return u.restoreTile(ctx, up)
	}
	return tiling.ProcessTiles(ctx, up, u.opt.Tile, u.opt.TileOverlap, u.m.Config.PixelMultiple(), u.restoreTile)
}

// Run streams a whole video: next returns low-quality frames (io.EOF at the
// end), emit receives the upscaled frames in order. Memory is bounded by the
// window and tile sizes, not by the length of the video.
func (u *Upscaler) Run(ctx context.Context, next func() (*frame.Image, error), emit func(*frame.Image) error) error {
	return tiling.ProcessStreamScaled(ctx, next, u.clipFunc(), emit, u.opt.WindowT, u.opt.OverlapT, u.opt.Scale)
}

// clipFunc is the window function of Run and RunResumable: UpscaleClip
// (which picks the device or the host path per window), reporting each
// computed window to Options.OnComputed.
func (u *Upscaler) clipFunc() func(context.Context, []*frame.Image) ([]*frame.Image, error) {
	on := u.opt.OnComputed
	if on == nil {
		return u.UpscaleClip
	}
	return func(ctx context.Context, lq []*frame.Image) ([]*frame.Image, error) {
		out, err := u.UpscaleClip(ctx, lq)
		if err == nil {
			on(len(lq))
		}
		return out, err
	}
}

// RunResumable is Run with checkpoints (see tiling.ProcessStreamResumable):
// r.AfterWindow sees the stream's state after every finished window, and
// r.From continues a run from such a state; next must then yield the video
// from its first frame, and emit receives the frames from r.From.Emitted on.
func (u *Upscaler) RunResumable(ctx context.Context, next func() (*frame.Image, error), emit func(*frame.Image) error, r tiling.Resumable) error {
	return tiling.ProcessStreamResumable(ctx, next, u.clipFunc(), emit, u.opt.WindowT, u.opt.OverlapT, u.opt.Scale, r)
}

// restoreTile runs the networks on one tile of a clip: pad to the pixel
// multiple, encode, sample, decode, fuse, crop back.
func (u *Upscaler) restoreTile(ctx context.Context, up []*frame.Image) ([]*frame.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkClip(up); err != nil {
		return nil, err
	}
	w, h := up[0].W, up[0].H
	pw, ph := u.padded(w), u.padded(h)
	padded := make([]*frame.Image, len(up))
	for i, f := range up {
		padded[i] = f
		if pw != w || ph != h {
			padded[i] = f.PadReplicate(pw, ph)
		}
	}
	cond := FramesToTensor(padded)
	defer cond.FinalizeAll()
	outs, err := u.sample(ctx, cond)
	if err != nil {
		return nil, err
	}
	res := make([]*frame.Image, len(up))
	for i := range res {
		f := outs[i]
		if pw != w || ph != h {
			f = f.Crop(up[0].Bounds())
		}
		res[i] = f
	}
	return res, nil
}

// sample runs the networks on a padded clip tensor [T, H, W, 3] and returns
// the output frames, decoding and fusing on the host.
func (u *Upscaler) sample(ctx context.Context, cond *tensors.Tensor) (out []*frame.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("pipeline: %w", e)
			} else {
				err = fmt.Errorf("pipeline: %v", r)
			}
		}
	}()
	var owned []*tensors.Tensor
	defer func() {
		for _, t := range owned {
			_ = t.FinalizeAll()
		}
	}()
	decode := func(z5 *tensors.Tensor) ([]*frame.Image, error) {
		return decodeChunks(ctx, u.dec, cond, z5)
	}
	var current []*frame.Image // per-step fusion: the running fused result
	var onDraft func(x0 *tensors.Tensor) error
	if u.fuseMode() == FusePerStep {
		onDraft = func(x0 *tensors.Tensor) error {
			sharp, err := decode(x0)
			if err != nil {
				return err
			}
			current, err = u.fuseFrames(current, sharp)
			return err
		}
	}
	zs, err := u.latents(ctx, cond, &owned, func(x0Base *tensors.Tensor) error {
		if onDraft == nil {
			return nil
		}
		var err error
		current, err = decode(x0Base)
		return err
	}, onDraft)
	if err != nil {
		return nil, err
	}
	if onDraft != nil {
		return current, nil
	}
	if len(zs) == 1 {
		return decode(zs[0])
	}
	if u.fuseMode() == FuseLatent {
		return decodeChunks(ctx, u.decFused, cond, zs...)
	}
	consistent, err := decode(zs[0])
	if err != nil {
		return nil, err
	}
	sharp, err := decode(zs[1])
	if err != nil {
		return nil, err
	}
	return u.fuseFrames(consistent, sharp)
}

// fuseMode is the effective form of the frequency update.
func (u *Upscaler) fuseMode() FuseMode {
	if u.opt.Mode != ModePSSR {
		return FuseOff
	}
	return u.opt.Fuse
}

// latents encodes cond [T, H, W, 3] and runs the sampling steps of the mode.
// It returns the latents [1, T, h, w, C] to decode: one (the output; z_L
// itself in ModeDecoder), or two (the consistent base result and the sharp
// draft result) when the mode ends with the final or latent frequency update. onBase, when the mode has draft
// steps, receives the base x0, and onDraft, when set, every draft x0.
// Every tensor made is appended to owned, for the caller to release.
func (u *Upscaler) latents(ctx context.Context, cond *tensors.Tensor, owned *[]*tensors.Tensor,
	onBase, onDraft func(x0 *tensors.Tensor) error) ([]*tensors.Tensor, error) {
	// Every tensor the graphs return is released when the clip is done (or
	// as soon as it has been copied out), not when the garbage collector
	// gets to its finalizer: device and backend buffers stay bounded.
	keep := func(ts []*tensors.Tensor) []*tensors.Tensor {
		*owned = append(*owned, ts...)
		return ts
	}
	zl5 := keep(encodeChunks(ctx, u.enc, cond))[0]
	if u.opt.Mode == ModeDecoder {
		return []*tensors.Tensor{zl5}, nil
	}
	steps := u.opt.Plan.Steps()
	stepArgs := func(s schedule.PlanStep) []any {
		return []any{float32(s.T), float32(s.Sigma), float32(s.SigmaNext)}
	}

	// Base step at steps[0] from the LQ latent: x_t = z_L.
	bout := keep(run(ctx, u.base, append([]any{zl5, zl5}, stepArgs(steps[0])...)...))
	x0Base, xt, feats := bout[0], bout[1], bout[2:]
	if u.opt.Mode == ModeBase || len(steps) == 1 {
		return []*tensors.Tensor{x0Base}, nil
	}
	if u.opt.Mode == ModeBase4Step {
		x0, _, err := schedule.Walk(steps[1:], xt, func(s schedule.PlanStep, xt *tensors.Tensor) (*tensors.Tensor, *tensors.Tensor, error) {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			o := keep(run(ctx, u.base, append([]any{xt, zl5}, stepArgs(s)...)...))
			return o[0], o[1], nil
		})
		if err != nil {
			return nil, err
		}
		return []*tensors.Tensor{x0}, nil
	}
	if onBase != nil {
		if err := onBase(x0Base); err != nil {
			return nil, err
		}
	}
	x0, _, err := schedule.Walk(steps[1:], xt, func(s schedule.PlanStep, xt *tensors.Tensor) (*tensors.Tensor, *tensors.Tensor, error) {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		args := append([]any{xt, zl5}, stepArgs(s)...)
		for _, f := range feats {
			args = append(args, f)
		}
		o := keep(run(ctx, u.draft, args...))
		if onDraft != nil {
			if err := onDraft(o[0]); err != nil {
				return nil, nil, err
			}
		}
		return o[0], o[1], nil
	})
	if err != nil {
		return nil, err
	}
	if m := u.fuseMode(); m == FuseFinal || m == FuseLatent {
		return []*tensors.Tensor{x0Base, x0}, nil
	}
	return []*tensors.Tensor{x0}, nil
}

func (u *Upscaler) fuseFrames(consistent, sharp []*frame.Image) ([]*frame.Image, error) {
	out := make([]*frame.Image, len(consistent))
	for i := range out {
		f, err := u.fuser.Fuse(consistent[i], sharp[i])
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}
