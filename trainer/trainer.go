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
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/pssr/pssr/dataset"
	"github.com/pssr/pssr/degrade"
	"github.com/pssr/pssr/frame"
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
	// DetailWeight weighs the detail term (base and draft): the mismatch
	// between the amounts of high-frequency detail of prediction and ground
	// truth (see detailLoss). 0 leaves it out.
	DetailWeight float64
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
	// MaxTime, when positive, bounds the run's wall time: after the first
	// 20 steps the step count is lowered to what fits, so the learning-rate
	// schedule still completes. The final step count is recorded in the
	// checkpoint and model metadata.
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
		PixelWeight: 1, SharpWeight: 0.5,
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
	mult := c.Model.PixelMultiple() * c.Model.DiT.Window
	if c.Crop < mult || c.Crop%mult != 0 {
		return fmt.Errorf("trainer: --crop %d must be a positive multiple of %d", c.Crop, mult)
	}
	if c.Crop%c.Scale != 0 || (c.Scale != 2 && c.Scale != 4) {
		return fmt.Errorf("trainer: --scale must be 2 or 4, got %d", c.Scale)
	}
	if !(c.LR > 0 && c.LR < 1) {
		return fmt.Errorf("trainer: --lr %g out of range (0, 1)", c.LR)
	}
	if c.DetailWeight < 0 || c.PixelWeight < 0 || c.SharpWeight < 0 {
		return fmt.Errorf("trainer: loss weights must not be negative")
	}
	if c.FineBlocks < 0 || c.FineBlocks > model.MaxFineBlocks {
		return fmt.Errorf("trainer: --fine-blocks %d out of range [0, %d]", c.FineBlocks, model.MaxFineBlocks)
	}
	if c.Stage != StageAutoencoder && c.Init == "" && !c.Resume {
		return fmt.Errorf("trainer: stage %s needs --init (the model of the previous stage)", c.Stage)
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
}

