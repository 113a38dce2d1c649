package model

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// Scope names of the three networks inside a model context.
const (
	ScopeAE    = "ae"
	ScopeBase  = "base"
	ScopeDraft = "draft"
)

// resBlock is a pre-norm residual block: LayerNorm, 3x3 neighbourhood,
// dense, GELU, dense. On a token grid it acts like a 3x3 convolution block.
// outInit initialises the last dense layer (fc2): initNormal for the
// original blocks, initZero for a block that must start as the identity.
func resBlock(scope *mlmodel.Scope, h *Node, outInit initKind) *Node {
	w := h.Shape().Dimensions[h.Rank()-1]
	y := layerNorm(scope.At("norm"), h, true)
	y = gelu(conv3x3(scope.At("fc1"), y, w, initNormal))
	y = linear(scope.At("fc2"), y, w, outInit)
	return Add(h, MulScalar(y, 0.5))
}

// FineBlockScope is the scope, under ae/dec, of fine-stage residual block i:
// "fine_block" for the first (the name it had when there was only one),
// "fine_block_1", "fine_block_2", ... for the others.
func FineBlockScope(i int) string {
	if i == 0 {
		return "fine_block"
	}
	return fmt.Sprintf("fine_block_%d", i)
}

// Encode maps frames x [N, H, W, 3] with values in [0, 1] to latents
// [N, H/p, W/p, LatentChannels], p = cfg.Patch. H and W must be multiples of p.
func Encode(scope *mlmodel.Scope, cfg AEConfig, x *Node) *Node {
	scope = scope.At(ScopeAE).In("enc")
	h := spaceToDepth(MulScalar(AddScalar(x, -0.5), 2), cfg.Patch)
	h = linear(scope.At("in"), h, cfg.Width, initNormal)
	for i := 0; i < cfg.EncBlocks; i++ {
		h = resBlock(scope.At("block_%d", i), h, initNormal)
	}
	h = layerNorm(scope.At("out_norm"), h, true)
	return linear(scope.At("out"), h, cfg.LatentChannels, initNormal)
}

// Decode maps latents z [N, h, w, LatentChannels] back to frames
// [N, h*p, w*p, 3], conditioned on cond [N, h*p, w*p, 3]: the low-quality
// frame already resized to the output size. The decoder predicts a residual
// over cond, in the manner of a lightweight conditional decoder: a coarse
// stage on p x p patches, then a fine stage on p/2 x p/2 patches with
// cfg.FineBlockCount() residual blocks (scopes FineBlockScope(i)).
func Decode(scope *mlmodel.Scope, cfg AEConfig, z, cond *Node) *Node {
	scope = scope.At(ScopeAE).In("dec")
	p := cfg.Patch
	c := MulScalar(AddScalar(cond, -0.5), 2)
	h := Concatenate([]*Node{z, spaceToDepth(c, p)}, -1)
	h = linear(scope.At("in"), h, cfg.Width, initNormal)
	for i := 0; i < cfg.DecBlocks; i++ {
		h = resBlock(scope.At("block_%d", i), h, initNormal)
	}
	// Fine stage: every token splits into 2x2 sub-tokens of half width.
	fw := max(cfg.Width/2, 8)
	h = layerNorm(scope.At("up_norm"), h, true)
	h = depthToSpace(linear(scope.At("up"), h, 4*fw, initNormal), 2)
	h = Add(h, linear(scope.At("fine_cond"), spaceToDepth(c, p/2), fw, initNormal))
	// Blocks after the first have a zero-initialised fc2: they start as the
	// identity, so a decoder grown by LoadGrown decodes as before.
	for i := 0; i < cfg.FineBlockCount(); i++ {
		outInit := initNormal
		if i > 0 {
			outInit = initZero
		}
		h = resBlock(scope.At("%s", FineBlockScope(i)), h, outInit)
	}
	h = layerNorm(scope.At("out_norm"), h, true)
	out := linear(scope.At("out"), h, (p/2)*(p/2)*3, initZero)
	return Add(cond, depthToSpace(out, p/2))
}
