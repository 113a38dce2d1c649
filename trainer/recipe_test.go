package trainer

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/internal/testbackend"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/schedule"
	"github.com/pssr/pssr/weights"
)

// The base stage's flow draw is reproducible per step, is the pipeline's
// one-step entry (x_t = z_L at t=699, no noise) with FlowShare 0, and with
// FlowShare 1 a point (1-sigma)*z_HQ + sigma*noise of the conditional flow
// with unit Gaussian noise and sigma = t/1000.
func TestFlowDraw(t *testing.T) {
	mc := model.Fixture()
	cfg := DefaultConfig(StageBase)
	cfg.Model, cfg.Batch, cfg.Frames, cfg.Crop = mc, 2, 3, 64
	cfg.FlowShare = 0
	for step := range 20 {
		f, noise := flowDraw(mc, cfg, step)
		if f != entryFlow() || f.t != 699 || f.c != 1 || f.a != 0 || f.b != 0 {
			t.Fatalf("share 0, step %d: %+v, want the entry", step, f)
		}
		for _, x := range tensors.MustCopyFlatData[float32](noise) {
			if x != 0 {
				t.Fatalf("share 0: the entry has noise %g", x)
			}
		}
	}
	cfg.FlowShare = 1
	seen := map[float32]bool{}
	for step := range 20 {
		f, noise := flowDraw(mc, cfg, step)
		g, noise2 := flowDraw(mc, cfg, step)
		if f != g || !slicesEqual(tensors.MustCopyFlatData[float32](noise), tensors.MustCopyFlatData[float32](noise2)) {
			t.Fatalf("step %d: two draws differ", step)
		}
		if f.t < 1 || f.t > 999 || f.c != 0 || math.Abs(float64(f.sigma)-schedule.Sigma(int(f.t))) > 1e-6 ||
			f.a != 1-f.sigma || f.b != f.sigma {
			t.Fatalf("share 1, step %d: %+v is not a point of the flow", step, f)
		}
		seen[f.t] = true
		d := noise.Shape().Dimensions
		if want := []int{2, 3, 64 / mc.AE.Patch, 64 / mc.AE.Patch, mc.AE.LatentChannels}; !slicesEqual(d, want) {
			t.Fatalf("noise shape %v, want %v", d, want)
		}
		var sum, sq float64
		data := tensors.MustCopyFlatData[float32](noise)
		for _, x := range data {
			sum += float64(x)
			sq += float64(x) * float64(x)
		}
		n := float64(len(data))
		if mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n)); math.Abs(mean) > 0.1 || math.Abs(std-1) > 0.1 {
			t.Fatalf("noise mean %g std %g, want N(0, 1)", mean, std)
		}
	}
	if len(seen) < 15 {
		t.Errorf("20 steps drew only %d distinct timesteps", len(seen))
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A base run on the conditional flow with LPIPS, and an adversarial draft
// run with LPIPS, record their terms and settings; the draft run trains a
// discriminator whose state the checkpoint keeps and the model file does
// not.
func TestRecipeStages(t *testing.T) {
	be := testbackend.New(t)
	data := dataDir(t)
	root := t.TempDir()
	ctx := context.Background()
	init := savedFixture(t, be, root, 1)

	baseDir := filepath.Join(root, "base")
	c := testConfig(StageBase, data, baseDir, 2)
	c.Init, c.FlowShare, c.LPIPSWeight, c.TemporalRoPE = init, 1, 0.5, true
	if err := Run(ctx, be, c, quietLog()); err != nil {
		t.Fatalf("base: %v", err)
	}
	checkOutputs(t, baseDir, StageBase, 2)
	for _, r := range readJSONL[Record](t, filepath.Join(baseDir, "loss.jsonl")) {
		if v, ok := r.Terms["lpips"]; !ok || !(v > 0) {
			t.Errorf("base step %d: lpips term %v in %v", r.Step, v, r.Terms)
		}
	}
	for _, v := range readJSONL[ValRecord](t, filepath.Join(baseDir, "val.jsonl")) {
		if !(v.LPIPS > 0) {
			t.Errorf("base validation without LPIPS: %+v", v)
		}
	}
	mf, err := weights.Load(filepath.Join(baseDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"train.base.flow_share": "1", "train.base.lpips_weight": "0.5", "train.base.frames": "2", MetaStage: "base"} {
		if mf.Metadata[k] != want {
			t.Errorf("base model metadata %s = %q, want %q", k, mf.Metadata[k], want)
		}
	}
	if mc, err := model.ParseConfig(mf.Config); err != nil || !mc.DiT.TemporalRoPE {
		t.Errorf("base model config: temporal_rope not recorded (%v)", err)
	}

	draftDir := filepath.Join(root, "draft")
	c = testConfig(StageDraft, data, draftDir, 2)
	c.Init, c.LPIPSWeight, c.AdvWeight = filepath.Join(baseDir, "model.safetensors"), 1, 0.1
	if err := Run(ctx, be, c, quietLog()); err != nil {
		t.Fatalf("draft: %v", err)
	}
	checkOutputs(t, draftDir, StageDraft, 2)
	for _, r := range readJSONL[Record](t, filepath.Join(draftDir, "loss.jsonl")) {
		for _, name := range []string{"lpips", "adv", "feature_match", "disc"} {
			if v, ok := r.Terms[name]; !ok || math.IsNaN(v) {
				t.Errorf("draft step %d: term %s = %v in %v", r.Step, name, v, r.Terms)
			}
		}
		// The hinge loss of a discriminator is at most 2 at the start and
		// never negative.
		if d := r.Terms["disc"]; d < 0 || d > 4 {
			t.Errorf("draft step %d: discriminator loss %g", r.Step, d)
		}
	}
	for _, v := range readJSONL[ValRecord](t, filepath.Join(draftDir, "val.jsonl")) {
		if !(v.LPIPS > 0) || !(v.BaseLPIPS > 0) || !(v.BasePSNR > 0) {
			t.Errorf("draft validation lacks the LPIPS or base scores: %+v", v)
		}
	}
	ck, err := weights.Load(filepath.Join(draftDir, "checkpoint.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err = weights.Load(filepath.Join(draftDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var disc, discState int
	for _, tt := range ck.Tensors {
		if strings.HasPrefix(tt.Name, model.ScopeDisc+"/") {
			disc++
		}
		if strings.HasPrefix(tt.Name, "AdamDisc/"+model.ScopeDisc+"/") {
			discState++
		}
	}
	if disc == 0 || discState == 0 {
		t.Errorf("checkpoint has %d discriminator tensors and %d of their optimizer state", disc, discState)
	}
	for _, tt := range mf.Tensors {
		if strings.HasPrefix(tt.Name, model.ScopeDisc+"/") {
			t.Errorf("model file holds discriminator tensor %s", tt.Name)
		}
	}
	// The discriminator trained: its weights left their seeded start.
	ref, err := model.New(be, model.Fixture(), c.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := materialiseDisc(be, ref); err != nil {
		t.Fatal(err)
	}
	start := map[string][]float32{}
	for v := range ref.Store.IterVariables() {
		if n := model.VariableName(v); strings.HasPrefix(n, model.ScopeDisc+"/") {
			start[n] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	moved := 0
	for _, tt := range ck.Tensors {
		if s, ok := start[tt.Name]; ok && !slicesEqual(s, tt.Data) {
			moved++
		}
	}
	if len(start) == 0 || moved == 0 {
		t.Errorf("%d of %d discriminator tensors changed in training", moved, len(start))
	}
	if mf.Metadata["train.draft.adv_weight"] != "0.1" || mf.Metadata["train.draft.lpips_weight"] != "1" {
		t.Errorf("draft metadata %v", mf.Metadata)
	}
}
