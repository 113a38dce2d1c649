// Package trainer trains the PS-SR networks: the autoencoder, the base
// transformer (one step from the low-quality latent at t=699) and the draft
// transformer (unrolled from the base step through the draft timesteps, base
// frozen), on clips made on the fly from real video and pseudo-videos of
// photographs, degraded with a seeded degradation pipeline.
//
// A run writes to its output folder: checkpoint.safetensors (every variable,
// optimizer state included, for an exact resume), model.safetensors (the
// networks only), loss.jsonl, val.jsonl and loss.png.
package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/pssr/pssr/bench"
	"github.com/pssr/pssr/dataset"
	"github.com/pssr/pssr/degrade"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/metrics/lpips"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/schedule"
	"github.com/pssr/pssr/weights"
)

// Stage names a network to train.
type Stage string

// The training stages, in the order they are run.
const (
	StageAutoencoder Stage = "autoencoder"
	StageBase        Stage = "base"
	StageDraft       Stage = "draft"
)

// ParseStage checks a stage name.
func ParseStage(s string) (Stage, error) {
	switch st := Stage(s); st {
	case StageAutoencoder, StageBase, StageDraft:
		return st, nil
	}
	return "", fmt.Errorf("trainer: unknown stage %q (want autoencoder, base or draft)", s)
}

// Config configures a training run.
type Config struct {
	Stage Stage
	// Data is a folder of frame folders and video files; Photos a folder of
	// photographs made into pseudo-videos. The split of package dataset
	// decides which frames train and which validate.
	Data, Photos string
	// Val, when set, is a folder of frames used for validation instead of
	// the split's validation items.
	Val string
	// Out is the output folder.
	Out string
	// Init is a model file to start from (the previous stage's output).
	// Empty starts from fresh weights of Model (autoencoder stage only).
	Init string
	// Model sizes fresh networks when Init is empty.
	Model model.Config
	// Steps is the number of optimizer steps; Batch the clips per step.
	Steps, Batch int
	// Frames is the clip length; Crop the ground-truth crop side in pixels.
	Frames, Crop int
	// LR is the peak learning rate (linear warm-up, cosine decay to LR/10).
	LR float64
	// Seed makes weights and batches reproducible.
	Seed uint64
	// Scale and Preset choose the degradation.
	Scale  int
	Preset degrade.Preset
	// CheckpointEvery, ValEvery and LogEvery are in steps.
	CheckpointEvery, ValEvery, LogEvery int
	// Resume continues from Out/checkpoint.safetensors.
	Resume bool
	// PixelWeight and SharpWeight weigh the pixel and sharpness terms.
	PixelWeight, SharpWeight float64
	// LatentWeight weighs the latent MSE term of the base and draft stages
	// (the pull towards the conditional mean in latent space).
	LatentWeight float64
	// DetailWeight weighs the detail term (base and draft): the mismatch
	// between the amounts of high-frequency detail of prediction and ground
	// truth (see detailLoss). 0 leaves it out.
	DetailWeight float64
	// TemporalWeight weighs the temporal term (base and draft): the L1
	// distance between the frame-to-frame changes of the decoded prediction
	// and of the ground truth within a clip (see temporalLoss), a flicker
	// penalty. 0 leaves it out; it needs Frames of 2 or more. Recorded as
	// train.<stage>.temporal_weight.
	TemporalWeight float64
	// FineBlocks, when it exceeds the decoder fine-stage blocks of the
	// --init model, grows the decoder to that many blocks (model.LoadGrown;
	// the new blocks start as the identity). 0 keeps the model's. With
	// --resume the checkpoint's decoder is used as it is. Runs record it in
	// the model metadata as train.<stage>.fine_blocks, and a positive
	// DetailWeight as train.<stage>.detail_weight.
	FineBlocks int
	// KeepDraft continues training the --init model's draft (stage draft)
	// instead of initialising it from the base: for a model whose draft is
	// already trained.
	KeepDraft bool
	// DraftKSelect, when positive, rebuilds the --init model's draft to keep
	// the base blocks this k_select picks (model.DraftConfig, model.LoadDraft):
	// a lighter draft made from a trained one. With KeepDraft the blocks the
	// two drafts share keep their trained weights. Recorded in the model
	// metadata as train.<stage>.k_select.
	DraftKSelect float64
	// DraftWidth, DraftHeads and DraftMLP, when positive, rebuild the
	// --init model's draft with blocks of that width, head count and
	// feed-forward size (model.DraftConfig; a width change starts the
	// draft afresh, so train it with DistillWeight). Recorded in the
	// metadata as train.<stage>.draft_width, _heads and _mlp.
	DraftWidth, DraftHeads, DraftMLP int
	// DistillWeight, when positive (draft stage), adds the distillation
	// term: at every draft step, the latent MSE between the draft's x0 and
	// a frozen teacher's x0 at the same x_t, the teacher being the --init
	// model's draft (kept in checkpoints under model.ScopeTeacher). With
	// the pixel-domain weights (pixel, sharp, detail, LPIPS, adversarial)
	// all 0 the step decodes nothing and costs little more than the
	// networks in latent space.
	DistillWeight float64
	// MaxTime, when positive, bounds the run's wall time: after the first
	// 20 steps the step count is lowered to what fits, so the learning-rate
	// schedule still completes. The budget counts compilation and keeps
	// room for the validations: a fresh run validates its starting weights
	// first (step 0 of val.jsonl) and reserves that validation's time for
	// each later one. The final step count is recorded in the checkpoint
	// and model metadata.
	MaxTime time.Duration
	// Trainable, when set, lists the variable scopes to train instead of
	// the stage's own network (e.g. "ae/dec" fine-tunes the decoder on the
	// base network's predictions, with the base frozen).
	Trainable []string
	// VideoWeight, when positive, is the share of clips drawn from real
	// videos and frame folders; the photographs share the rest.
	VideoWeight float64
	// PhotoDownscale is the factor photographs are shrunk by before crops
	// (0: the dataset default of 2; 1 for photos already downscaled).
	PhotoDownscale int
	// LPIPSWeight weighs the LPIPS term (base: on the predicted x0; draft:
	// on the last draft step's output) on a few frames of each batch. 0
	// leaves it out.
	LPIPSWeight float64
	// LPIPSPath is the LPIPS weights file (default lpips.DefaultPath()).
	LPIPSPath string
	// FlowShare is the share of base-stage steps trained on the conditional
	// flow (x_t = (1-sigma)*z_HQ + sigma*noise at a uniformly drawn timestep,
	// conditioned on z_L) instead of the one-step entry x_t = z_L at t=699.
	FlowShare float64
	// AdvWeight weighs the adversarial (hinge) term of draft training
	// against a patch discriminator trained alongside; FMWeight its
	// discriminator feature-matching term. AdvWeight 0 trains no
	// discriminator.
	AdvWeight, FMWeight float64
	// TemporalRoPE turns on rotary frame-position embedding in the
	// temporal attention of the model being trained (model
	// DiTConfig.TemporalRoPE); it adds no weights.
	TemporalRoPE bool

	// beforeStep and beforeValidate, when set (by tests), are called at the
	// start of every step (before the cancellation check) and before every
	// validation, with the number of steps done: cancelling the context
	// there interrupts the run at a known point.
	beforeStep, beforeValidate func(step int)
}

