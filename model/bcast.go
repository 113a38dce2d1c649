package model

import (
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// The pure-Go backend runs elementwise ops fast only when both operands have
// the same shape (or one is a scalar); a broadcast over a non-scalar operand,
// a BroadcastInDim and a partial reduction go through a generic index
// iterator that is 20-50x slower than its MatMul. Measured on a 2-core Zen 5,
// they took 95% of an autoencoder training step on GoMLX v0.26. Re-measured
// on v0.28.6 with its SIMD MatMul (2-core Zen 5, pssr-tiny): a base training
// step takes 2.3 s with these helpers and 3.4 s with native broadcasts, and
// the forward passes of BenchmarkTiny are 20-40% slower without them (decode
// 2.56 s against 3.19 s, base 1.24 s against 1.76 s per 4 frames at
// 720x576), so they stay. The helpers below express
// broadcasts along the last axis and reductions as rank-1 MatMuls, whose
// gradients are MatMuls too. On other backends (XLA) they use the native ops,
// which the compiler fuses.

// slowBroadcast reports whether g runs on the pure-Go backend.
func slowBroadcast(g *Graph) bool {
	b := g.Backend()
	return b.String() == "go" || strings.HasPrefix(b.Name(), "Go ")
}

func onesConst(g *Graph, rows, cols int, value float32) *Node {
	data := make([]float32, rows*cols)
	for i := range data {
		data[i] = value
	}
	return Const(g, tensors.FromFlatDataAndDimensions(data, rows, cols))
}

// rowsOf returns the number of rows when x's last axis is the feature axis.
func rowsOf(x *Node) (rows, d int) {
	dims := x.Shape().Dimensions
	d = dims[len(dims)-1]
	return x.Shape().Size() / d, d
}

// addRow returns x + v, v [d] broadcast over every leading position of x.
func addRow(x, v *Node) *Node { return combineRow(x, v, Add) }

// mulRow returns x * v, v [d] broadcast over every leading position of x.
func mulRow(x, v *Node) *Node { return combineRow(x, v, Mul) }

func combineRow(x, v *Node, op func(a, b *Node) *Node) *Node {
	g := x.Graph()
	m, d := rowsOf(x)
	v = Reshape(v, 1, d)
	var full *Node
	if slowBroadcast(g) {
		full = matmul(onesConst(g, m, 1, 1), v)
	} else {
		full = BroadcastToDims(v, m, d)
	}
	return Reshape(op(Reshape(x, m, d), full), x.Shape().Dimensions...)
}

// meanLast returns the mean over the last axis, shaped [rows, 1].
func meanLast(x *Node) *Node {
	g := x.Graph()
	m, d := rowsOf(x)
	flat := Reshape(x, m, d)
	if slowBroadcast(g) {
		return matmul(flat, onesConst(g, d, 1, 1/float32(d)))
	}
	return ReduceAndKeep(flat, ReduceMean, -1)
}

// expandLast broadcasts v [rows, 1] to [rows, d].
func expandLast(v *Node, d int) *Node {
	g := v.Graph()
	if slowBroadcast(g) {
		return matmul(v, onesConst(g, 1, d, 1))
	}
	return BroadcastToDims(v, v.Shape().Dimensions[0], d)
}

// MeanAll is the mean of every element of x as a scalar, computed as a MatMul
// on the pure-Go backend.
func MeanAll(x *Node) *Node {
	g := x.Graph()
	if !slowBroadcast(g) {
		return ReduceAllMean(x)
	}
	n := x.Shape().Size()
	// Two stages keep the constant small: [a, b] @ [b, 1] then [1, a] @ [a, 1].
	b := 1
	for k := 1; k*k <= n; k++ {
		if n%k == 0 {
			b = k
		}
	}
	a := n / b
	col := matmul(Reshape(x, a, b), onesConst(g, b, 1, 1/float32(b)))
	return Reshape(matmul(Reshape(col, 1, a), onesConst(g, a, 1, 1/float32(a))))
}

// matmul multiplies a [m, k] by b [k, n] with DotGeneral, whose gradient
// (GoMLX v0.28) is two DotGenerals.
func matmul(a, b *Node) *Node {
	return DotGeneral(a, []int{a.Rank() - 1}, nil, b, []int{0}, nil)
}
