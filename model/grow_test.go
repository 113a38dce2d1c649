package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/internal/testbackend"
	"github.com/pssr/pssr/weights"
)

// randomiseAE adds N(0, 0.2) noise to every autoencoder weight of m, so that
// the decoder's zero-initialised output layer no longer hides what the
// blocks before it compute (random-weight test fixture, not a trained model).
func randomiseAE(t *testing.T, m *Model, seed uint64) {
	t.Helper()
	randomiseScope(t, m, ScopeAE, seed)
}

// randomiseScope adds N(0, 0.2) noise to every weight of m under scope.
func randomiseScope(t *testing.T, m *Model, scope string, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	for _, v := range m.NetworkVariables() {
		if !strings.HasPrefix(VariableName(v), scope+"/") {
			continue
		}
		data := tensors.MustCopyFlatData[float32](v.MustValue())
		for i := range data {
			data[i] += float32(0.2 * r.NormFloat64())
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(data, v.Shape().Dimensions...)); err != nil {
			t.Fatal(err)
		}
	}
}

// decodeOnce runs m's decoder on z and cond and returns the frames.
func decodeOnce(t *testing.T, be compute.Backend, m *Model, z, cond *tensors.Tensor) []float32 {
	t.Helper()
	cfg := m.Config.AE
	exec, err := mlmodel.NewExec(be, m.Store, func(scope *mlmodel.Scope, z, cond *Node) *Node {
		return Decode(scope, cfg, z, cond)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(z, cond)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

func randomTensor(r *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = r.Float32()
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// FineBlocks 0 (the field absent from a file) and 1 build the same decoder,
// with the single fine block in its original scope "fine_block".
func TestFineBlocksDefault(t *testing.T) {
	be := testbackend.New(t)
	c0 := Fixture()
	c1 := Fixture()
	c1.AE.FineBlocks = 1
	m0, err := New(be, c0, 5)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := New(be, c1, 5)
	if err != nil {
		t.Fatal(err)
	}
	s0, s1 := m0.Specs(), m1.Specs()
	if len(s0) != len(s1) {
		t.Fatalf("fine_blocks 0: %d variables, fine_blocks 1: %d", len(s0), len(s1))
	}
	found := false
	for i := range s0 {
		if s0[i].Name != s1[i].Name || !sameDims(s0[i].Shape, s1[i].Shape) {
			t.Fatalf("variable %d: %s%v vs %s%v", i, s0[i].Name, s0[i].Shape, s1[i].Name, s1[i].Shape)
		}
		if strings.HasPrefix(s0[i].Name, "ae/dec/fine_block_") {
			t.Errorf("one fine block has variable %s", s0[i].Name)
		}
		found = found || strings.HasPrefix(s0[i].Name, "ae/dec/fine_block/")
	}
	if !found {
		t.Error("no variable under ae/dec/fine_block/")
	}
	if strings.Contains(string(c0.JSON()), "fine_blocks") {
		t.Errorf("fine_blocks 0 written to the config: %s", c0.JSON())
	}
	for _, n := range []int{-1, MaxFineBlocks + 1} {
		c := Fixture()
		c.AE.FineBlocks = n
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "fine_blocks") {
			t.Errorf("fine_blocks %d: Validate = %v", n, err)
		}
	}
}

// Growing a (random-weight) fixture's fine stage from 1 to 3 blocks keeps
// every weight of the file, adds identity blocks (decoded frames unchanged,
// more parameters), and the grown model round-trips through Save and Load.
func TestLoadGrown(t *testing.T) {
	be := testbackend.New(t)
	m, err := New(be, Fixture(), 11)
	if err != nil {
		t.Fatal(err)
	}
	randomiseAE(t, m, 11)
	m.Metadata["note"] = "random-weight test fixture"
	dir := t.TempDir()
	path := filepath.Join(dir, "one.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}

	r := rand.New(rand.NewPCG(3, 4))
	cfg := m.Config
	z := randomTensor(r, 2, 4, 6, cfg.AE.LatentChannels)
	cond := randomTensor(r, 2, 4*cfg.AE.Patch, 6*cfg.AE.Patch, 3)
	before := decodeOnce(t, be, m, z, cond)
	if d := maxAbsDiff(before, tensors.MustCopyFlatData[float32](cond)); d < 1e-3 {
		t.Fatalf("decoder output equals its condition (max diff %g): the test cannot see the fine blocks", d)
	}

	g, err := LoadGrown(be, path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if g.Config.AE.FineBlocks != 3 || g.Config.AE.FineBlockCount() != 3 {
		t.Fatalf("grown config %+v", g.Config.AE)
	}
	if g.Metadata["note"] != "random-weight test fixture" || g.Metadata[MetaFineBlocksGrown] != "1->3" {
		t.Errorf("grown metadata %v", g.Metadata)
	}
	after := decodeOnce(t, be, g, z, cond)
	if d := maxAbsDiff(before, after); !(d < 1e-6) {
		t.Errorf("decoded frames changed by growth: max abs diff %g", d)
	}
	if a, b := m.NumParameters(""), g.NumParameters(""); b <= a {
		t.Errorf("parameters %d after growth, %d before", b, a)
	}
	// Every variable of the file is set; the new blocks' fc2 are zero.
	old := map[string][]float32{}
	for _, v := range m.NetworkVariables() {
		old[VariableName(v)] = tensors.MustCopyFlatData[float32](v.MustValue())
	}
	newVars := 0
	for _, v := range g.NetworkVariables() {
		name := VariableName(v)
		val := tensors.MustCopyFlatData[float32](v.MustValue())
		if o, ok := old[name]; ok {
			if maxAbsDiff(o, val) != 0 {
				t.Errorf("%s differs from the file", name)
			}
			continue
		}
		if !strings.HasPrefix(name, "ae/dec/fine_block_1/") && !strings.HasPrefix(name, "ae/dec/fine_block_2/") {
			t.Errorf("unexpected new variable %s", name)
		}
		newVars++
		if strings.Contains(name, "/fc2/") {
			for i, x := range val {
				if x != 0 {
					t.Fatalf("%s[%d] = %g, want 0 (identity block)", name, i, x)
				}
			}
		}
	}
	if newVars == 0 {
		t.Error("no new variables")
	}

	// A file with fine_blocks 3 round-trips.
	path3 := filepath.Join(dir, "three.safetensors")
	randomiseAE(t, g, 12) // the new blocks no longer the identity
	if err := g.Save(path3); err != nil {
		t.Fatal(err)
	}
	f3, err := weights.Load(path3)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(f3.Config), `"fine_blocks":3`) {
		t.Errorf("saved config %s lacks fine_blocks 3", f3.Config)
	}
	l, err := Load(be, path3)
	if err != nil {
		t.Fatal(err)
	}
	if l.Config != g.Config {
		t.Errorf("loaded config %+v, saved %+v", l.Config, g.Config)
	}
	want, got := decodeOnce(t, be, g, z, cond), decodeOnce(t, be, l, z, cond)
	if d := maxAbsDiff(want, got); d != 0 {
		t.Errorf("decoded frames of the reloaded model differ by %g", d)
	}
	if d := maxAbsDiff(before, got); d < 1e-4 {
		t.Errorf("non-identity extra blocks left the output unchanged (max diff %g)", d)
	}

	// Same count: Load. Fewer: an error.
	same, err := LoadGrown(be, path3, 3)
	if err != nil || same.Config != g.Config || same.Metadata[MetaFineBlocksGrown] != "1->3" {
		t.Errorf("LoadGrown to the same count: %v, %+v, %v", err, same, err)
	}
	if _, err := LoadGrown(be, path3, 2); err == nil || !strings.Contains(err.Error(), "cannot grow") {
		t.Errorf("shrinking 3 -> 2: %v", err)
	}
	if _, err := LoadGrown(be, path, MaxFineBlocks+1); err == nil || !strings.Contains(err.Error(), "fine_blocks") {
		t.Errorf("growing past the maximum: %v", err)
	}
	// Growing again appends to the record.
	g5, err := LoadGrown(be, path3, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := g5.Metadata[MetaFineBlocksGrown]; got != "1->3,3->5" {
		t.Errorf("second growth recorded as %q", got)
	}
}

// LoadGrown refuses a file whose tensors do not fit the grown model: a
// tensor of a block the file's config does not have, or a missing one.
func TestLoadGrownMismatch(t *testing.T) {
	be := testbackend.New(t)
	m, err := New(be, Fixture(), 1)
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.File()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A fine_block_1 tensor in a file that declares one fine block.
	extra := *f
	extra.Tensors = append(append([]weights.Tensor(nil), f.Tensors...),
		weights.Tensor{Name: "ae/dec/fine_block_1/fc2/b", DType: "F32", Shape: []int{8}, Data: make([]float32, 8)})
	p := filepath.Join(dir, "extra.safetensors")
	if err := weights.Save(p, &extra); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGrown(be, p, 2); !errors.Is(err, weights.ErrMismatch) || !strings.Contains(err.Error(), "fine_block_1") {
		t.Errorf("file with a tensor of a block it does not declare: %v", err)
	}
	// A missing tensor of an old block.
	missing := *f
	for i, tt := range f.Tensors {
		if strings.HasPrefix(tt.Name, "ae/dec/fine_block/") {
			missing.Tensors = append(append([]weights.Tensor(nil), f.Tensors[:i]...), f.Tensors[i+1:]...)
			break
		}
	}
	p = filepath.Join(dir, "missing.safetensors")
	if err := weights.Save(p, &missing); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGrown(be, p, 2); !errors.Is(err, weights.ErrMismatch) || !strings.Contains(err.Error(), "ae/dec/fine_block/") {
		t.Errorf("file missing a fine_block tensor: %v", err)
	}
}
