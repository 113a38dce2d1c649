package trainer

// The models trained here are random-weight fixture models
// (model.Fixture()) trained for a few steps on 32 px crops: the tests check
// the mechanics of training (outputs, stage hand-over, checkpoints, exact
// resume, interruption), not quality.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/pssr/pssr/dataset"
	"github.com/pssr/pssr/internal/testbackend"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/weights"
)

// dataDir makes a data folder of two frame folders from the ten 64x64
// BasketballPass crops of testdata/frames: the first 7 as a training shot,
// the last 3 under the name of a held-out shot of dataset.ValShots (a
// fixture: the split goes by shot name), for validation.
func dataDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	src, err := filepath.Glob(filepath.Join("testdata", "frames", "*.png"))
	if err != nil || len(src) != 10 {
		t.Fatalf("testdata frames: %v (%d files)", err, len(src))
	}
	for i, p := range src {
		clip := filepath.Join(dir, "basketballpass")
		if i >= 7 {
			clip = filepath.Join(dir, "baseball-1280x720")
		}
		if err := os.MkdirAll(clip, 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(clip, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// testConfig is a tiny run of a stage: fixture networks, 32 px crops, a
// batch of one clip, a log line every step.
func testConfig(stage Stage, data, out string, steps int) Config {
	c := DefaultConfig(stage)
	c.Model = model.Fixture()
	c.Data, c.Out = data, out
	c.Steps, c.Batch, c.Crop = steps, 1, 32
	if stage != StageAutoencoder {
		c.Frames = 2
	}
	c.LogEvery, c.ValEvery, c.CheckpointEvery = 1, steps, steps
	return c
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// readJSONL decodes every line of a JSON-lines file into T.
func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r T
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: line %d: %v", path, len(out)+1, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantTerms lists loss terms every run of a stage records.
func wantTerms(s Stage) []string {
	if s == StageAutoencoder {
		return []string{"pixel", "gradient", "lq_recon"}
	}
	return []string{"latent", "pixel", "sharp"}
}

// checkOutputs checks the files a finished run of steps steps leaves in out.
func checkOutputs(t *testing.T, out string, stage Stage, steps int) {
	t.Helper()
	recs := readJSONL[Record](t, filepath.Join(out, "loss.jsonl"))
	if len(recs) != steps {
		t.Errorf("loss.jsonl: %d records, want %d", len(recs), steps)
	}
	for i, r := range recs {
		if r.Step != i+1 {
			t.Errorf("loss.jsonl record %d: step %d, want %d", i, r.Step, i+1)
		}
		if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) || r.Loss <= 0 || !(r.LR > 0) {
			t.Errorf("loss.jsonl record %d: loss %v lr %v", i, r.Loss, r.LR)
		}
		for _, name := range wantTerms(stage) {
			if _, ok := r.Terms[name]; !ok {
				t.Errorf("loss.jsonl record %d: no term %q in %v", i, name, r.Terms)
			}
		}
	}
	vals := readJSONL[ValRecord](t, filepath.Join(out, "val.jsonl"))
	if len(vals) == 0 || vals[len(vals)-1].Step != steps {
		t.Errorf("val.jsonl does not end with a validation of step %d: %+v", steps, vals)
	}
	for i, v := range vals {
		if (i > 0 && v.Step <= vals[i-1].Step) || math.IsNaN(v.PSNR) || math.IsInf(v.PSNR, 0) || v.PSNR <= 0 ||
			math.IsNaN(v.PSNRBicubic) || v.PSNRBicubic <= 0 || v.What == "" {
			t.Errorf("val.jsonl: %+v", v)
		}
	}
	if b := readPNG(t, filepath.Join(out, "loss.png")).Bounds(); b.Dx() < 100 || b.Dy() < 50 {
		t.Errorf("loss.png is %v", b)
	}
	ck, err := weights.Load(filepath.Join(out, "checkpoint.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Metadata["trainer.stage"] != string(stage) || ck.Metadata["trainer.step"] != itoa(steps) {
		t.Errorf("checkpoint metadata %v", ck.Metadata)
	}
	// The checkpoint holds the optimizer state; the model file does not.
	for _, name := range []string{"global_step", optimizer.AdamDefaultScope + "/step", "optimizers/learning_rate"} {
		if !hasTensor(ck, name) {
			t.Errorf("checkpoint lacks %s", name)
		}
	}
	first := map[Stage]string{StageAutoencoder: "ae/enc/in/w", StageBase: "base/embed/w", StageDraft: "draft/embed/w"}[stage]
	for _, m := range []string{"_1st_moment", "_2nd_moment"} {
		if !hasTensor(ck, optimizer.AdamDefaultScope+"/"+first+m) {
			t.Errorf("checkpoint lacks the Adam state %s%s", first, m)
		}
	}
	mf, err := weights.Load(filepath.Join(out, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range mf.Tensors {
		if !model.IsNetworkVariable(tt.Name) {
			t.Errorf("model.safetensors holds non-network tensor %s", tt.Name)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func hasTensor(f *weights.File, name string) bool {
	for _, t := range f.Tensors {
		if t.Name == name {
			return true
		}
	}
	return false
}

// tensorsOf maps the tensors of a weights file whose names start with
// prefix ("" for all) to their values.
func tensorsOf(t *testing.T, path, prefix string) map[string][]float32 {
	t.Helper()
	f, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, tt := range f.Tensors {
		if strings.HasPrefix(tt.Name, prefix) {
			out[tt.Name] = tt.Data
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no tensors under %q", path, prefix)
	}
	return out
}

// diffNames lists the tensors that differ between a and b (values
// compared bit for bit; missing or resized ones included), with the first
// differing element of each.
func diffNames(a, b map[string][]float32) []string {
	var out []string
	for name, va := range a {
		vb, ok := b[name]
		if !ok || len(va) != len(vb) {
			out = append(out, name+" (missing or resized)")
			continue
		}
		for i := range va {
			if math.Float32bits(va[i]) != math.Float32bits(vb[i]) {
				out = append(out, fmt.Sprintf("%s[%d]: %g vs %g", name, i, va[i], vb[i]))
				break
			}
		}
	}
	for name := range b {
		if _, ok := a[name]; !ok {
			out = append(out, name+" (only in the second)")
		}
	}
	sort.Strings(out)
	return out
}

// sameBits fails the test when a and b differ.
func sameBits(t *testing.T, what string, a, b map[string][]float32) {
	t.Helper()
	if d := diffNames(a, b); len(d) > 0 {
		t.Errorf("%s: %d of %d tensors differ: %s", what, len(d), len(a), strings.Join(d[:min(5, len(d))], "; "))
	}
}

// TestStages trains each stage end to end on the test frames, each from
// the previous stage's model, and checks the outputs and that frozen
// networks stay frozen.
func TestStages(t *testing.T) {
	be := testbackend.New(t)
	data := dataDir(t)
	root := t.TempDir()
	ctx := context.Background()

	aeDir := filepath.Join(root, "ae")
	c := testConfig(StageAutoencoder, data, aeDir, 2)
	if err := Run(ctx, be, c, quietLog()); err != nil {
		t.Fatalf("autoencoder: %v", err)
	}
	checkOutputs(t, aeDir, StageAutoencoder, 2)
	aeModel := filepath.Join(aeDir, "model.safetensors")
	fresh, err := model.New(be, model.Fixture(), c.Seed)
	if err != nil {
		t.Fatal(err)
	}
	freshPath := filepath.Join(root, "fresh.safetensors")
	if err := fresh.Save(freshPath); err != nil {
		t.Fatal(err)
	}
	// The autoencoder moved; the transformers did not.
	if len(diffNames(tensorsOf(t, freshPath, model.ScopeAE+"/"), tensorsOf(t, aeModel, model.ScopeAE+"/"))) == 0 {
		t.Errorf("autoencoder weights unchanged by training")
	}
	sameBits(t, "base after the autoencoder stage", tensorsOf(t, freshPath, model.ScopeBase+"/"), tensorsOf(t, aeModel, model.ScopeBase+"/"))

	baseDir := filepath.Join(root, "base")
	c = testConfig(StageBase, data, baseDir, 2)
	c.Init = aeModel
	if err := Run(ctx, be, c, quietLog()); err != nil {
		t.Fatalf("base: %v", err)
	}
	checkOutputs(t, baseDir, StageBase, 2)
	baseModel := filepath.Join(baseDir, "model.safetensors")
	sameBits(t, "autoencoder after the base stage", tensorsOf(t, aeModel, model.ScopeAE+"/"), tensorsOf(t, baseModel, model.ScopeAE+"/"))
	if len(diffNames(tensorsOf(t, aeModel, model.ScopeBase+"/"), tensorsOf(t, baseModel, model.ScopeBase+"/"))) == 0 {
		t.Errorf("base weights unchanged by training")
	}

	// A quality claim about the base model's weights must not survive
	// the draft's training.
	bf, err := weights.Load(baseModel)
	if err != nil {
		t.Fatal(err)
	}
	bf.Metadata["quality.heldout"] = "a claim about the base model's weights"
	if err := weights.Save(baseModel, bf); err != nil {
		t.Fatal(err)
	}
	draftDir := filepath.Join(root, "draft")
	c = testConfig(StageDraft, data, draftDir, 1)
	c.Init = baseModel
	c.DetailWeight = 0.5 // checkOutputs finds the "detail" term in loss.jsonl
	if err := Run(ctx, be, c, quietLog()); err != nil {
		t.Fatalf("draft: %v", err)
	}
	checkOutputs(t, draftDir, StageDraft, 1)
	if f, err := weights.Load(filepath.Join(draftDir, "model.safetensors")); err != nil || f.Metadata["train.draft.detail_weight"] != "0.5" {
		t.Errorf("draft model metadata lacks train.draft.detail_weight=0.5: %v %v", err, f.Metadata)
	}
	draftModel := filepath.Join(draftDir, "model.safetensors")
	if f, err := weights.Load(draftModel); err != nil {
		t.Fatal(err)
	} else {
		hist := strings.Split(f.Metadata[MetaHistory], "\n")
		want := []string{"train.autoencoder: 2 steps", "train.base: 2 steps", "train.draft: 1 steps"}
		if len(hist) != len(want) {
			t.Fatalf("%s has %d lines, want %d: %q", MetaHistory, len(hist), len(want), hist)
		}
		for i, w := range want {
			if !strings.HasPrefix(hist[i], w) || !strings.Contains(hist[i], "--lr ") {
				t.Errorf("%s line %d = %q, want it to start with %q and name the settings", MetaHistory, i, hist[i], w)
			}
		}
		if _, ok := f.Metadata["quality.heldout"]; ok {
			t.Errorf("the draft model keeps its init's quality claim")
		}
	}
	sameBits(t, "autoencoder after the draft stage", tensorsOf(t, baseModel, model.ScopeAE+"/"), tensorsOf(t, draftModel, model.ScopeAE+"/"))
	sameBits(t, "base after the draft stage", tensorsOf(t, baseModel, model.ScopeBase+"/"), tensorsOf(t, draftModel, model.ScopeBase+"/"))

	t.Run("keep draft", func(t *testing.T) {
		// With KeepDraft, the draft stage starts from the --init model's
		// trained draft: interrupted before its first step, it saves it as is.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out := filepath.Join(root, "draft-keep")
		c := testConfig(StageDraft, data, out, 3)
		c.Init, c.KeepDraft = draftModel, true
		c.beforeStep = func(step int) {
			if step == 0 {
				cancel()
			}
		}
		if err := Run(ctx, be, c, quietLog()); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		sameBits(t, "kept draft", tensorsOf(t, draftModel, model.ScopeDraft+"/"), tensorsOf(t, filepath.Join(out, "model.safetensors"), model.ScopeDraft+"/"))
	})

	t.Run("k-select", func(t *testing.T) {
		// --k-select rebuilds the kept draft (the fixture's one block, 2 of
		// 3) to every block: block 2 keeps its trained weights, the model
		// saved before the first step says so in its config and metadata.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out := filepath.Join(root, "draft-k1")
		c := testConfig(StageDraft, data, out, 3)
		c.Init, c.KeepDraft, c.DraftKSelect = draftModel, true, 1
		c.beforeStep = func(step int) {
			if step == 0 {
				cancel()
			}
		}
		if err := Run(ctx, be, c, quietLog()); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		saved := filepath.Join(out, "model.safetensors")
		mc, err := model.ReadConfig(saved)
		if err != nil || mc.Draft.KSelect != 1 {
			t.Fatalf("saved config %+v, %v; want k_select 1", mc.Draft, err)
		}
		f, err := weights.Load(saved)
		if err != nil {
			t.Fatal(err)
		}
		if f.Metadata["train.draft.k_select"] != "1" || f.Metadata[model.MetaDraftKSelect] != "1.5->1" {
			t.Errorf("metadata k_select %q, change %q", f.Metadata["train.draft.k_select"], f.Metadata[model.MetaDraftKSelect])
		}
		sameBits(t, "kept block 2", tensorsOf(t, draftModel, model.ScopeDraft+"/block_2/"), tensorsOf(t, saved, model.ScopeDraft+"/block_2/"))
		if n := len(tensorsOf(t, saved, model.ScopeDraft+"/block_0/")); n == 0 {
			t.Error("no draft block 0 after rebuilding to k_select 1")
		}
	})

	t.Run("draft initialised from base", func(t *testing.T) {
		testDraftInit(t, be, data, baseModel, filepath.Join(root, "draft0"))
	})

	t.Run("distill", func(t *testing.T) {
		testDistill(t, be, data, draftModel, root)
	})
}

// testDistill checks the distillation term against its teacher, the --init
// model's draft: a student that is the teacher's copy (--keep-draft) scores
// 0 at the first step, a narrower fresh student (--draft-width) does not;
// latent-only distillation logs no pixel term; the model file holds the
// narrow draft without the teacher, the checkpoint holds the teacher's
// exact weights, the metadata names the run's flags, and a resumed run
// finds its teacher in the checkpoint.
func testDistill(t *testing.T, be compute.Backend, data, draftModel, root string) {
	distill := func(out string, steps int, edit func(*Config)) []Record {
		t.Helper()
		c := testConfig(StageDraft, data, out, steps)
		c.Init, c.DistillWeight = draftModel, 1
		c.PixelWeight, c.SharpWeight, c.LatentWeight = 0, 0, 0.1
		edit(&c)
		if err := Run(context.Background(), be, c, quietLog()); err != nil {
			t.Fatalf("distill run: %v", err)
		}
		return readJSONL[Record](t, filepath.Join(out, "loss.jsonl"))
	}
	same := distill(filepath.Join(root, "distill-same"), 1, func(c *Config) { c.KeepDraft = true })
	if d, ok := same[0].Terms["distill"]; !ok || d > 1e-10 {
		t.Errorf("student = teacher: distill term %v (present %v), want 0", d, ok)
	}
	out := filepath.Join(root, "distill-narrow")
	narrow := distill(out, 2, func(c *Config) { c.DraftWidth, c.DraftHeads, c.DraftMLP = 8, 1, 16 })
	if d := narrow[0].Terms["distill"]; !(d > 1e-6) {
		t.Errorf("fresh narrow student: distill term %v, want > 0", d)
	}
	if _, ok := narrow[0].Terms["pixel"]; ok {
		t.Errorf("latent-only distillation logged a pixel term: %v", narrow[0].Terms)
	}
	saved := filepath.Join(out, "model.safetensors")
	mc, err := model.ReadConfig(saved)
	if err != nil || mc.DraftDiT().Width != 8 || mc.DraftDiT().MLP != 16 {
		t.Fatalf("saved draft %+v, %v; want width 8, mlp 16", mc.Draft, err)
	}
	f, err := weights.Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range f.Tensors {
		if strings.HasPrefix(tt.Name, model.ScopeTeacher+"/") {
			t.Fatalf("model file holds teacher tensor %s", tt.Name)
		}
	}
	if f.Metadata["train.draft.draft_width"] != "8" || f.Metadata["train.draft.distill_weight"] != "1" ||
		f.Metadata[model.MetaDraftSize] == "" || f.Metadata[MetaTeacher] == "" {
		t.Errorf("metadata lacks the distillation record: %v", f.Metadata)
	}
	if h := f.Metadata[MetaHistory]; !strings.Contains(h, "--draft-width 8") || !strings.Contains(h, "--distill-weight 1") {
		t.Errorf("history does not name the flags: %q", h)
	}
	teacher := map[string][]float32{}
	for name, v := range tensorsOf(t, draftModel, model.ScopeDraft+"/") {
		teacher[model.ScopeTeacher+"/"+name] = v
	}
	sameBits(t, "teacher in the checkpoint", teacher, tensorsOf(t, filepath.Join(out, "checkpoint.safetensors"), model.ScopeTeacher+"/"))

	c := testConfig(StageDraft, data, out, 3)
	c.Resume, c.DistillWeight = true, 1
	c.PixelWeight, c.SharpWeight, c.LatentWeight = 0, 0, 0.1
	if err := Run(context.Background(), be, c, quietLog()); err != nil {
		t.Fatalf("resumed distill run: %v", err)
	}
	if recs := readJSONL[Record](t, filepath.Join(out, "loss.jsonl")); len(recs) != 3 || !(recs[2].Terms["distill"] > 0) {
		t.Errorf("after the resume: %d records, last %+v", len(recs), recs[len(recs)-1])
	}
}

// testDraftInit checks that the draft starts as a copy of the base: on a
// loaded base model, model.InitDraftFromBase copies every draft variable
// that has a base counterpart and leaves the fusion layers passing the
// draft's own half through; and the draft stage, interrupted before its
// first step, saves exactly that model.
func testDraftInit(t *testing.T, be compute.Backend, data, baseModel, out string) {
	m, err := model.Load(be, baseModel)
	if err != nil {
		t.Fatal(err)
	}
	base := map[string][]float32{}
	for _, v := range m.NetworkVariables() {
		if name := model.VariableName(v); strings.HasPrefix(name, model.ScopeBase+"/") {
			base[strings.TrimPrefix(name, model.ScopeBase+"/")] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	n, err := m.InitDraftFromBase()
	if err != nil {
		t.Fatal(err)
	}
	d := m.Config.DiT.Width
	copied, fusion := 0, 0
	draft := map[string][]float32{}
	for _, v := range m.NetworkVariables() {
		name := model.VariableName(v)
		if !strings.HasPrefix(name, model.ScopeDraft+"/") {
			continue
		}
		val := tensors.MustCopyFlatData[float32](v.MustValue())
		draft[name] = val
		rel := strings.TrimPrefix(name, model.ScopeDraft+"/")
		if src, ok := base[rel]; ok {
			copied++
			sameBits(t, "draft copied from base", map[string][]float32{name: src}, map[string][]float32{name: val})
			continue
		}
		if !strings.HasPrefix(rel, "fuse_") {
			t.Errorf("draft variable %s is neither a base copy nor a fusion layer", name)
			continue
		}
		fusion++
		dims := v.Shape().Dimensions
		switch {
		case strings.HasSuffix(rel, "/w"):
			if len(dims) != 2 || dims[0] != 2*d || dims[1] != d {
				t.Fatalf("%s: shape %v, want [%d %d]", name, dims, 2*d, d)
			}
			for i := range 2 * d {
				for j := range d {
					want := float32(0)
					if i == j {
						want = 1
					}
					if val[i*d+j] != want {
						t.Fatalf("%s[%d,%d] = %g, want %g (identity on the draft's half, zero on the base feature's)", name, i, j, val[i*d+j], want)
					}
				}
			}
		case strings.HasSuffix(rel, "/b"):
			for j, x := range val {
				if x != 0 {
					t.Fatalf("%s[%d] = %g, want 0", name, j, x)
				}
			}
		default:
			t.Errorf("unexpected fusion variable %s", name)
		}
	}
	if copied != n || copied == 0 {
		t.Errorf("InitDraftFromBase reported %d copies, %d draft variables match the base", n, copied)
	}
	if want := 2 * len(m.Config.KeptBlocks()); fusion != want {
		t.Errorf("%d fusion variables, want %d (w and b per kept block)", fusion, want)
	}

	// The draft stage interrupted before its first step saves the base
	// model with the draft initialised as above.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := testConfig(StageDraft, data, out, 3)
	c.Init = baseModel
	c.beforeStep = func(step int) {
		if step == 0 {
			cancel()
		}
	}
	if err := Run(ctx, be, c, quietLog()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	sameBits(t, "draft of the stage after 0 steps", draft, tensorsOf(t, filepath.Join(out, "model.safetensors"), model.ScopeDraft+"/"))
	sameBits(t, "base of the stage after 0 steps", tensorsOf(t, baseModel, model.ScopeBase+"/"), tensorsOf(t, filepath.Join(out, "model.safetensors"), model.ScopeBase+"/"))
}

// TestExactResume trains the autoencoder 4 steps straight, and 4 steps
// interrupted after 2 and resumed: the networks, the optimizer state and
// the losses of steps 3 and 4 must be bit-identical. So must a run killed
// (no checkpoint on the way out) after step 3 and resumed from step 2.
func TestExactResume(t *testing.T) {
	be := testbackend.New(t)
	data := dataDir(t)
	root := t.TempDir()
	const steps, stop = 4, 2

	dirA := filepath.Join(root, "a")
	if err := Run(context.Background(), be, testConfig(StageAutoencoder, data, dirA, steps), quietLog()); err != nil {
		t.Fatal(err)
	}

	dirB := filepath.Join(root, "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := testConfig(StageAutoencoder, data, dirB, steps)
	c.beforeStep = func(step int) {
		if step == stop {
			cancel()
		}
	}
	if err := Run(ctx, be, c, quietLog()); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	ck, err := weights.Load(filepath.Join(dirB, "checkpoint.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ck.Metadata["trainer.step"]; got != itoa(stop) {
		t.Fatalf("interrupted checkpoint at step %s, want %d", got, stop)
	}
	c = testConfig(StageAutoencoder, data, dirB, steps)
	c.Resume = true
	if err := Run(context.Background(), be, c, quietLog()); err != nil {
		t.Fatalf("resume: %v", err)
	}

	sameBits(t, "model after resume", tensorsOf(t, filepath.Join(dirA, "model.safetensors"), ""), tensorsOf(t, filepath.Join(dirB, "model.safetensors"), ""))
	sameBits(t, "checkpoint after resume", tensorsOf(t, filepath.Join(dirA, "checkpoint.safetensors"), ""), tensorsOf(t, filepath.Join(dirB, "checkpoint.safetensors"), ""))
	la := readJSONL[Record](t, filepath.Join(dirA, "loss.jsonl"))
	lb := readJSONL[Record](t, filepath.Join(dirB, "loss.jsonl"))
	if len(la) != steps || len(lb) != steps {
		t.Fatalf("loss.jsonl: %d and %d records, want %d", len(la), len(lb), steps)
	}
	for i := range la {
		if lb[i].Step != i+1 || la[i].Loss != lb[i].Loss || la[i].LR != lb[i].LR {
			t.Errorf("step %d: straight %+v, resumed %+v", i+1, la[i], lb[i])
		}
	}

	// A run killed after step 3 with its last checkpoint at step 2 (and a
	// log line cut short) resumes to the same weights, and the log lines
	// after the checkpoint are redone, not repeated.
	dirC := filepath.Join(root, "c")
	c = testConfig(StageAutoencoder, data, dirC, steps)
	c.CheckpointEvery = 2
	c.beforeStep = func(step int) {
		if step == 3 {
			panic("killed")
		}
	}
	func() {
		defer func() {
			if r := recover(); r != "killed" {
				t.Fatalf("recovered %v", r)
			}
		}()
		Run(context.Background(), be, c, quietLog())
	}()
	if n := len(readJSONL[Record](t, filepath.Join(dirC, "loss.jsonl"))); n != 3 {
		t.Fatalf("killed run logged %d steps, want 3", n)
	}
	lf, err := os.OpenFile(filepath.Join(dirC, "loss.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	lf.WriteString(`{"step":4,"lo`)
	lf.Close()
	c = testConfig(StageAutoencoder, data, dirC, steps)
	c.Resume = true
	if err := Run(context.Background(), be, c, quietLog()); err != nil {
		t.Fatalf("resume after kill: %v", err)
	}
	sameBits(t, "model after a kill and resume", tensorsOf(t, filepath.Join(dirA, "model.safetensors"), ""), tensorsOf(t, filepath.Join(dirC, "model.safetensors"), ""))
	checkOutputs(t, dirC, StageAutoencoder, steps)

	// Training moved the weights, so the comparisons above can fail.
	fresh, err := model.New(be, model.Fixture(), c.Seed)
	if err != nil {
		t.Fatal(err)
	}
	freshPath := filepath.Join(root, "fresh.safetensors")
	if err := fresh.Save(freshPath); err != nil {
		t.Fatal(err)
	}
	if len(diffNames(tensorsOf(t, freshPath, model.ScopeAE+"/"), tensorsOf(t, filepath.Join(dirA, "model.safetensors"), model.ScopeAE+"/"))) == 0 {
		t.Errorf("4 training steps left the autoencoder unchanged")
	}
}

// freshInit saves fresh fixture weights as a model file to start the base
// stage from (random weights: mechanics only).
func freshInit(t *testing.T, be compute.Backend) string {
	t.Helper()
	m, err := model.New(be, model.Fixture(), 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Metadata["note"] = "random-weight test fixture"
	p := filepath.Join(t.TempDir(), "init.safetensors")
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInterrupt cancels the context (Ctrl-C) between steps and during a
// validation of the base stage: Run saves a checkpoint of the steps done
// and returns context.Canceled; the run then resumes to the end, to the
// same weights and optimizer state as a run never interrupted.
func TestInterrupt(t *testing.T) {
	be := testbackend.New(t)
	data := dataDir(t)
	init := freshInit(t, be)
	straight := t.TempDir()
	c := testConfig(StageBase, data, straight, 2)
	c.Init, c.ValEvery = init, 1
	if err := Run(context.Background(), be, c, quietLog()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		step, validate int // cancel before this step or validation (-1: never)
		wantStep       int
		wantVal        int // val.jsonl records
	}{
		{"between steps", 1, -1, 1, 1},
		{"during validation", -1, 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := testConfig(StageBase, data, out, 2)
			c.Init, c.ValEvery = init, 1
			c.beforeStep = func(step int) {
				if step == tc.step {
					cancel()
				}
			}
			c.beforeValidate = func(step int) {
				if step == tc.validate {
					cancel()
				}
			}
			err := Run(ctx, be, c, quietLog())
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v, want context.Canceled", err)
			}
			ck, err := weights.Load(filepath.Join(out, "checkpoint.safetensors"))
			if err != nil {
				t.Fatalf("no checkpoint after Ctrl-C: %v", err)
			}
			if got := ck.Metadata["trainer.step"]; got != itoa(tc.wantStep) {
				t.Errorf("checkpoint at step %s, want %d", got, tc.wantStep)
			}
			for _, tt := range ck.Tensors {
				if tt.Name == optimizer.AdamDefaultScope+"/step" && tt.Data[0] != float32(tc.wantStep) {
					t.Errorf("Adam step counter %g, want %d", tt.Data[0], tc.wantStep)
				}
			}
			if _, err := weights.Load(filepath.Join(out, "model.safetensors")); err != nil {
				t.Errorf("no model after Ctrl-C: %v", err)
			}
			if n := len(readJSONL[Record](t, filepath.Join(out, "loss.jsonl"))); n != tc.wantStep {
				t.Errorf("loss.jsonl: %d records, want %d", n, tc.wantStep)
			}
			if n := len(readJSONL[ValRecord](t, filepath.Join(out, "val.jsonl"))); n != tc.wantVal {
				t.Errorf("val.jsonl: %d records, want %d", n, tc.wantVal)
			}

			c = testConfig(StageBase, data, out, 2)
			c.Init, c.ValEvery, c.Resume = init, 1, true
			if err := Run(context.Background(), be, c, quietLog()); err != nil {
				t.Fatalf("resume: %v", err)
			}
			checkOutputs(t, out, StageBase, 2)
			sameBits(t, "resumed base vs straight run", tensorsOf(t, filepath.Join(straight, "checkpoint.safetensors"), ""), tensorsOf(t, filepath.Join(out, "checkpoint.safetensors"), ""))
		})
	}
}

// TestConfigValidate checks that bad configurations are refused with an
// error naming the problem, before anything is written.
func TestConfigValidate(t *testing.T) {
	base := func(stage Stage) Config {
		c := DefaultConfig(stage)
		c.Model = model.Fixture()
		c.Out, c.Crop = filepath.Join(t.TempDir(), "out"), 32
		if stage != StageAutoencoder {
			c.Init = "prev/model.safetensors"
		}
		return c
	}
	for _, stage := range []Stage{StageAutoencoder, StageBase, StageDraft} {
		c := DefaultConfig(stage)
		c.Out, c.Init = "out", "prev/model.safetensors"
		if err := c.Validate(); err != nil {
			t.Errorf("DefaultConfig(%s) with --out and --init: %v", stage, err)
		}
		if err := base(stage).Validate(); err != nil {
			t.Errorf("fixture config of %s: %v", stage, err)
		}
	}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"flow share above 1", func(c *Config) { c.FlowShare = 1.5 }, "--flow-share"},
		{"adversarial base", func(c *Config) { c.Stage, c.AdvWeight = StageBase, 0.1 }, "--adv-weight"},
		{"negative lpips weight", func(c *Config) { c.LPIPSWeight = -1 }, "must not be negative"},
		{"missing --out", func(c *Config) { c.Out = "" }, "--out"},
		{"base without --init", func(c *Config) { c.Stage, c.Init = StageBase, "" }, "--init"},
		{"draft without --init", func(c *Config) { c.Stage, c.Init = StageDraft, "" }, "--init"},
		{"unknown stage", func(c *Config) { c.Stage = "decoder" }, "unknown stage"},
		{"no steps", func(c *Config) { c.Steps = 0 }, "--steps"},
		{"scale 3", func(c *Config) { c.Scale = 3 }, "--scale"},
		{"lr 0", func(c *Config) { c.LR = 0 }, "--lr"},
		{"negative k-select", func(c *Config) { c.DraftKSelect = -2 }, "--k-select"},
		{"k-select without --init", func(c *Config) { c.DraftKSelect = 6 }, "needs --init"},
		{"k-select on resume", func(c *Config) { c.Stage, c.Init, c.Resume, c.DraftKSelect = StageDraft, "m.safetensors", true, 6 }, "no --resume"},
		{"k-select with fine-blocks", func(c *Config) { c.Stage, c.Init, c.FineBlocks, c.DraftKSelect = StageDraft, "m.safetensors", 3, 6 }, "--fine-blocks"},
		{"negative draft width", func(c *Config) { c.DraftWidth = -1 }, "--draft-width"},
		{"draft width on resume", func(c *Config) { c.Stage, c.Init, c.Resume, c.DraftWidth = StageDraft, "m.safetensors", true, 64 }, "no --resume"},
		{"distill outside the draft stage", func(c *Config) { c.Stage, c.Init, c.DistillWeight = StageBase, "m.safetensors", 1 }, "draft stage only"},
		{"negative distill weight", func(c *Config) { c.DistillWeight = -1 }, "--distill-weight"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base(StageAutoencoder)
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tc.want)
			}
			if rerr := Run(context.Background(), nil, c, quietLog()); rerr == nil || rerr.Error() != err.Error() {
				t.Errorf("Run = %v, want %v", rerr, err)
			}
			if c.Out != "" {
				if _, err := os.Stat(c.Out); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("Run made %s for a bad config", c.Out)
				}
			}
		})
	}
	// The crop is checked against the model the run trains (here a loaded
	// fixture), not against the sizes of a fresh model (Config.Model).
	for _, tc := range []struct {
		mc   model.Config
		crop int
		want string
	}{
		{model.Fixture(), 48, "multiple of 32"},
		{model.Fixture(), 16, "multiple of 32"},
		{model.Tiny(), 96, "multiple of 64"},
		{model.Fixture(), 32, ""},
	} {
		c := base(StageBase)
		c.Model, c.Crop = model.Tiny(), tc.crop
		err := c.checkModel(tc.mc)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkModel(%s) with --crop %d = %v, want %q", tc.mc.Name, tc.crop, err, tc.want)
		}
	}
	if _, err := ParseStage("draft"); err != nil {
		t.Error(err)
	}
	if _, err := ParseStage("Draft"); err == nil {
		t.Error("ParseStage accepted \"Draft\"")
	}
}

// TestResumeErrors: --resume needs a checkpoint of the same stage.
func TestResumeErrors(t *testing.T) {
	be := testbackend.New(t)
	data := dataDir(t)
	out := t.TempDir()
	c := testConfig(StageBase, data, out, 2)
	c.Resume = true
	if err := Run(context.Background(), be, c, quietLog()); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("resume without a checkpoint: %v", err)
	}
	m, err := model.New(be, model.Fixture(), 1)
	if err != nil {
		t.Fatal(err)
	}
	m.Metadata["trainer.stage"], m.Metadata["trainer.step"] = string(StageAutoencoder), "1"
	if err := m.SaveAll(filepath.Join(out, "checkpoint.safetensors")); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), be, c, quietLog()); err == nil || !strings.Contains(err.Error(), "stage") {
		t.Errorf("resume from an autoencoder checkpoint as base: %v", err)
	}
}

// The history line of a run names the flags that changed the --init model.
func TestHistoryLineModelFlags(t *testing.T) {
	for _, tc := range []struct {
		mutate func(c *Config)
		want   string
	}{
		{func(c *Config) {}, "--flow-share 0; from"},
		{func(c *Config) { c.KeepDraft = true }, "--flow-share 0 --keep-draft; from"},
		{func(c *Config) { c.KeepDraft, c.DraftKSelect = true, 6 }, "--flow-share 0 --keep-draft --k-select 6; from"},
		{func(c *Config) { c.FineBlocks = 3 }, "--flow-share 0 --fine-blocks 3; from"},
	} {
		c := testConfig(StageDraft, "data", "out", 1)
		c.Init = "runs/x/model.safetensors"
		tc.mutate(&c)
		if got := historyLine(c, 1, time.Second, "go", "cpu"); !strings.Contains(got, tc.want) {
			t.Errorf("historyLine = %q, want it to contain %q", got, tc.want)
		}
	}
}

// writeMeta replaces the record of an earlier run of the same stage: no
// setting of that run survives under the stage's key, its one-line legacy
// description moves to the front of the history, other stages keep theirs.
func TestWriteMetaReplacesStageRecord(t *testing.T) {
	c := testConfig(StageBase, "data", "out", 1)
	c.Trainable = []string{"base", "ae/dec"}
	key := stageKey(c)
	meta := map[string]string{
		key:                   "4441 steps, 2m21s, H200",
		key + ".steps":        "4441",
		key + ".lpips_weight": "0.2",
		"train.draft.steps":   "363",
		MetaHistory:           "train.draft: 363 steps",
	}
	writeMeta(meta, c, 7, "")
	for _, tc := range []struct{ k, want string }{
		{key, ""},
		{key + ".lpips_weight", ""},
		{key + ".steps", "7"},
		{"train.draft.steps", "363"},
		{MetaHistory, key + ": 4441 steps, 2m21s, H200\ntrain.draft: 363 steps"},
	} {
		if got := meta[tc.k]; got != tc.want {
			t.Errorf("meta[%q] = %q, want %q", tc.k, got, tc.want)
		}
	}
	writeMeta(meta, c, 8, "") // a later save of the same run changes nothing else
	if got := meta[MetaHistory]; got != key+": 4441 steps, 2m21s, H200\ntrain.draft: 363 steps" {
		t.Errorf("history after a second save = %q", got)
	}
}

// With --max-time a fresh run validates its starting weights first (step
// 0) and, when the budget is short, ends at the first step the fit allows.
func TestMaxTimeBaselineValidation(t *testing.T) {
	be := testbackend.New(t)
	data := dataDir(t)
	for _, tc := range []struct {
		name     string
		maxTime  time.Duration
		wantVals []int
	}{
		{"ample budget", time.Hour, []int{0, 30}},
		{"spent budget", time.Nanosecond, []int{0, 25}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			c := testConfig(StageAutoencoder, data, out, 30)
			c.LogEvery, c.MaxTime = 10, tc.maxTime
			if err := Run(context.Background(), be, c, quietLog()); err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, v := range readJSONL[ValRecord](t, filepath.Join(out, "val.jsonl")) {
				got = append(got, v.Step)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantVals) {
				t.Errorf("validated steps %v, want %v", got, tc.wantVals)
			}
		})
	}
}

// A run records its data under its stage and moves the model-wide data
// line of older models to the front of the history; describeData groups
// the items by folder and kind and names the held-out shots.
func TestWriteMetaData(t *testing.T) {
	c := testConfig(StageBase, "data", "out", 1)
	meta := map[string]string{metaLegacyData: "BasketballPass f001-f070", MetaHistory: "train.draft: 363 steps"}
	split := dataset.Split{
		Train: []dataset.Item{
			{Name: "davis2016-480p/bear", Kind: dataset.KindFrames},
			{Name: "davis2016-480p/boat", Kind: dataset.KindFrames},
			{Name: "sam2-clips/01_dog.mp4", Kind: dataset.KindVideo},
			{Name: "basketballpass-416x240/f001-f100", Kind: dataset.KindFrames},
			{Name: "urban100-half/img_001.png", Kind: dataset.KindPhoto},
		},
		Val: []dataset.Item{{Name: "baseball-1280x720/01-20"}},
	}
	data := describeData(split)
	want := "5 items: davis2016-480p (2 frame folders), sam2-clips (1 video), basketballpass-416x240 (1 frame folder), urban100-half (1 photo); held out: baseball-1280x720/01-20"
	if data != want {
		t.Errorf("describeData = %q, want %q", data, want)
	}
	writeMeta(meta, c, 3, data)
	for _, tc := range []struct{ k, want string }{
		{"train.base.data", want},
		{metaLegacyData, ""},
		{MetaHistory, metaLegacyData + " (the runs before the per-stage data records): BasketballPass f001-f070\ntrain.draft: 363 steps"},
	} {
		if got := meta[tc.k]; got != tc.want {
			t.Errorf("meta[%q] = %q, want %q", tc.k, got, tc.want)
		}
	}
}