// DefaultConfig returns CPU-sized defaults for a stage.
func DefaultConfig(stage Stage) Config {
	c := Config{
		Stage: stage, Model: model.Tiny(), Steps: 1000, Batch: 4, Frames: 4, Crop: 128, LR: 1e-3,
		Seed: 1, Scale: 4, Preset: degrade.Bicubic, CheckpointEvery: 200, ValEvery: 200, LogEvery: 10,
		PixelWeight: 1, SharpWeight: 0.5, LatentWeight: 1, FMWeight: 1,
	}
	if stage == StageAutoencoder {
		c.Frames, c.Batch = 1, 8
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if _, err := ParseStage(string(c.Stage)); err != nil {
		return err
	}
	if c.Out == "" {
		return errors.New("trainer: --out is required")
	}
	if c.Steps < 1 || c.Batch < 1 || c.Frames < 1 {
		return fmt.Errorf("trainer: --steps, --batch and --frames must be positive")
	}
	if c.Crop < 1 || c.Crop%c.Scale != 0 || (c.Scale != 2 && c.Scale != 4) {
		return fmt.Errorf("trainer: --scale must be 2 or 4, got %d", c.Scale)
	}
	if !(c.LR > 0 && c.LR < 1) {
		return fmt.Errorf("trainer: --lr %g out of range (0, 1)", c.LR)
	}
	if c.DetailWeight < 0 || c.TemporalWeight < 0 || c.PixelWeight < 0 || c.SharpWeight < 0 || c.LatentWeight < 0 || c.LPIPSWeight < 0 || c.AdvWeight < 0 || c.FMWeight < 0 {
		return fmt.Errorf("trainer: loss weights must not be negative")
	}
	if c.TemporalWeight > 0 && (c.Stage == StageAutoencoder || c.Frames < 2) {
		return fmt.Errorf("trainer: --temporal-weight needs the base or draft stage and --frames of 2 or more (got stage %s, %d frames)", c.Stage, c.Frames)
	}
	if c.FlowShare < 0 || c.FlowShare > 1 {
		return fmt.Errorf("trainer: --flow-share %g out of range [0, 1]", c.FlowShare)
	}
	if c.AdvWeight > 0 && c.Stage != StageDraft {
		return fmt.Errorf("trainer: --adv-weight applies to the draft stage only")
	}
	if c.FineBlocks < 0 || c.FineBlocks > model.MaxFineBlocks {
		return fmt.Errorf("trainer: --fine-blocks %d out of range [0, %d]", c.FineBlocks, model.MaxFineBlocks)
	}
	if c.DraftKSelect < 0 || math.IsNaN(c.DraftKSelect) {
		return fmt.Errorf("trainer: --k-select %g must be positive (0: keep the model's)", c.DraftKSelect)
	}
	if c.DraftWidth < 0 || c.DraftHeads < 0 || c.DraftMLP < 0 {
		return fmt.Errorf("trainer: --draft-width, --draft-heads and --draft-mlp must not be negative (0: keep the model's)")
	}
	if c.rebuildsDraft() && (c.Init == "" || c.Resume) {
		return fmt.Errorf("trainer: --k-select, --draft-width, --draft-heads and --draft-mlp rebuild the --init model's draft: each needs --init and no --resume (a checkpoint keeps its own draft)")
	}
	if c.rebuildsDraft() && c.FineBlocks > 0 {
		return fmt.Errorf("trainer: --k-select (or --draft-width) and --fine-blocks change the model in separate runs, not together")
	}
	if c.DistillWeight < 0 || math.IsNaN(c.DistillWeight) {
		return fmt.Errorf("trainer: --distill-weight %g must not be negative", c.DistillWeight)
	}
	if c.DistillWeight > 0 && c.Stage != StageDraft {
		return fmt.Errorf("trainer: --distill-weight applies to the draft stage only")
	}
	if c.Stage != StageAutoencoder && c.Init == "" && !c.Resume {
		return fmt.Errorf("trainer: stage %s needs --init (the model of the previous stage)", c.Stage)
	}
	return nil
}

// rebuildsDraft reports whether the run rebuilds the --init model's draft.
func (c Config) rebuildsDraft() bool {
	return c.DraftKSelect > 0 || c.DraftWidth > 0 || c.DraftHeads > 0 || c.DraftMLP > 0
}

// draftFor is the draft the run trains when it rebuilds that of a model
// with config mc: mc's, with the options that are set.
func (c Config) draftFor(mc model.Config) model.DraftConfig {
	d := mc.Draft
	if c.DraftKSelect > 0 {
		d.KSelect = c.DraftKSelect
	}
	if c.DraftWidth > 0 {
		d.Width = c.DraftWidth
	}
	if c.DraftHeads > 0 {
		d.Heads = c.DraftHeads
	}
	if c.DraftMLP > 0 {
		d.MLP = c.DraftMLP
	}
	return d
}

// checkModel checks the options that depend on the network sizes against
// the model the run trains (loaded or fresh), not against Config.Model.
func (c Config) checkModel(mc model.Config) error {
	mult := mc.PixelMultiple() * mc.DiT.Window
	if c.Crop < mult || c.Crop%mult != 0 {
		return fmt.Errorf("trainer: --crop %d must be a positive multiple of %d for model %s", c.Crop, mult, mc.Name)
	}
	return nil
}

// lrAt is the learning rate at a step: linear warm-up over 5% of the steps,
// then cosine decay to a tenth.
func (c Config) lrAt(step int) float64 {
	warm := max(1, c.Steps/20)
	if step < warm {
		return c.LR * float64(step+1) / float64(warm)
	}
	p := float64(step-warm) / float64(max(1, c.Steps-warm))
	return c.LR * (0.1 + 0.9*0.5*(1+math.Cos(math.Pi*math.Min(p, 1))))
}

// Record is one line of loss.jsonl.
type Record struct {
	Step    int                `json:"step"`
	Loss    float64            `json:"loss"`
	Terms   map[string]float64 `json:"terms,omitempty"`
	LR      float64            `json:"lr"`
	Seconds float64            `json:"seconds"`
}

// ValRecord is one line of val.jsonl.
type ValRecord struct {
	Step        int     `json:"step"`
	PSNR        float64 `json:"psnr"`
	PSNRBicubic float64 `json:"psnr_bicubic"`
	What        string  `json:"what"`
	// LPIPS of the validated output, when LPIPS weights were found.
	LPIPS float64 `json:"lpips,omitempty"`
	// BasePSNR and BaseLPIPS score the base step alone (draft stage), so
	// the draft's gain shows beside the full pipeline's scores.
	BasePSNR  float64 `json:"base_psnr,omitempty"`
	BaseLPIPS float64 `json:"base_lpips,omitempty"`
}

// Run trains one stage. On cancellation it saves a checkpoint and returns
// ctx's error. It opens the model (openModel), the data (openData) and the
// training graphs (buildStep), then runs the loop (run.loop).
func Run(ctx context.Context, be compute.Backend, cfg Config, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return err
	}
	r := &run{cfg: cfg, be: be, log: log, ckptPath: filepath.Join(cfg.Out, "checkpoint.safetensors")}
	if err := r.openModel(); err != nil {
		return err
	}
	if err := r.cfg.checkModel(r.m.Config); err != nil {
		return err
	}
	if err := r.openData(ctx); err != nil {
		return err
	}
	if err := r.openLPIPS(); err != nil {
		return err
	}
	var err error
	if r.step, err = buildStep(be, r.m, r.cfg, r.lp, r.teacher); err != nil {
		return err
	}
	if r.step.disc != nil {
		if err := materialiseDisc(be, r.m); err != nil {
			return err
		}
	}
	return r.loop(ctx)
}

