package model

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// Base runs the base latent video transformer once.
//
// xt and zL are latents [B, T, h, w, C] (the noisy sample and the low-quality
// latent); t is a scalar timestep in [0, 1000]. It returns the velocity
// [B, T, h, w, C] and the hidden states entering every kept block
// (Config.KeptBlocks), each [B*T, gh, gw, Width] on the padded token grid.
// Attention alternates windowed spatial attention (shifted on odd blocks)
// with attention across the T frames at each token position.
func Base(scope *mlmodel.Scope, cfg Config, xt, zL, t *Node) (v *Node, features []*Node) {
	all := make([]int, cfg.DiT.Blocks)
	for i := range all {
		all[i] = i
	}
	kept := map[int]bool{}
	for _, k := range cfg.KeptBlocks() {
		kept[k] = true
	}
	v, features = transformer(scope.At(ScopeBase), cfg.DiT, all, xt, zL, t, nil, kept)
	return v, features
}

// Draft runs the draft transformer once: only the kept blocks, each preceded
// by a fusion layer that concatenates the draft's own hidden state with the
// base feature and projects them to the draft's width (initialised to pass
// the draft's own part through). The draft's blocks are sized by
// cfg.DraftDiT(). features are the base's, as returned by Base.
func Draft(scope *mlmodel.Scope, cfg Config, xt, zL, t *Node, features []*Node) *Node {
	keptIdx := cfg.KeptBlocks()
	if len(features) != len(keptIdx) {
		panic(fmt.Sprintf("model.Draft: %d features for %d kept blocks", len(features), len(keptIdx)))
	}
	feats := map[int]*Node{}
	for i, k := range keptIdx {
		feats[k] = features[i]
	}
	v, _ := transformer(scope.At(ScopeDraft), cfg.DraftDiT(), keptIdx, xt, zL, t, feats, nil)
	return v
}

// transformer is the shared body of Base and Draft.
func transformer(scope *mlmodel.Scope, cfg DiTConfig, blocks []int, xt, zL, t *Node,
	fuse map[int]*Node, collect map[int]bool) (*Node, []*Node) {
	dims := xt.Shape().Dimensions
	if len(dims) != 5 {
		panic(fmt.Sprintf("model: latent must be [B, T, h, w, C], got %v", dims))
	}
	b, tt, h, w, c := dims[0], dims[1], dims[2], dims[3], dims[4]
	p, d, ws := cfg.Patch, cfg.Width, cfg.Window
	if h%p != 0 || w%p != 0 {
		panic(fmt.Sprintf("model: latent grid %dx%d not a multiple of patch %d", w, h, p))
	}
	gh, gw := h/p, w/p
	GH, GW := (gh+ws-1)/ws*ws, (gw+ws-1)/ws*ws

	x := Concatenate([]*Node{xt, zL}, -1)
	x = Reshape(x, b*tt, h, w, 2*c)
	x = linear(scope.At("embed"), spaceToDepth(x, p), d, initNormal)
	x = padGrid(x, GH, GW)

	temb := timestepEmbedding(t, cfg.TimeDim)
	temb = linear(scope.At("time_1"), temb, d, initNormal)
	temb = linear(scope.At("time_2"), silu(temb), d, initNormal)
	cs := silu(temb) // [1, d]

	var features []*Node
	for _, i := range blocks {
		if collect[i] {
			features = append(features, x)
		}
		if f, ok := fuse[i]; ok {
			x = linear(scope.At("fuse_%d", i), Concatenate([]*Node{x, f}, -1), d, initIdentity)
		}
		x = block(scope.At("block_%d", i), cfg, x, cs, b, tt, i%2 == 1)
	}
	shift := Reshape(linear(scope.At("final_shift"), cs, d, initZero), d)
	scale := Reshape(linear(scope.At("final_scale"), cs, d, initZero), d)
	x = addRow(mulRow(layerNorm(scope, x, false), OnePlus(scale)), shift)
	x = linear(scope.At("head"), x, p*p*c, initZero)
	x = cropGrid(x, gh, gw)
	v := Reshape(depthToSpace(x, p), b, tt, h, w, c)
	return v, features
}

// block is one transformer block with AdaLN-zero modulation: windowed
// spatial attention, temporal attention, feed-forward.
func block(scope *mlmodel.Scope, cfg DiTConfig, x, cs *Node, b, tt int, shifted bool) *Node {
	d, ws := cfg.Width, cfg.Window
	dims := x.Shape().Dimensions
	n, GH, GW := dims[0], dims[1], dims[2]
	mod := func(name string) *Node {
		return Reshape(linear(scope.At("%s", name), cs, d, initZero), d)
	}
	modulate := func(y *Node, k string) *Node {
		return addRow(mulRow(layerNorm(scope, y, false), OnePlus(mod("scale_"+k))), mod("shift_"+k))
	}

	// Windowed spatial attention.
	y := modulate(x, "s")
	if shifted {
		y = rollGrid(y, ws/2, ws/2)
	}
	y = Reshape(y, n, GH/ws, ws, GW/ws, ws, d)
	y = TransposeAllDims(y, 0, 1, 3, 2, 4, 5)
	y = Reshape(y, n*(GH/ws)*(GW/ws), ws*ws, d)
	pos := param(scope.At("window_pos"), "emb", initNormal, 0.02, ws*ws, d).ValueGraph(x.Graph())
	y = Reshape(addRow(Reshape(y, -1, ws*ws*d), Reshape(pos, ws*ws*d)), -1, ws*ws, d)
	y = attention(scope.At("attn_s"), y, cfg.Heads, false)
	y = Reshape(y, n, GH/ws, GW/ws, ws, ws, d)
	y = TransposeAllDims(y, 0, 1, 3, 2, 4, 5)
	y = Reshape(y, n, GH, GW, d)
	if shifted {
		y = rollGrid(y, -ws/2, -ws/2)
	}
	x = Add(x, mulRow(y, mod("gate_s")))

	// Attention across the frames of the clip, at each token position.
	if tt > 1 {
		y = modulate(x, "t")
		y = Reshape(y, b, tt, GH*GW, d)
		y = TransposeAllDims(y, 0, 2, 1, 3)
		y = Reshape(y, b*GH*GW, tt, d)
		y = attention(scope.At("attn_t"), y, cfg.Heads, cfg.TemporalRoPE)
		y = Reshape(y, b, GH*GW, tt, d)
		y = TransposeAllDims(y, 0, 2, 1, 3)
		y = Reshape(y, n, GH, GW, d)
		x = Add(x, mulRow(y, mod("gate_t")))
	} else {
		// Create the temporal parameters anyway so that single-frame graphs
		// and clip graphs share one set of variables.
		_ = mod("scale_t")
		_ = mod("shift_t")
		_ = mod("gate_t")
		for _, k := range []string{"q", "k", "v", "o"} {
			param(scope.At("attn_t").At("%s", k), "w", initNormal, 1/sqrtf(d), d, d)
			param(scope.At("attn_t").At("%s", k), "b", initZero, 0, d)
		}
	}

	// Feed-forward.
	y = modulate(x, "m")
	y = gelu(linear(scope.At("fc1"), y, cfg.MLP, initNormal))
	y = linear(scope.At("fc2"), y, d, initNormal)
	return Add(x, mulRow(y, mod("gate_m")))
}
