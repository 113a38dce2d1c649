package model

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pssr/pssr/weights"
)

// CheckHeader compares a weights file's header with what cfg describes,
// before any network is built: the tensors whose shapes follow from the
// config fields (the encoder's and decoder's input and output layers, the
// transformers' embedding, time and head layers, the feed-forward layer
// and window embedding of every block, the draft's fusion layers) must be
// present with those shapes, and no block beyond the config's counts may
// be. It returns nil or a *weights.MismatchError listing every problem;
// Load still checks every tensor once the model is built.
func CheckHeader(cfg Config, h *weights.Header) error {
	shapes := make(map[string][]int, len(h.Tensors))
	for _, s := range h.Tensors {
		shapes[s.Name] = s.Shape
	}
	var problems []string
	want := func(name, fields string, shape ...int) {
		got, ok := shapes[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("weights: tensor %q: missing from file (the config's %s want shape %v)", name, fields, shape))
		case !slices.Equal(got, shape):
			problems = append(problems, fmt.Sprintf("weights: tensor %q: shape %v in file, the config's %s want %v", name, got, fields, shape))
		}
	}
	// beyond reports tensors of block n and later under prefix+"block_".
	beyond := func(prefix, field string, n int) {
		for name := range shapes {
			rest, ok := strings.CutPrefix(name, prefix+"block_")
			if !ok {
				continue
			}
			var i int
			if _, err := fmt.Sscanf(rest, "%d/", &i); err == nil && i >= n {
				problems = append(problems, fmt.Sprintf("weights: tensor %q: in file, but the config's %s is %d", name, field, n))
			}
		}
	}
	ae, dit := cfg.AE, cfg.DiT
	p, w, lc := ae.Patch, ae.Width, ae.LatentChannels
	fw := max(w/2, 8)
	hp := (p / 2) * (p / 2) * 3
	const aeFields = "ae.patch, ae.width and ae.latent_channels"
	want(ScopeAE+"/enc/in/w", aeFields, p*p*3, w)
	want(ScopeAE+"/enc/out/w", aeFields, w, lc)
	want(ScopeAE+"/dec/in/w", aeFields, lc+p*p*3, w)
	want(ScopeAE+"/dec/up/w", aeFields, w, 4*fw)
	want(ScopeAE+"/dec/fine_cond/w", aeFields, hp, fw)
	want(ScopeAE+"/dec/out/w", aeFields, fw, hp)
	for i := range ae.EncBlocks {
		want(fmt.Sprintf("%s/enc/block_%d/fc1/w", ScopeAE, i), "ae.enc_blocks and ae.width", 9*w, w)
	}
	beyond(ScopeAE+"/enc/", "ae.enc_blocks", ae.EncBlocks)
	for i := range ae.DecBlocks {
		want(fmt.Sprintf("%s/dec/block_%d/fc1/w", ScopeAE, i), "ae.dec_blocks and ae.width", 9*w, w)
	}
	beyond(ScopeAE+"/dec/", "ae.dec_blocks", ae.DecBlocks)
	for i := range ae.FineBlockCount() {
		want(ScopeAE+"/dec/"+FineBlockScope(i)+"/fc1/w", "ae.fine_blocks and ae.width", 9*fw, fw)
	}
	beyond(ScopeAE+"/dec/fine_", "ae.fine_blocks", ae.FineBlockCount())

	dp := dit.Patch
	kept := cfg.KeptBlocks()
	for _, scope := range []string{ScopeBase, ScopeDraft} {
		tc, fields := dit, "dit"
		if scope == ScopeDraft {
			tc, fields = cfg.DraftDiT(), "draft (or dit)"
		}
		d := tc.Width
		ditFields := "dit.patch, " + fields + ".width, dit.time_dim and ae.latent_channels"
		want(scope+"/embed/w", ditFields, 2*lc*dp*dp, d)
		want(scope+"/time_1/w", ditFields, dit.TimeDim, d)
		want(scope+"/head/w", ditFields, d, dp*dp*lc)
		blocks := kept
		if scope == ScopeBase {
			blocks = make([]int, dit.Blocks)
			for i := range blocks {
				blocks[i] = i
			}
			beyond(scope+"/", "dit.blocks", dit.Blocks)
		}
		for _, i := range blocks {
			want(fmt.Sprintf("%s/block_%d/fc1/w", scope, i), "dit.blocks, "+fields+".width and "+fields+".mlp", d, tc.MLP)
			want(fmt.Sprintf("%s/block_%d/window_pos/emb", scope, i), "dit.window and "+fields+".width", dit.Window*dit.Window, d)
		}
	}
	for _, i := range kept {
		dw := cfg.DraftDiT().Width
		want(fmt.Sprintf("%s/fuse_%d/w", ScopeDraft, i), "draft.k_select, dit.width and draft.width", dw+dit.Width, dw)
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return &weights.MismatchError{Problems: problems}
}
