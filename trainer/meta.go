package trainer

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pssr/pssr/dataset"
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
	// MetaHistory lists every finished run that trained the model, one
	// line each, oldest first (historyLine); a run appends its line when
	// it completes.
	MetaHistory = "train.history"
	// metaQualityPrefix starts the keys of quality claims about the
	// weights; training changes the weights, so writeMeta drops them.
	metaQualityPrefix = "quality."
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
	metaFieldKSelect      = "k_select"
	metaFieldDraftWidth   = "draft_width"
	metaFieldDraftHeads   = "draft_heads"
	metaFieldDraftMLP     = "draft_mlp"
	metaFieldDistill      = "distill_weight"
	metaFieldTemporal     = "temporal_weight"
	metaFieldData         = "data"
)

// metaLegacyData is the model-wide data description of the first sessions'
// models. A run moves it into MetaHistory and records its own data under
// its stage (metaFieldData).
const metaLegacyData = "train.data"

// stageFields lists every field of the per-stage record writeMeta writes.
var stageFields = []string{metaFieldSteps, metaFieldFineBlocks, metaFieldDetailWeight, metaFieldLPIPSWeight,
	metaFieldFlowShare, metaFieldAdvWeight, metaFieldFrames, metaFieldLatentWeight, metaFieldKSelect,
	metaFieldDraftWidth, metaFieldDraftHeads, metaFieldDraftMLP, metaFieldDistill, metaFieldTemporal, metaFieldData}

// stageKey is the prefix of the per-stage metadata record of cfg's run:
// "train.base", or "train.base[ae/dec]" when --trainable names scopes.
func stageKey(cfg Config) string {
	key := "train." + string(cfg.Stage)
	if len(cfg.Trainable) > 0 {
		key += "[" + strings.Join(cfg.Trainable, ",") + "]"
	}
	return key
}