// run is the state of one training run.
type run struct {
	cfg      Config
	be       compute.Backend
	log      *slog.Logger
	ckptPath string

	m         *model.Model
	start     int // steps already done (resume)
	trainable []string

	sources  []dataset.Source
	weights  []float64
	dataDesc string // describeData of the split, for the model metadata
	val      *validation

	lp     *lpips.Weights // nil without LPIPS weights
	metric *lpips.Metric  // scores validation; nil without LPIPS weights

	teacher *model.Config // the distillation teacher's config (nil: none)

	step *stepGraphs
	t0   time.Time // start of this process's steps
}

// openModel loads the model to train: from the checkpoint (--resume), from
// the previous stage's model (--init, grown with --fine-blocks), or fresh.
// It sets which variables train.
func (r *run) openModel() error {
	cfg, log := r.cfg, r.log
	grownFrom := 0 // the fine-stage blocks before --fine-blocks grew the decoder
	var err error
	switch {
	case cfg.Resume:
		f, err := weights.Load(r.ckptPath)
		if err != nil {
			return fmt.Errorf("trainer: --resume: %w", err)
		}
		mc, err := model.ParseConfig(f.Config)
		if err != nil {
			return err
		}
		if r.m, err = model.New(r.be, mc, cfg.Seed); err != nil {
			return err
		}
		if err := r.m.SetWeights(f, true); err != nil {
			return fmt.Errorf("trainer: --resume: %w", err)
		}
		for k, v := range f.Metadata {
			r.m.Metadata[k] = v
		}
		if f.Metadata[MetaStage] != string(cfg.Stage) {
			return fmt.Errorf("trainer: checkpoint %s is of stage %q, not %q", r.ckptPath, f.Metadata[MetaStage], cfg.Stage)
		}
		r.start, _ = strconv.Atoi(f.Metadata[MetaStep])
		if planned := f.Metadata[MetaSteps]; planned != "" && planned != strconv.Itoa(cfg.Steps) {
			log.Warn("--steps differs from the interrupted run's: the learning-rate schedule changes, the resume is not exact",
				"steps", cfg.Steps, "checkpoint_steps", planned)
		}
		// Log lines written after the checkpoint (a run killed without
		// saving) are redone: drop them so steps stay increasing.
		for _, name := range []string{"loss.jsonl", "val.jsonl"} {
			if err := truncateLog(filepath.Join(cfg.Out, name), r.start); err != nil {
				return fmt.Errorf("trainer: --resume: %w", err)
			}
		}
		log.Info("resumed", "checkpoint", r.ckptPath, "step", r.start)
	case cfg.Init != "":
		fileCfg, err := model.ReadConfig(cfg.Init)
		if err != nil {
			return err
		}
		have := fileCfg.AE.FineBlockCount()
		switch {
		case cfg.rebuildsDraft():
			if r.m, err = model.LoadDraft(r.be, cfg.Init, cfg.draftFor(fileCfg)); err != nil {
				return err
			}
			now := r.m.Config.DraftDiT()
			log.Info("draft rebuilt", "k_select", r.m.Config.Draft.KSelect, "was", fileCfg.Draft.KSelect,
				"kept_blocks", fmt.Sprint(r.m.Config.KeptBlocks()), "was_blocks", fmt.Sprint(fileCfg.KeptBlocks()),
				"width", now.Width, "heads", now.Heads, "mlp", now.MLP)
		case cfg.FineBlocks > have:
			if r.m, err = model.LoadGrown(r.be, cfg.Init, cfg.FineBlocks); err != nil {
				return err
			}
			grownFrom = have
			log.Info("decoder fine stage grown", "blocks", cfg.FineBlocks, "was", have)
		default:
			if cfg.FineBlocks > 0 && cfg.FineBlocks < have {
				log.Warn("--fine-blocks is below the model's count: the decoder keeps its blocks", "fine_blocks", cfg.FineBlocks, "model", have)
			}
			if r.m, err = model.Load(r.be, cfg.Init); err != nil {
				return err
			}
		}
	default:
		if r.m, err = model.New(r.be, cfg.Model, cfg.Seed); err != nil {
			return err
		}
	}
	if cfg.TemporalRoPE && !r.m.Config.DiT.TemporalRoPE {
		r.m.Config.DiT.TemporalRoPE = true
		log.Info("temporal attention: rotary frame positions on (no new weights)")
	}
	if cfg.Stage == StageDraft && !cfg.Resume && !cfg.KeepDraft {
		n, err := r.m.InitDraftFromBase()
		if err != nil {
			return err
		}
		log.Info("draft initialised from the base", "variables", n, "kept_blocks", fmt.Sprint(r.m.Config.KeptBlocks()))
	}
	if err := r.openTeacher(); err != nil {
		return err
	}
	scope := stageScope(cfg.Stage)
	r.trainable = []string{scope}
	if len(cfg.Trainable) > 0 {
		r.trainable = cfg.Trainable
	}
	r.m.SetTrainable(r.trainable...)
	if grownFrom > 0 && !anyTrainable(r.m, model.ScopeAE+"/dec/"+model.FineBlockScope(grownFrom)+"/") {
		log.Warn("the new decoder fine blocks are frozen in this run and stay the identity (train them with --trainable including ae/dec)",
			"trainable", strings.Join(r.trainable, ","))
	}
	if n := r.m.NumParameters(""); n > 0 && countTrainable(r.m) == 0 {
		return fmt.Errorf("trainer: --trainable %v matches no network variable", r.trainable)
	}
	log.Info("training", "stage", cfg.Stage, "parameters", r.m.NumParameters(scope), "steps", cfg.Steps, "from", r.start)
	return nil
}