// Run trains one stage. On cancellation it saves a checkpoint and returns
// ctx's error.
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
	ckptPath := filepath.Join(cfg.Out, "checkpoint.safetensors")

	// The model: from a checkpoint, from the previous stage, or fresh.
	var m *model.Model
	start := 0
	grownFrom := 0 // the fine-stage blocks before --fine-blocks grew the decoder
	var err error
	switch {
	case cfg.Resume:
		f, err := weights.Load(ckptPath)
		if err != nil {
			return fmt.Errorf("trainer: --resume: %w", err)
		}
		mc, err := model.ParseConfig(f.Config)
		if err != nil {
			return err
		}
		if m, err = model.New(be, mc, cfg.Seed); err != nil {
			return err
		}
		if err := m.SetWeights(f, true); err != nil {
			return fmt.Errorf("trainer: --resume: %w", err)
		}
		for k, v := range f.Metadata {
			m.Metadata[k] = v
		}
		if f.Metadata["trainer.stage"] != string(cfg.Stage) {
			return fmt.Errorf("trainer: checkpoint %s is of stage %q, not %q", ckptPath, f.Metadata["trainer.stage"], cfg.Stage)
		}
		start, _ = strconv.Atoi(f.Metadata["trainer.step"])
		if planned := f.Metadata["trainer.steps"]; planned != "" && planned != strconv.Itoa(cfg.Steps) {
			log.Warn("--steps differs from the interrupted run's: the learning-rate schedule changes, the resume is not exact",
				"steps", cfg.Steps, "checkpoint_steps", planned)
		}
		// Log lines written after the checkpoint (a run killed without
		// saving) are redone: drop them so steps stay increasing.
		for _, name := range []string{"loss.jsonl", "val.jsonl"} {
			if err := truncateLog(filepath.Join(cfg.Out, name), start); err != nil {
				return fmt.Errorf("trainer: --resume: %w", err)
			}
		}
		log.Info("resumed", "checkpoint", ckptPath, "step", start)
	case cfg.Init != "":
		fileCfg, err := model.ReadConfig(cfg.Init)
		if err != nil {
			return err
		}
		have := fileCfg.AE.FineBlockCount()
		if cfg.FineBlocks > have {
			if m, err = model.LoadGrown(be, cfg.Init, cfg.FineBlocks); err != nil {
				return err
			}
			grownFrom = have
			log.Info("decoder fine stage grown", "blocks", cfg.FineBlocks, "was", have)
			break
		}
		if cfg.FineBlocks > 0 && cfg.FineBlocks < have {
			log.Warn("--fine-blocks is below the model's count: the decoder keeps its blocks", "fine_blocks", cfg.FineBlocks, "model", have)
		}
		if m, err = model.Load(be, cfg.Init); err != nil {
			return err
		}
	default:
		if m, err = model.New(be, cfg.Model, cfg.Seed); err != nil {
			return err
		}
	}
	if cfg.Stage == StageDraft && !cfg.Resume && !cfg.KeepDraft {
		n, err := m.InitDraftFromBase()
		if err != nil {
			return err
		}
		log.Info("draft initialised from the base", "variables", n, "kept_blocks", fmt.Sprint(m.Config.KeptBlocks()))
	}
	scope := map[Stage]string{StageAutoencoder: model.ScopeAE, StageBase: model.ScopeBase, StageDraft: model.ScopeDraft}[cfg.Stage]
	trainable := []string{scope}
	if len(cfg.Trainable) > 0 {
		trainable = cfg.Trainable
	}
	m.SetTrainable(trainable...)
	if grownFrom > 0 && !anyTrainable(m, model.ScopeAE+"/dec/"+model.FineBlockScope(grownFrom)+"/") {
		log.Warn("the new decoder fine blocks are frozen in this run and stay the identity (train them with --trainable including ae/dec)",
			"trainable", strings.Join(trainable, ","))
	}
	if n := m.NumParameters(""); n > 0 && countTrainable(m) == 0 {
		return fmt.Errorf("trainer: --trainable %v matches no network variable", trainable)
	}
	log.Info("training", "stage", cfg.Stage, "parameters", m.NumParameters(scope), "steps", cfg.Steps, "from", start)

	// Data.
	split, err := dataset.MakeSplit(cfg.Data, cfg.Photos)
	if err != nil {
		return fmt.Errorf("trainer: data: %w", err)
	}
	if err := split.Disjoint(); err != nil {
		return err
	}
	opt := dataset.Options{HFlip: true, VFlip: true, Reverse: true, Cache: dataset.NewCache(1 << 30), Downscale: cfg.PhotoDownscale}
	var sources []dataset.Source
	var isVideo []bool
	for _, it := range split.Train {
		s, err := it.Source(ctx, opt)
		if err != nil {
			return fmt.Errorf("trainer: data %s: %w", it.Name, err)
		}
		sources = append(sources, s)
		isVideo = append(isVideo, it.Kind != dataset.KindPhoto)
	}
	if len(sources) == 0 {
		return fmt.Errorf("trainer: no training data in --data %q / --photos %q", cfg.Data, cfg.Photos)
	}
	val, err := loadValidation(ctx, cfg, split)
	if err != nil {
		return err
	}
	log.Info("data", "train_items", len(split.Train), "val_frames", len(val.hq))

	step, err := buildStep(be, m, cfg)
	if err != nil {
		return err
	}
	lrVar := optimizer.LearningRateVar(m.Store.RootScope(), dtypes.Float32, cfg.LR)

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

	m.Metadata["trainer.stage"] = string(cfg.Stage)
	save := func(i int) error {
		m.Metadata["trainer.step"] = strconv.Itoa(i)
		m.Metadata["trainer.steps"] = strconv.Itoa(cfg.Steps)
		key := "train." + string(cfg.Stage)
		if len(cfg.Trainable) > 0 {
			key += "[" + strings.Join(cfg.Trainable, ",") + "]"
		}
		m.Metadata[key+".steps"] = strconv.Itoa(i)
		if cfg.FineBlocks > 0 {
			m.Metadata[key+".fine_blocks"] = strconv.Itoa(cfg.FineBlocks)
		}
		if cfg.DetailWeight > 0 && cfg.Stage != StageAutoencoder {
			m.Metadata[key+".detail_weight"] = strconv.FormatFloat(cfg.DetailWeight, 'g', -1, 64)
		}
		if err := m.SaveAll(ckptPath); err != nil {
			return err
		}
		if err := m.Save(filepath.Join(cfg.Out, "model.safetensors")); err != nil {
			return err
		}
		return PlotLoss(filepath.Join(cfg.Out, "loss.jsonl"), filepath.Join(cfg.Out, "loss.png"), string(cfg.Stage))
	}

	pctx, stopPrefetch := context.WithCancel(ctx)
	defer stopPrefetch()
	weights := sourceWeights(isVideo, cfg.VideoWeight)
	batches := prefetch(pctx, sources, weights, cfg, start)
	t0 := time.Now()
	var tMeasure time.Time
	var sum float64
	var count int
	terms := map[string]float64{}
	for i := start; i < cfg.Steps; i++ {
		if cfg.beforeStep != nil {
			cfg.beforeStep(i)
		}
		var b batch
		select {
		case <-ctx.Done():
		case b = <-batches:
		}
		if ctx.Err() != nil {
			log.Info("interrupted: saving checkpoint", "step", i)
			if err := save(i); err != nil {
				return err
			}
			return ctx.Err()
		}
		if b.err != nil {
			return fmt.Errorf("trainer: batch %d: %w", i, b.err)
		}
		if err := lrVar.SetValue(tensors.FromScalar(float32(cfg.lrAt(i)))); err != nil {
			return err
		}
		out, err := step.Exec(b.hq, b.lq)
		if err != nil {
			return fmt.Errorf("trainer: step %d: %w", i, err)
		}
		loss := float64(out[0].Value().(float32))
		if cfg.MaxTime > 0 {
			// Measure after compilation and warm-up, then fit the plan.
			switch i - start {
			case 4:
				tMeasure = time.Now()
			case 24:
				per := time.Since(tMeasure).Seconds() / 20
				left := cfg.MaxTime.Seconds() - time.Since(t0).Seconds()
				if fit := i + 1 + int(left/per); fit < cfg.Steps {
					log.Info("--max-time: fewer steps", "steps", fit, "was", cfg.Steps, "s_per_step", fmt.Sprintf("%.3f", per))
					cfg.Steps = max(fit, i+1)
				}
			}
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("trainer: loss is %v at step %d", loss, i)
		}
		sum += loss
		count++
		for k, name := range termNames(cfg.Stage) {
			terms[name] += float64(out[1+k].Value().(float32))
		}
		if (i+1)%cfg.LogEvery == 0 || i+1 == cfg.Steps {
			rec := Record{Step: i + 1, Loss: sum / float64(count), LR: cfg.lrAt(i), Seconds: time.Since(t0).Seconds(), Terms: map[string]float64{}}
			for k, v := range terms {
				rec.Terms[k] = v / float64(count)
			}
			line, _ := json.Marshal(rec)
			lossLog.Write(append(line, '\n'))
			log.Info("step", "step", i+1, "loss", fmt.Sprintf("%.5f", rec.Loss), "lr", fmt.Sprintf("%.2e", rec.LR),
				"s_per_step", fmt.Sprintf("%.2f", time.Since(t0).Seconds()/float64(i+1-start)))
			sum, count = 0, 0
			clear(terms)
		}
		if (i+1)%cfg.ValEvery == 0 || i+1 == cfg.Steps {
			if cfg.beforeValidate != nil {
				cfg.beforeValidate(i + 1)
			}
			vr, err := validate(ctx, m, cfg, val)
			if err != nil && ctx.Err() != nil {
				// Interrupted during validation: step i is done, keep it.
				log.Info("interrupted: saving checkpoint", "step", i+1)
				if err := save(i + 1); err != nil {
					return err
				}
				return ctx.Err()
			}
			if err != nil {
				return err
			}
			vr.Step = i + 1
			line, _ := json.Marshal(vr)
			valLog.Write(append(line, '\n'))
			log.Info("validation", "step", i+1, "psnr", fmt.Sprintf("%.3f", vr.PSNR), "bicubic", fmt.Sprintf("%.3f", vr.PSNRBicubic), "what", vr.What)
		}
		if (i+1)%cfg.CheckpointEvery == 0 || i+1 == cfg.Steps {
			if err := save(i + 1); err != nil {
				return err
			}
		}
	}
	log.Info("done", "steps", cfg.Steps, "wall", time.Since(t0).Round(time.Second).String(), "out", cfg.Out)
	return nil
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

