package trainer

import (
	"strconv"
	"strings"
)

// Metadata keys the trainer writes into checkpoints and model files. Run
// writes them; nothing else should.
const (
	// MetaStage is the stage of the run that wrote a checkpoint.
	MetaStage = "trainer.stage"
	// MetaStep is the number of steps done when the checkpoint was saved.
	MetaStep = "trainer.step"
	// MetaSteps is the planned number of steps of the run.
	MetaSteps = "trainer.steps"
)

// Fields of the per-stage record "train.<stage>[<scopes>].<field>" that a
// model keeps of every run that trained it.
const (
	metaFieldSteps        = "steps"
	metaFieldFineBlocks   = "fine_blocks"
	metaFieldDetailWeight = "detail_weight"
	metaFieldLPIPSWeight  = "lpips_weight"
	metaFieldFlowShare    = "flow_share"
	metaFieldAdvWeight    = "adv_weight"
	metaFieldFrames       = "frames"
	metaFieldLatentWeight = "latent_weight"
)

// stageKey is the prefix of the per-stage metadata record of cfg's run:
// "train.base", or "train.base[ae/dec]" when --trainable names scopes.
func stageKey(cfg Config) string {
	key := "train." + string(cfg.Stage)
	if len(cfg.Trainable) > 0 {
		key += "[" + strings.Join(cfg.Trainable, ",") + "]"
	}
	return key
}

// writeMeta records the run's state and settings in the model metadata.
func writeMeta(meta map[string]string, cfg Config, step int) {
	meta[MetaStage] = string(cfg.Stage)
	meta[MetaStep] = strconv.Itoa(step)
	meta[MetaSteps] = strconv.Itoa(cfg.Steps)
	key := stageKey(cfg) + "."
	num := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	meta[key+metaFieldSteps] = strconv.Itoa(step)
	meta[key+metaFieldFrames] = strconv.Itoa(cfg.Frames)
	if cfg.FineBlocks > 0 {
		meta[key+metaFieldFineBlocks] = strconv.Itoa(cfg.FineBlocks)
	}
	if cfg.Stage == StageAutoencoder {
		return
	}
	if cfg.LatentWeight != 1 {
		meta[key+metaFieldLatentWeight] = num(cfg.LatentWeight)
	}
	if cfg.DetailWeight > 0 {
		meta[key+metaFieldDetailWeight] = num(cfg.DetailWeight)
	}
	if cfg.LPIPSWeight > 0 {
		meta[key+metaFieldLPIPSWeight] = num(cfg.LPIPSWeight)
	}
	if cfg.Stage == StageBase && cfg.FlowShare > 0 {
		meta[key+metaFieldFlowShare] = num(cfg.FlowShare)
	}
	if cfg.Stage == StageDraft && cfg.AdvWeight > 0 {
		meta[key+metaFieldAdvWeight] = num(cfg.AdvWeight)
	}
}