// stageScope is the network a stage trains.
func stageScope(s Stage) string {
	return map[Stage]string{StageAutoencoder: model.ScopeAE, StageBase: model.ScopeBase, StageDraft: model.ScopeDraft}[s]
}

// openData opens the training sources of the split and the validation frames.
func (r *run) openData(ctx context.Context) error {
	cfg := r.cfg
	split, err := dataset.MakeSplit(cfg.Data, cfg.Photos)
	if err != nil {
		return fmt.Errorf("trainer: data: %w", err)
	}
	if err := split.Disjoint(); err != nil {
		return err
	}
	opt := dataset.Options{HFlip: true, VFlip: true, Reverse: true, Cache: dataset.NewCache(1 << 30), Downscale: cfg.PhotoDownscale}
	var isVideo []bool
	for _, it := range split.Train {
		s, err := it.Source(ctx, opt)
		if err != nil {
			return fmt.Errorf("trainer: data %s: %w", it.Name, err)
		}
		r.sources = append(r.sources, s)
		isVideo = append(isVideo, it.Kind != dataset.KindPhoto)
	}
	if len(r.sources) == 0 {
		return fmt.Errorf("trainer: no training data in --data %q / --photos %q", cfg.Data, cfg.Photos)
	}
	r.weights = sourceWeights(isVideo, cfg.VideoWeight)
	if r.val, err = loadValidation(ctx, cfg, split); err != nil {
		return err
	}
	r.dataDesc = describeData(split)
	r.log.Info("data", "train_items", len(split.Train), "val_frames", len(r.val.hq))
	return nil
}

