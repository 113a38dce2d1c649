package trainer

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/testbackend"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/weights"
)

// TestDetailLoss: zero for identical frames, positive for a blurred copy,
// and larger the more it is blurred.
func TestDetailLoss(t *testing.T) {
	be := testbackend.New(t)
	src, err := frame.Load(filepath.Join("testdata", "frames", "f001.png"))
	if err != nil {
		t.Fatal(err)
	}
	crop := src
	blur := func(f *frame.Image, k int) *frame.Image {
		return frame.Resize(frame.Resize(f, f.W/k, f.H/k, frame.Area), f.W, f.H, frame.Bicubic)
	}
	tensor := func(f *frame.Image) *tensors.Tensor {
		return tensors.FromFlatDataAndDimensions(append([]float32(nil), f.Pix...), 1, f.H, f.W, 3)
	}
	loss := func(pred, target *frame.Image) float64 {
		out := MustExecOnce(be, func(p, q *Node) *Node { return detailLoss(p, q) }, tensor(pred), tensor(target))
		return float64(out.Value().(float32))
	}
	same, b2, b4 := loss(crop, crop), loss(blur(crop, 2), crop), loss(blur(crop, 4), crop)
	if same != 0 {
		t.Errorf("identical frames: detail loss %g, want 0", same)
	}
	if !(b2 > 0 && b4 > b2) {
		t.Errorf("detail loss of blur x2 %g, x4 %g: want 0 < x2 < x4", b2, b4)
	}
}

// TestGrowAndDetailWeight trains the base stage two steps (a fresh
// decoder's output layer is zero, so the first step cannot reach the blocks
// before it) with the decoder
// grown to 2 fine blocks and trained with the base, and the detail term on:
// the saved model has the grown config, the new block left the identity,
// and the log reports the detail term.
func TestGrowAndDetailWeight(t *testing.T) {
	be := testbackend.New(t)
	data := dataDir(t)
	root := t.TempDir()
	init := savedFixture(t, be, root, 7)
	out := filepath.Join(root, "base")
	c := testConfig(StageBase, data, out, 2)
	c.Init, c.FineBlocks, c.DetailWeight = init, 2, 0.5
	c.Trainable = []string{model.ScopeBase, model.ScopeAE + "/dec"}
	if err := Run(context.Background(), be, c, quietLog()); err != nil {
		t.Fatal(err)
	}
	f, err := weights.Load(filepath.Join(out, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := model.ParseConfig(f.Config)
	if err != nil {
		t.Fatal(err)
	}
	if mc.AE.FineBlockCount() != 2 {
		t.Errorf("saved model has %d fine blocks, want 2", mc.AE.FineBlockCount())
	}
	if f.Metadata["train.base[base,ae/dec].fine_blocks"] != "2" || f.Metadata[model.MetaFineBlocksGrown] != "1->2" {
		t.Errorf("saved model metadata does not record the growth: %v", f.Metadata)
	}
	fc2 := tensorsOf(t, filepath.Join(out, "model.safetensors"), "ae/dec/"+model.FineBlockScope(1)+"/fc2/w")
	moved := false
	for _, v := range fc2 {
		for _, x := range v {
			moved = moved || x != 0
		}
	}
	if !moved {
		t.Errorf("the new fine block's fc2 is still zero after a training step")
	}
	recs := readJSONL[Record](t, filepath.Join(out, "loss.jsonl"))
	if len(recs) != 2 {
		t.Fatalf("%d loss records, want 2", len(recs))
	}
	if d, ok := recs[0].Terms["detail"]; !ok || !(d >= 0) {
		t.Errorf("loss terms %v: want a non-negative detail term", recs[0].Terms)
	}
}

// TestTemporalLoss: a clip whose error is the same in every frame scores 0,
// one whose error changes from frame to frame scores its change, and clips
// are kept apart (the jump from one clip's last frame to the next clip's
// first is not a change).
func TestTemporalLoss(t *testing.T) {
	be := testbackend.New(t)
	const n, h, w = 4, 2, 3 // two clips of two frames
	frames := func(v func(f, i int) float32) *tensors.Tensor {
		d := make([]float32, n*h*w)
		for f := 0; f < n; f++ {
			for i := 0; i < h*w; i++ {
				d[f*h*w+i] = v(f, i)
			}
		}
		return tensors.FromFlatDataAndDimensions(d, n, h, w, 1)
	}
	target := frames(func(f, i int) float32 { return float32(10*f + i) }) // clip 2 starts 20 above clip 1
	tests := []struct {
		name string
		pred *tensors.Tensor
		want float32
	}{
		{"same", target, 0},
		{"constant error", frames(func(f, i int) float32 { return float32(10*f+i) + 0.5 }), 0},
		{"constant per clip", frames(func(f, i int) float32 { return float32(10*f+i) + float32(f/2) }), 0},
		{"flicker", frames(func(f, i int) float32 { return float32(10*f+i) + 0.25*float32(f%2) }), 0.25},
	}
	for _, tc := range tests {
		out := MustExecOnce(be, func(p, q *Node) *Node { return temporalLoss(p, q, 2) }, tc.pred, target)
		if got := out.Value().(float32); got < tc.want-1e-6 || got > tc.want+1e-6 {
			t.Errorf("%s: temporal loss %g, want %g", tc.name, got, tc.want)
		}
	}
}

// TestTemporalWeight trains the base stage one step with the temporal term
// on: the log reports it and the model metadata records the weight; a
// one-frame clip is refused.
func TestTemporalWeight(t *testing.T) {
	be := testbackend.New(t)
	data := dataDir(t)
	root := t.TempDir()
	init := savedFixture(t, be, root, 7)
	out := filepath.Join(root, "base")
	c := testConfig(StageBase, data, out, 1)
	c.Init, c.TemporalWeight = init, 2 // testConfig's clips have 2 frames
	if err := Run(context.Background(), be, c, quietLog()); err != nil {
		t.Fatal(err)
	}
	recs := readJSONL[Record](t, filepath.Join(out, "loss.jsonl"))
	if len(recs) != 1 {
		t.Fatalf("%d loss records, want 1", len(recs))
	}
	if d, ok := recs[0].Terms["temporal"]; !ok || !(d > 0) {
		t.Errorf("loss terms %v: want a positive temporal term", recs[0].Terms)
	}
	f, err := weights.Load(filepath.Join(out, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Metadata["train.base.temporal_weight"]; got != "2" {
		t.Errorf("metadata train.base.temporal_weight %q, want 2", got)
	}
	c = testConfig(StageBase, data, filepath.Join(root, "one"), 1)
	c.Init, c.TemporalWeight, c.Frames = init, 1, 1
	if err := Run(context.Background(), be, c, quietLog()); err == nil {
		t.Errorf("--temporal-weight with one-frame clips: no error")
	}
}

// savedFixture saves a random-weight test fixture model (model.Fixture,
// seeded) as root/init.safetensors, a stage's --init, and returns the path.
func savedFixture(t *testing.T, be compute.Backend, root string, seed uint64) string {
	t.Helper()
	m, err := model.New(be, model.Fixture(), seed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "init.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}