// writeMeta records the run's state and settings in the model metadata,
// with data, the description of its training data (describeData), and
// drops the quality claims of the weights it started from.
func writeMeta(meta map[string]string, cfg Config, step int, data string) {
	for k := range meta {
		if strings.HasPrefix(k, metaQualityPrefix) {
			delete(meta, k)
		}
	}
	meta[MetaStage] = string(cfg.Stage)
	meta[MetaStep] = strconv.Itoa(step)
	meta[MetaSteps] = strconv.Itoa(cfg.Steps)
	clearStageRecord(meta, stageKey(cfg))
	key := stageKey(cfg) + "."
	num := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	meta[key+metaFieldSteps] = strconv.Itoa(step)
	meta[key+metaFieldFrames] = strconv.Itoa(cfg.Frames)
	if data != "" {
		meta[key+metaFieldData] = data
		if old, ok := meta[metaLegacyData]; ok {
			prependHistory(meta, metaLegacyData+" (the runs before the per-stage data records): "+old)
			delete(meta, metaLegacyData)
		}
	}
	if cfg.FineBlocks > 0 {
		meta[key+metaFieldFineBlocks] = strconv.Itoa(cfg.FineBlocks)
	}
	if cfg.DraftKSelect > 0 {
		meta[key+metaFieldKSelect] = num(cfg.DraftKSelect)
	}
	for _, f := range []struct {
		field string
		v     int
	}{{metaFieldDraftWidth, cfg.DraftWidth}, {metaFieldDraftHeads, cfg.DraftHeads}, {metaFieldDraftMLP, cfg.DraftMLP}} {
		if f.v > 0 {
			meta[key+f.field] = strconv.Itoa(f.v)
		}
	}
	if cfg.DistillWeight > 0 {
		meta[key+metaFieldDistill] = num(cfg.DistillWeight)
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
	if cfg.TemporalWeight > 0 {
		meta[key+metaFieldTemporal] = num(cfg.TemporalWeight)
	}
	if cfg.Stage == StageBase && cfg.FlowShare > 0 {
		meta[key+metaFieldFlowShare] = num(cfg.FlowShare)
	}
	if cfg.Stage == StageDraft && cfg.AdvWeight > 0 {
		meta[key+metaFieldAdvWeight] = num(cfg.AdvWeight)
	}
}

// clearStageRecord drops the per-stage record (the fields of stageFields)
// under key left by an earlier run of the same stage, so that the fields written next describe this run
// alone (a setting this run leaves at its default must not keep the earlier
// run's value). A one-line description at key itself (the form the first
// sessions' models carry) moves to the front of MetaHistory, which is older
// than every line there.
func clearStageRecord(meta map[string]string, key string) {
	if old, ok := meta[key]; ok {
		prependHistory(meta, key+": "+old)
		delete(meta, key)
	}
	for _, f := range stageFields {
		delete(meta, key+"."+f)
	}
}

// prependHistory puts line at the front of meta's MetaHistory, for records
// older than every line there.
func prependHistory(meta map[string]string, line string) {
	if h := meta[MetaHistory]; h != "" {
		line += "\n" + h
	}
	meta[MetaHistory] = line
}

// historyLine describes a finished run for MetaHistory: stage and scopes,
// steps, wall time of the process that finished it, backend, machine, the
// settings that shape the result and the model it started from.
func historyLine(cfg Config, step int, wall time.Duration, backend, machine string) string {
	from := "a fresh model"
	switch {
	case cfg.Resume:
		from = "its checkpoint (resumed)"
	case cfg.Init != "":
		from = filepath.Join(filepath.Base(filepath.Dir(cfg.Init)), filepath.Base(cfg.Init))
	}
	var changed string // the flags that changed the --init model
	if cfg.KeepDraft {
		changed += " --keep-draft"
	}
	if cfg.DraftKSelect > 0 {
		changed += fmt.Sprintf(" --k-select %g", cfg.DraftKSelect)
	}
	if cfg.FineBlocks > 0 {
		changed += fmt.Sprintf(" --fine-blocks %d", cfg.FineBlocks)
	}
	for _, f := range []struct {
		flag string
		v    int
	}{{"--draft-width", cfg.DraftWidth}, {"--draft-heads", cfg.DraftHeads}, {"--draft-mlp", cfg.DraftMLP}} {
		if f.v > 0 {
			changed += fmt.Sprintf(" %s %d", f.flag, f.v)
		}
	}
	if cfg.DistillWeight > 0 {
		changed += fmt.Sprintf(" --distill-weight %g", cfg.DistillWeight)
	}
	if cfg.TemporalWeight > 0 {
		changed += fmt.Sprintf(" --temporal-weight %g", cfg.TemporalWeight)
	}
	return fmt.Sprintf("%s: %d steps, %s, %s, %s; --preset %s --scale %d --batch %d --frames %d --crop %d --lr %g --lpips-weight %g --adv-weight %g --detail-weight %g --flow-share %g%s; from %s",
		stageKey(cfg), step, wall.Round(time.Second), backend, machine,
		cfg.Preset, cfg.Scale, cfg.Batch, cfg.Frames, cfg.Crop, cfg.LR, cfg.LPIPSWeight, cfg.AdvWeight, cfg.DetailWeight, cfg.FlowShare, changed, from)
}

// appendHistory adds line to meta's MetaHistory.
func appendHistory(meta map[string]string, line string) {
	if h := meta[MetaHistory]; h != "" {
		line = h + "\n" + line
	}
	meta[MetaHistory] = line
}

// describeData summarises a split for the model metadata: the training
// items by top-level folder and kind, and the validation shots held out,
// e.g. "21 items: basketballpass-416x240 (1 frame folder), davis2016-480p
// (14 frame folders), sam2-clips (6 videos); held out: baseball-1280x720,
// davis2016-480p/blackswan".
func describeData(split dataset.Split) string {
	type group struct {
		name  string
		kinds map[dataset.Kind]int
	}
	var groups []*group
	byName := map[string]*group{}
	for _, it := range split.Train {
		top, _, _ := strings.Cut(it.Name, "/")
		g := byName[top]
		if g == nil {
			g = &group{name: top, kinds: map[dataset.Kind]int{}}
			byName[top] = g
			groups = append(groups, g)
		}
		g.kinds[it.Kind]++
	}
	noun := map[dataset.Kind][2]string{
		dataset.KindFrames: {"frame folder", "frame folders"},
		dataset.KindVideo:  {"video", "videos"},
		dataset.KindPhoto:  {"photo", "photos"},
	}
	var parts []string
	for _, g := range groups {
		var ks []string
		for _, k := range []dataset.Kind{dataset.KindFrames, dataset.KindVideo, dataset.KindPhoto} {
			if n := g.kinds[k]; n > 0 {
				w := noun[k][1]
				if n == 1 {
					w = noun[k][0]
				}
				ks = append(ks, fmt.Sprintf("%d %s", n, w))
			}
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", g.name, strings.Join(ks, ", ")))
	}
	var val []string
	for _, it := range split.Val {
		val = append(val, it.Name)
	}
	s := fmt.Sprintf("%d items: %s", len(split.Train), strings.Join(parts, ", "))
	if len(val) > 0 {
		s += "; held out: " + strings.Join(val, ", ")
	}
	return s
}