// openLPIPS loads the LPIPS network when a loss term needs it (an error if
// it is missing then) or, for validation scores, when it is found.
func (r *run) openLPIPS() error {
	path := r.cfg.LPIPSPath
	if path == "" {
		p, err := lpips.DefaultPath()
		if err != nil {
			if r.cfg.LPIPSWeight > 0 {
				return fmt.Errorf("trainer: --lpips-weight needs the LPIPS weights: %w", err)
			}
			r.log.Info("no LPIPS weights found: validation reports PSNR only", "reason", err)
			return nil
		}
		path = p
	}
	w, err := lpips.LoadWeights(path)
	if err != nil {
		return fmt.Errorf("trainer: LPIPS weights: %w", err)
	}
	r.lp = w
	if r.metric, err = lpips.New(r.be, w); err != nil {
		return fmt.Errorf("trainer: LPIPS: %w", err)
	}
	return nil
}

// materialiseDisc creates the discriminator's variables (unless a resumed
// checkpoint holds them) before the first generator step, so that the
// generator graph finds them and can leave them frozen.
func materialiseDisc(be compute.Backend, m *model.Model) error {
	e, err := mlmodel.NewExec(be, m.Store, func(scope *mlmodel.Scope, g *Graph) *Node {
		l, _ := model.Discriminator(scope, Zeros(g, shapes.Make(dtypes.Float32, 1, 16, 16, 3)))
		return ReduceAllSum(l)
	})
	if err != nil {
		return fmt.Errorf("trainer: discriminator: %w", err)
	}
	if _, err := e.Exec(); err != nil {
		return fmt.Errorf("trainer: discriminator: %w", err)
	}
	return nil
}

