package model

import (
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// ScopeDisc is the scope of the patch discriminator that adversarial draft
// training uses. Its variables are not network variables: checkpoints keep
// them (with their optimizer state) for an exact resume, model files do not.
const ScopeDisc = "disc"

// discWidth is the feature width of the discriminator's first stage; the
// second stage has twice as many.
const discWidth = 32

// Discriminator is a small patch discriminator over RGB frames x
// [N, H, W, 3] in [0, 1], H and W multiples of 8. It returns one logit per
// 8x8-pixel patch, [N, H/8, W/8, 1] (positive: looks like a real frame), and
// the activations of its hidden layers, for the feature-matching loss.
// Everything is dense layers over patches and 3x3 neighbourhoods, so it
// trains on every backend.
func Discriminator(scope *mlmodel.Scope, x *Node) (logits *Node, features []*Node) {
	s := scope.At(ScopeDisc)
	lrelu := func(h *Node) *Node { return Max(h, MulScalar(h, 0.2)) }
	h := spaceToDepth(AddScalar(MulScalar(x, 2), -1), 4) // [N, H/4, W/4, 48]
	h = lrelu(linear(s.At("in"), h, discWidth, initNormal))
	features = append(features, h)
	h = lrelu(linear(s.At("conv1"), neighbourhood3x3(h), discWidth, initNormal))
	features = append(features, h)
	h = spaceToDepth(h, 2) // [N, H/8, W/8, 4*discWidth]
	h = lrelu(linear(s.At("down"), h, 2*discWidth, initNormal))
	features = append(features, h)
	h = lrelu(linear(s.At("conv2"), neighbourhood3x3(h), 2*discWidth, initNormal))
	features = append(features, h)
	return linear(s.At("out"), h, 1, initNormal), features
}
