package model

import (
	"path/filepath"
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
	one, err := LoadDraft(be, all, 3)
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
	back, err := LoadDraft(be, path, 1)
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

	if _, err := LoadDraft(be, all, 4); err == nil || !strings.Contains(err.Error(), "k_select") {
		t.Errorf("k_select beyond the blocks: %v", err)
	}
}