// setTrainableFor marks the variables one graph of the step trains: the
// stage's network for the generator (disc false), the discriminator alone
// for its update (disc true). GoMLX reads the marks when a graph is built.
func (r *run) setTrainableFor(disc bool) {
	if disc {
		r.m.SetTrainable()
	} else {
		r.m.SetTrainable(r.trainable...)
	}
	for v := range r.m.Store.IterVariables() {
		if strings.HasPrefix(model.VariableName(v), model.ScopeDisc+"/") {
			v.SetTrainable(disc)
		}
	}
}

// save writes the checkpoint (every variable, optimizer state included),
// the model file (networks only) and the loss curve, after step steps.
func (r *run) save(step int) error {
	writeMeta(r.m.Metadata, r.cfg, step, r.dataDesc)
	if step == r.cfg.Steps { // the run is complete: its line in the history
		appendHistory(r.m.Metadata, historyLine(r.cfg, step, time.Since(r.t0), r.be.Name(), bench.DescribeMachine()))
	}
	if err := r.m.SaveAll(r.ckptPath); err != nil {
		return err
	}
	if err := r.m.Save(filepath.Join(r.cfg.Out, "model.safetensors")); err != nil {
		return err
	}
	return PlotLoss(filepath.Join(r.cfg.Out, "loss.jsonl"), filepath.Join(r.cfg.Out, "loss.png"), string(r.cfg.Stage))
}

