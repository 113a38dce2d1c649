package trainer

import (
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/pssr/pssr/model"
)

// l1 is the mean absolute difference.
func l1(a, b *Node) *Node { return model.MeanAll(Abs(Sub(a, b))) }

// mse is the mean squared difference.
func mse(a, b *Node) *Node { return model.MeanAll(Square(Sub(a, b))) }

// gradientLoss compares horizontal and vertical image gradients of pred and
// target [N, H, W, C] with L1: it keeps edges and texture that a pixel loss
// alone lets blur away.
func gradientLoss(pred, target *Node) *Node {
	dx := func(x *Node) *Node { return Sub(model.ShiftReplicate(x, 0, 1), x) }
	dy := func(x *Node) *Node { return Sub(model.ShiftReplicate(x, 1, 0), x) }
	return Add(l1(dx(pred), dx(target)), l1(dy(pred), dy(target)))
}

// sharpnessLoss is a weight-free perceptual term: the L1 distance between
// the Laplacian responses of pred and target, which penalises missing or
// invented high-frequency detail.
func sharpnessLoss(pred, target *Node) *Node {
	lap := func(x *Node) *Node {
		s := Add(Add(model.ShiftReplicate(x, 0, 1), model.ShiftReplicate(x, 0, -1)), Add(model.ShiftReplicate(x, 1, 0), model.ShiftReplicate(x, -1, 0)))
		return Sub(s, MulScalar(x, 4))
	}
	return l1(lap(pred), lap(target))
}
