package model

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/internal/testbackend"
)

// values returns every network variable of m by name.
func values(m *Model) map[string][]float32 {
	out := map[string][]float32{}
	for _, v := range m.NetworkVariables() {
		out[VariableName(v)] = tensors.MustCopyFlatData[float32](v.MustValue())
	}
	return out
}

// LoadDraft rebuilds a (random-weight) fixture's draft: dropping blocks
// keeps the remaining block's trained weights and removes the others;
// adding blocks copies them from the base; the rest of the model is the
// file's, and the change is recorded.
func TestLoadDraft(t *testing.T) {
	be := testbackend.New(t)
	cfg := Fixture()
	cfg.Draft.KSelect = 1 // every block of 3
	m, err := New(be, cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	randomiseScope(t, m, ScopeDraft, 5) // a "trained" draft, unlike the base
	m.Metadata["note"] = "random-weight test fixture"
	dir := t.TempDir()
	all := filepath.Join(dir, "k1.safetensors")
	if err := m.Save(all); err != nil {
		t.Fatal(err)
	}
	file := values(m)

	// Keep block 2 only.
	one, err := LoadDraft(be, all, DraftConfig{KSelect: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := one.Config.KeptBlocks(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("kept blocks %v, want [2]", got)
	}
	if one.Metadata[MetaDraftKSelect] != "1->3" || one.Metadata["note"] == "" {
		t.Errorf("metadata %v", one.Metadata)
	}
	got := values(one)
	for name, v := range got {
		want, ok := file[name]
		if !ok {
			t.Errorf("%s: not in the file", name)
			continue
		}
		if maxAbsDiff(want, v) != 0 {
			t.Errorf("%s differs from the file", name)
		}
	}
	for name := range file {
		_, has := got[name]
		dropped := strings.HasPrefix(name, "draft/block_0/") || strings.HasPrefix(name, "draft/block_1/") ||
			strings.HasPrefix(name, "draft/fuse_0/") || strings.HasPrefix(name, "draft/fuse_1/")
		if has == dropped {
			t.Errorf("%s: in the rebuilt model %v, dropped %v", name, has, dropped)
		}
	}
	if a, b := one.NumParameters(ScopeDraft), m.NumParameters(ScopeDraft); a >= b {
		t.Errorf("draft parameters %d after dropping blocks, %d before", a, b)
	}

	// Grow back to every block: the added blocks start as the base's.
	path := filepath.Join(dir, "k3.safetensors")
	if err := one.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadDraft(be, path, DraftConfig{KSelect: 1})
	if err != nil {
		t.Fatal(err)
	}
	if back.Metadata[MetaDraftKSelect] != "1->3,3->1" {
		t.Errorf("record %q, want both changes", back.Metadata[MetaDraftKSelect])
	}
	bv := values(back)
	for name, v := range bv {
		var want []float32
		switch {
		case strings.HasPrefix(name, "draft/block_0/") || strings.HasPrefix(name, "draft/block_1/"):
			want = file["base/"+strings.TrimPrefix(name, "draft/")]
		case strings.HasPrefix(name, "draft/fuse_0/") || strings.HasPrefix(name, "draft/fuse_1/"):
			continue // identity initialisation
		default:
			want = file[name]
		}
		if want == nil || maxAbsDiff(want, v) != 0 {
			t.Errorf("%s: not the expected start value", name)
		}
	}

	if _, err := LoadDraft(be, all, DraftConfig{KSelect: 4}); err == nil || !strings.Contains(err.Error(), "k_select") {
		t.Errorf("k_select beyond the blocks: %v", err)
	}
}

// LoadDraft with another width rebuilds the draft afresh: no draft tensor
// of the file fits, the new ones have the narrower shapes (fusion layers
// reading the base-wide features), the base and autoencoder are the
// file's, the change is recorded, the header check agrees, and the narrow
// draft runs. A width the heads do not divide is refused.
func TestLoadDraftWidth(t *testing.T) {
	be := testbackend.New(t)
	cfg := Fixture() // dit.width 16, heads 2, mlp 32
	m, err := New(be, cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	randomiseScope(t, m, ScopeDraft, 5)
	dir := t.TempDir()
	path := filepath.Join(dir, "wide.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	file := values(m)
	narrow, err := LoadDraft(be, path, DraftConfig{KSelect: cfg.Draft.KSelect, Width: 8, Heads: 1, MLP: 16})
	if err != nil {
		t.Fatal(err)
	}
	if got := narrow.Metadata[MetaDraftSize]; got != "width 16->8 heads 2->1 mlp 32->16" {
		t.Errorf("size record %q", got)
	}
	shapes := map[string][]int{}
	for _, s := range narrow.Specs() {
		shapes[s.Name] = s.Shape
	}
	k := cfg.KeptBlocks()[0]
	for name, want := range map[string][]int{
		fmt.Sprintf("draft/fuse_%d/w", k):      {8 + 16, 8},
		fmt.Sprintf("draft/block_%d/fc1/w", k): {8, 16},
		"draft/embed/w":                        {2 * cfg.AE.LatentChannels * 4, 8},
		"draft/head/w":                         {8, 4 * cfg.AE.LatentChannels},
	} {
		if !slices.Equal(shapes[name], want) {
			t.Errorf("%s: shape %v, want %v", name, shapes[name], want)
		}
	}
	for name, v := range values(narrow) {
		if strings.HasPrefix(name, ScopeDraft+"/") {
			continue
		}
		if maxAbsDiff(file[name], v) != 0 {
			t.Errorf("%s differs from the file", name)
		}
	}
	if a, b := narrow.NumParameters(ScopeDraft), m.NumParameters(ScopeDraft); a*2 >= b {
		t.Errorf("narrow draft has %d parameters, the wide one %d", a, b)
	}
	out := filepath.Join(dir, "narrow.safetensors")
	if err := narrow.Save(out); err != nil {
		t.Fatal(err)
	}
	back, err := Load(be, out)
	if err != nil {
		t.Fatalf("loading the narrow model: %v", err)
	}
	if back.Config.DraftDiT().Width != 8 || back.Config.DiT.Width != 16 {
		t.Errorf("config after the round trip: %+v", back.Config.Draft)
	}
	if _, err := LoadDraft(be, path, DraftConfig{KSelect: cfg.Draft.KSelect, Width: 9}); err == nil || !strings.Contains(err.Error(), "heads") {
		t.Errorf("width 9 with 2 heads: %v", err)
	}
}