// loop runs the optimizer steps from r.start, logging, validating and
// saving on the way.
func (r *run) loop(ctx context.Context) error {
	cfg, log := r.cfg, r.log
	lrVar := optimizer.LearningRateVar(r.m.Store.RootScope(), dtypes.Float32, cfg.LR)
	lossLog, err := os.OpenFile(filepath.Join(cfg.Out, "loss.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lossLog.Close()
	valLog, err := os.OpenFile(filepath.Join(cfg.Out, "val.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer valLog.Close()

	pctx, stopPrefetch := context.WithCancel(ctx)
	defer stopPrefetch()
	batches := prefetch(pctx, r.sources, r.weights, r.m.Config, cfg, r.start)
	t0 := time.Now()
	r.t0 = t0
	var tMeasure time.Time
	var sum float64
	var count int
	terms := map[string]float64{}
	interrupted := func(step int) error {
		log.Info("interrupted: saving checkpoint", "step", step)
		if err := r.save(step); err != nil {
			return err
		}
		return ctx.Err()
	}
	// With --max-time, a fresh run first validates its starting weights: the
	// baseline of val.jsonl (step 0), and the cost of a validation, which
	// the fit of the step count below reserves for each later one (on XLA
	// every validation compiles its graphs anew).
	var valCost float64
	if cfg.MaxTime > 0 && r.start == 0 {
		tv := time.Now()
		if err := r.validateAt(ctx, valLog, 0); err != nil {
			return err
		}
		valCost = time.Since(tv).Seconds()
	}
	for i := r.start; i < cfg.Steps; i++ {
		if cfg.beforeStep != nil {
			cfg.beforeStep(i)
		}
		var b batch
		select {
		case <-ctx.Done():
		case b = <-batches:
		}
		if ctx.Err() != nil {
			return interrupted(i)
		}
		if b.err != nil {
			return fmt.Errorf("trainer: batch %d: %w", i, b.err)
		}
		if err := lrVar.SetValue(tensors.FromScalar(float32(cfg.lrAt(i)))); err != nil {
			return err
		}
		out, err := r.runStep(b)
		if err != nil {
			return fmt.Errorf("trainer: step %d: %w", i, err)
		}
		loss := float64(out[0].Value().(float32))
		if cfg.MaxTime > 0 {
			// Measure after compilation and warm-up, then fit the plan.
			switch i - r.start {
			case 4:
				tMeasure = time.Now()
			case 24:
				per := time.Since(tMeasure).Seconds() / 20
				// Each step also carries its share of the validations, and
				// the last step a whole one.
				left := cfg.MaxTime.Seconds() - time.Since(t0).Seconds() - valCost
				if fit := i + 1 + int(left/(per+valCost/float64(cfg.ValEvery))); fit < cfg.Steps {
					log.Info("--max-time: fewer steps", "steps", fit, "was", cfg.Steps, "s_per_step", fmt.Sprintf("%.3f", per),
						"validation_s", fmt.Sprintf("%.1f", valCost))
					cfg.Steps = max(fit, i+1)
					r.cfg.Steps = cfg.Steps
				}
			}
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("trainer: loss is %v at step %d", loss, i)
		}
		sum += loss
		count++
		for k, name := range r.step.names {
			terms[name] += float64(out[1+k].Value().(float32))
		}
		if len(out) > 1+len(r.step.names) {
			terms["disc"] += float64(out[len(out)-1].Value().(float32))
		}
		if (i+1)%cfg.LogEvery == 0 || i+1 == cfg.Steps {
			rec := Record{Step: i + 1, Loss: sum / float64(count), LR: cfg.lrAt(i), Seconds: time.Since(t0).Seconds(), Terms: map[string]float64{}}
			for k, v := range terms {
				rec.Terms[k] = v / float64(count)
			}
			line, _ := json.Marshal(rec)
			lossLog.Write(append(line, '\n'))
			log.Info("step", "step", i+1, "loss", fmt.Sprintf("%.5f", rec.Loss), "lr", fmt.Sprintf("%.2e", rec.LR),
				"s_per_step", fmt.Sprintf("%.2f", time.Since(t0).Seconds()/float64(i+1-r.start)))
			sum, count = 0, 0
			clear(terms)
		}
		if (i+1)%cfg.ValEvery == 0 || i+1 == cfg.Steps {
			if cfg.beforeValidate != nil {
				cfg.beforeValidate(i + 1)
			}
			err := r.validateAt(ctx, valLog, i+1)
			if err != nil && ctx.Err() != nil {
				// Interrupted during validation: step i is done, keep it.
				return interrupted(i + 1)
			}
			if err != nil {
				return err
			}
		}
		if (i+1)%cfg.CheckpointEvery == 0 || i+1 == cfg.Steps {
			if err := r.save(i + 1); err != nil {
				return err
			}
		}
	}
	log.Info("done", "steps", cfg.Steps, "wall", time.Since(t0).Round(time.Second).String(), "out", cfg.Out)
	return nil
}

// validateAt validates the model after step steps and logs the record to
// valLog and the run's log.
func (r *run) validateAt(ctx context.Context, valLog io.Writer, step int) error {
	vr, err := validate(ctx, r.m, r.cfg, r.val, r.metric)
	if err != nil {
		return err
	}
	vr.Step = step
	line, _ := json.Marshal(vr)
	if _, err := valLog.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("trainer: validation log: %w", err)
	}
	r.log.Info("validation", "step", step, "psnr", fmt.Sprintf("%.3f", vr.PSNR), "bicubic", fmt.Sprintf("%.3f", vr.PSNRBicubic),
		"lpips", fmt.Sprintf("%.4f", vr.LPIPS), "base_psnr", fmt.Sprintf("%.3f", vr.BasePSNR), "base_lpips", fmt.Sprintf("%.4f", vr.BaseLPIPS), "what", vr.What)
	return nil
}

// runStep runs one optimizer step on a batch: the generator update and,
// with adversarial training, the discriminator update on the generator's
// frames. It returns the generator's outputs, with the discriminator loss
// appended when there is one.
func (r *run) runStep(b batch) ([]*tensors.Tensor, error) {
	args := []any{b.hq, b.lq}
	if r.cfg.Stage == StageBase {
		f := b.flow
		args = append(args, b.noise, f.a, f.b, f.c, f.t, f.sigma)
	}
	if r.step.disc != nil {
		r.setTrainableFor(false)
	}
	out, err := r.step.gen.Exec(args...)
	if err != nil || r.step.disc == nil {
		return out, err
	}
	fake := out[len(out)-1]
	out = out[:len(out)-1]
	r.setTrainableFor(true)
	d, err := r.step.disc.Exec(b.hq, fake)
	if err != nil {
		return nil, fmt.Errorf("discriminator: %w", err)
	}
	return append(out, d[0]), nil
}

// truncateLog drops the lines of a JSON-lines log (loss.jsonl, val.jsonl)
// whose step is past step, and lines that do not parse (a line cut short
// by a kill). A missing log is fine.
func truncateLog(path string, step int) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var keep []byte
	dropped := false
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r struct {
			Step *int `json:"step"`
		}
		if json.Unmarshal(line, &r) != nil || r.Step == nil || *r.Step > step || line[len(line)-1] != '\n' {
			dropped = true
			continue
		}
		keep = append(keep, line...)
	}
	if !dropped {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, keep, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// batch is one training batch on the host: [B, T, H, W, 3] ground truth and
// the bicubic-upsampled degradation of the same size.
type batch struct {
	hq, lq *tensors.Tensor
	// noise and flow are the base stage's draw of the step: the noise
	// latent [B, T, h, w, C] and the point x_t of the step (see flowInputs).
	noise *tensors.Tensor
	flow  flowInputs
	err   error
}

// prefetch makes batches in the background on several goroutines and
// delivers them in step order. The batch of step i depends only on the seed
// and i, so a resumed run sees the same data.
func prefetch(ctx context.Context, sources []dataset.Source, weights []float64, mc model.Config, cfg Config, start int) <-chan batch {
	producers := max(1, runtime.GOMAXPROCS(0)/4)
	ch := make(chan batch, producers)
	slots := make([]chan batch, producers)
	for p := range slots {
		slots[p] = make(chan batch, 1)
		go func(p int) {
			for i := start + p; i < cfg.Steps; i += producers {
				b := makeBatch(ctx, sources, weights, mc, cfg, i)
				select {
				case slots[p] <- b:
				case <-ctx.Done():
					return
				}
			}
		}(p)
	}
	go func() {
		defer close(ch)
		for i := start; i < cfg.Steps; i++ {
			var b batch
			select {
			case b = <-slots[(i-start)%producers]:
			case <-ctx.Done():
				return
			}
			select {
			case ch <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// sourceWeights gives real videos together the share videoWeight of the
// clips and the photographs the rest (nil: every source equally likely).
func sourceWeights(isVideo []bool, videoWeight float64) []float64 {
	nv := 0
	for _, v := range isVideo {
		if v {
			nv++
		}
	}
	if videoWeight <= 0 || nv == 0 || nv == len(isVideo) {
		return nil
	}
	w := make([]float64, len(isVideo))
	for i, v := range isVideo {
		if v {
			w[i] = videoWeight / float64(nv)
		} else {
			w[i] = (1 - videoWeight) / float64(len(isVideo)-nv)
		}
	}
	return w
}

// anyTrainable reports whether a trainable network variable's name starts
// with prefix.
func anyTrainable(m *model.Model, prefix string) bool {
	for _, v := range m.NetworkVariables() {
		if v.Trainable && strings.HasPrefix(model.VariableName(v), prefix) {
			return true
		}
	}
	return false
}

// countTrainable counts the trainable network variables.
func countTrainable(m *model.Model) int {
	n := 0
	for _, v := range m.NetworkVariables() {
		if v.Trainable {
			n++
		}
	}
	return n
}

// makeBatch makes the batch of a step from the sources, reproducibly from
// the seed and the step: clips, their degradation and, for the base stage,
// the flow draw (the one-step entry, or with probability FlowShare a
// timestep drawn uniformly from [1, 999] with its Gaussian noise).
func makeBatch(ctx context.Context, sources []dataset.Source, weights []float64, mc model.Config, cfg Config, step int) batch {
	s, err := dataset.NewSampler(dataset.SamplerConfig{
		Sources: sources, Weights: weights, Preset: cfg.Preset, Scale: cfg.Scale, Seed: cfg.Seed*1_000_003 + uint64(step),
	})
	if err != nil {
		return batch{err: err}
	}
	hq, lq, err := s.Batch(ctx, cfg.Batch, cfg.Frames, cfg.Crop, cfg.Crop)
	if err != nil {
		return batch{err: err}
	}
	n, t := cfg.Batch, cfg.Frames
	hd := make([]float32, 0, n*t*cfg.Crop*cfg.Crop*3)
	ld := make([]float32, 0, n*t*cfg.Crop*cfg.Crop*3)
	for i := range hq {
		for j := range hq[i] {
			hd = append(hd, hq[i][j].Pix...)
			up := frame.Resize(lq[i][j], cfg.Crop, cfg.Crop, frame.Bicubic).Clamp()
			ld = append(ld, up.Pix...)
		}
	}
	b := batch{
		hq: tensors.FromFlatDataAndDimensions(hd, n, t, cfg.Crop, cfg.Crop, 3),
		lq: tensors.FromFlatDataAndDimensions(ld, n, t, cfg.Crop, cfg.Crop, 3),
	}
	if cfg.Stage == StageBase {
		b.flow, b.noise = flowDraw(mc, cfg, step)
	}
	return b
}

// flowDraw is the base stage's draw for a step (see makeBatch).
func flowDraw(mc model.Config, cfg Config, step int) (flowInputs, *tensors.Tensor) {
	r := rand.New(rand.NewPCG(cfg.Seed, uint64(step)^0x9e3779b97f4a7c15))
	h := cfg.Crop / mc.AE.Patch
	noise := make([]float32, cfg.Batch*cfg.Frames*h*h*mc.AE.LatentChannels)
	f := entryFlow()
	if r.Float64() < cfg.FlowShare {
		ts := 1 + r.IntN(schedule.NumTrainTimesteps-1)
		sigma := float32(schedule.Sigma(ts))
		f = flowInputs{a: 1 - sigma, b: sigma, t: float32(ts), sigma: sigma}
		for i := range noise {
			noise[i] = float32(r.NormFloat64())
		}
	}
	return f, tensors.FromFlatDataAndDimensions(noise, cfg.Batch, cfg.Frames, h, h, mc.AE.LatentChannels)
}