// termNames lists the loss terms each stage reports, in graph output order.
func termNames(s Stage) []string {
	if s == StageAutoencoder {
		return []string{"pixel", "gradient", "lq_recon"}
	}
	return []string{"latent", "pixel", "sharp", "detail"}
}

// batch is one training batch on the host: [B, T, H, W, 3] ground truth and
// the bicubic-upsampled degradation of the same size.
type batch struct {
	hq, lq *tensors.Tensor
	err    error
}

// prefetch makes batches in the background on several goroutines and
// delivers them in step order. The batch of step i depends only on the seed
// and i, so a resumed run sees the same data.
func prefetch(ctx context.Context, sources []dataset.Source, weights []float64, cfg Config, start int) <-chan batch {
	producers := max(1, runtime.GOMAXPROCS(0)/4)
	ch := make(chan batch, producers)
	slots := make([]chan batch, producers)
	for p := range slots {
		slots[p] = make(chan batch, 1)
		go func(p int) {
			for i := start + p; i < cfg.Steps; i += producers {
				b := makeBatch(ctx, sources, weights, cfg, i)
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

func makeBatch(ctx context.Context, sources []dataset.Source, weights []float64, cfg Config, step int) batch {
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
	return batch{
		hq: tensors.FromFlatDataAndDimensions(hd, n, t, cfg.Crop, cfg.Crop, 3),
		lq: tensors.FromFlatDataAndDimensions(ld, n, t, cfg.Crop, cfg.Crop, 3),
	}
}

// buildStep compiles the training step of the stage: loss, gradients of the
// stage's network and an Adam update. It returns the loss and its terms.
func buildStep(be compute.Backend, m *model.Model, cfg Config) (*mlmodel.Exec, error) {
	mc := m.Config
	opt := optimizer.Adam().Done()
	return mlmodel.NewExec(be, m.Store, func(ctx *mlmodel.Scope, hq, lq *Node) []*Node {
		g := hq.Graph()
		d := hq.Shape().Dimensions
		b, t, h, w := d[0], d[1], d[2], d[3]
		hq4 := Reshape(hq, b*t, h, w, 3)
		lq4 := Reshape(lq, b*t, h, w, 3)
		var loss *Node
		var terms []*Node
		switch cfg.Stage {
		case StageAutoencoder:
			z := model.Encode(ctx, mc.AE, hq4)
			y := model.Decode(ctx, mc.AE, z, lq4)
			pix := l1(y, hq4)
			grad := gradientLoss(y, hq4)
			// The low-quality frame must round-trip too: z_L = E(x_L) is
			// what the base network starts from.
			zl := model.Encode(ctx, mc.AE, lq4)
			lqr := l1(model.Decode(ctx, mc.AE, zl, lq4), lq4)
			reg := MulScalar(Add(model.MeanAll(Square(z)), model.MeanAll(Square(zl))), 1e-4)
			loss = Add(Add(Add(pix, grad), MulScalar(lqr, 0.5)), reg)
			terms = []*Node{pix, grad, lqr}
		default:
			zh := StopGradient(model.Encode(ctx, mc.AE, hq4))
			zl := StopGradient(model.Encode(ctx, mc.AE, lq4))
			ld := zl.Shape().Dimensions
			zh5 := Reshape(zh, b, t, ld[1], ld[2], ld[3])
			zl5 := Reshape(zl, b, t, ld[1], ld[2], ld[3])
			decode := func(z5 *Node) *Node { return model.Decode(ctx, mc.AE, Reshape(z5, b*t, ld[1], ld[2], ld[3]), lq4) }
			stepLoss := func(x0 *Node) (lat, pix, sharp, detail *Node) {
				y := decode(x0)
				return mse(x0, zh5), l1(y, hq4), sharpnessLoss(y, hq4), detailLoss(y, hq4)
			}
			total := func(lat, pix, sharp, detail *Node) *Node {
				l := Add(Add(lat, MulScalar(pix, cfg.PixelWeight)), MulScalar(sharp, cfg.SharpWeight))
				if cfg.DetailWeight > 0 {
					l = Add(l, MulScalar(detail, cfg.DetailWeight))
				}
				return l
			}
			plan := schedule.DefaultPlan()
			sig := func(ts int) *Node { return Const(g, float32(schedule.Sigma(ts))) }
			v, feats := model.Base(ctx, mc, zl5, zl5, Const(g, float32(plan.Base)))
			if cfg.Stage == StageBase {
				x0 := schedule.PredictX0Graph(zl5, v, sig(plan.Base))
				lat, pix, sharp, detail := stepLoss(x0)
				loss = total(lat, pix, sharp, detail)
				terms = []*Node{lat, pix, sharp, detail}
				break
			}
			// Draft: unroll from the frozen base step's x_next.
			for i := range feats {
				feats[i] = StopGradient(feats[i])
			}
			xt := StopGradient(schedule.StepGraph(zl5, v, sig(plan.Base), sig(plan.Draft[0])))
			var lat, pix, sharp, detail *Node
			for i, ts := range plan.Draft {
				next := 0
				if i+1 < len(plan.Draft) {
					next = plan.Draft[i+1]
				}
				vd := model.Draft(ctx, mc, xt, zl5, Const(g, float32(ts)), feats)
				x0 := schedule.PredictX0Graph(xt, vd, sig(ts))
				a, p, s, dl := stepLoss(x0)
				if lat == nil {
					lat, pix, sharp, detail = a, p, s, dl
				} else {
					lat, pix, sharp, detail = Add(lat, a), Add(pix, p), Add(sharp, s), Add(detail, dl)
				}
				xt = StopGradient(schedule.StepGraph(xt, vd, sig(ts), Const(g, float32(schedule.Sigma(next)))))
			}
			k := float64(len(plan.Draft))
			lat, pix, sharp, detail = DivScalar(lat, k), DivScalar(pix, k), DivScalar(sharp, k), DivScalar(detail, k)
			loss = total(lat, pix, sharp, detail)
			terms = []*Node{lat, pix, sharp, detail}
		}
		opt.UpdateGraph(ctx, g, loss)
		return append([]*Node{loss}, terms...)
	})
}
