package trainer

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
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
	return l1(laplacian(pred), laplacian(target))
}

// laplacian is the 4-neighbour Laplacian of x [N, H, W, C] with replicated edges.
func laplacian(x *Node) *Node {
	s := Add(Add(model.ShiftReplicate(x, 0, 1), model.ShiftReplicate(x, 0, -1)), Add(model.ShiftReplicate(x, 1, 0), model.ShiftReplicate(x, -1, 0)))
	return Sub(s, MulScalar(x, 4))
}

// detailLoss is a weight-free term that asks for the ground truth's amount
// of high-frequency detail: per frame, the absolute difference between the
// mean absolute Laplacian (over pixels and channels) of pred and of target
// [N, H, W, C], averaged over frames. Pixel losses alone reward smooth
// predictions; this term does not care where the detail is, only that it
// is there, which is the role LPIPS plays in the released draft training.
func detailLoss(pred, target *Node) *Node {
	energy := func(x *Node) *Node { return ReduceMean(Abs(laplacian(x)), 1, 2, 3) }
	return model.MeanAll(Abs(Sub(energy(pred), energy(target))))
}

// temporalLoss is a flicker penalty that needs no motion estimate: the L1
// distance between the frame-to-frame changes of pred and of target
// [B*T, H, W, C] within each clip of t frames (the training form of
// metrics.TemporalDiff). A prediction whose error is the same in every
// frame scores 0; detail that appears and vanishes from frame to frame, as
// perceptual losses can invent, does not. Clips of one frame give 0.
func temporalLoss(pred, target *Node, t int) *Node {
	if t < 2 {
		return ScalarZero(pred.Graph(), pred.DType())
	}
	d := pred.Shape().Dimensions
	change := func(x *Node) *Node {
		x = Reshape(x, d[0]/t, t, d[1], d[2], d[3])
		return Sub(Slice(x, AxisRange(), AxisRange(1)), Slice(x, AxisRange(), AxisRange(0, t-1)))
	}
	return l1(change(pred), change(target))
}

// lossTerms is a loss's named terms, in the fixed order in which the step
// graph returns them and loss.jsonl records them.
type lossTerms struct {
	names []string
	nodes []*Node
}

func (l *lossTerms) add(name string, n *Node) {
	l.names = append(l.names, name)
	l.nodes = append(l.nodes, n)
}

// hinge returns max(0, x).
func hinge(x *Node) *Node { return Max(x, ZerosLike(x)) }

// pickFrames gathers k evenly spaced frames of x [N, H, W, C]: the frames
// the LPIPS term looks at (LPIPS on every frame would cost more than the
// rest of a step on the CPU).
func pickFrames(x *Node, k int) *Node {
	d := x.Shape().Dimensions
	n := d[0]
	if k >= n {
		return x
	}
	idx := make([]int32, k)
	for i := range idx {
		idx[i] = int32(i * n / k)
	}
	flat := Reshape(x, n, -1)
	ind := Const(x.Graph(), tensors.FromFlatDataAndDimensions(idx, k, 1))
	return Reshape(Gather(flat, ind), k, d[1], d[2], d[3])
}
