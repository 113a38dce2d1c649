package model

import (
	"runtime"
	"slices"
	"sync"
	"weak"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoMLX v0.26.0 differentiates DotGeneral by materialising the broadcast
// product of the output gradient with the other operand ([m, n, k] for an
// [m, k] x [k, n] product) and reducing it: correct, but on the pure-Go
// backend it made a training step 30-100x slower than its forward pass and
// needs k times the memory. The networks of this package therefore build
// their products with dotGeneral, which records the contraction axes of the
// node, and the package registers a DotGeneral gradient that computes both
// adjoints as DotGenerals. DotGeneral nodes built elsewhere keep GoMLX's own
// gradient.

type dotSpec struct {
	lhsContract, lhsBatch, rhsContract, rhsBatch []int
}

var (
	dotSpecs    sync.Map // weak.Pointer[Node] -> dotSpec
	originalVJP VJP
)

func init() {
	originalVJP = VJPRegistration[NodeTypeDotGeneral]
	VJPRegistration[NodeTypeDotGeneral] = dotGeneralVJP
}

// dotGeneral is graph.DotGeneral with an efficient gradient.
func dotGeneral(lhs *Node, lhsContract, lhsBatch []int, rhs *Node, rhsContract, rhsBatch []int) *Node {
	n := DotGeneral(lhs, lhsContract, lhsBatch, rhs, rhsContract, rhsBatch)
	key := weak.Make(n)
	dotSpecs.Store(key, dotSpec{lhsContract, lhsBatch, rhsContract, rhsBatch})
	runtime.AddCleanup(n, func(k weak.Pointer[Node]) { dotSpecs.Delete(k) }, key)
	return n
}

func crossAxes(rank int, contract, batch []int) []int {
	var out []int
	for a := 0; a < rank; a++ {
		if !slices.Contains(contract, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

func axisRange(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

// dotGeneralVJP returns the adjoints of both operands of a DotGeneral
// built by dotGeneral, as DotGenerals; other DotGeneral nodes get GoMLX's
// original gradient.
func dotGeneralVJP(node *Node, vjpOutputs []*Node, outputShape shapes.Shape) []*Node {
	s, ok := dotSpecs.Load(weak.Make(node))
	if !ok {
		return originalVJP(node, vjpOutputs, outputShape)
	}
	spec := s.(dotSpec)
	v := vjpOutputs[0]
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	nb := len(spec.lhsBatch)
	lc := crossAxes(lhs.Rank(), spec.lhsContract, spec.lhsBatch)
	rc := crossAxes(rhs.Rank(), spec.rhsContract, spec.rhsBatch)
	vb := axisRange(0, nb)
	vl := axisRange(nb, len(lc))
	vr := axisRange(nb+len(lc), len(rc))

	// d lhs: contract v's rhs-cross axes with rhs's cross axes.
	gl := DotGeneral(v, vr, vb, rhs, rc, spec.rhsBatch)
	// Result axes: batch, lhs cross, rhs contracting axes in ascending order.
	lmap := append(append([]int{}, spec.lhsBatch...), lc...)
	for _, r := range sortedCopy(spec.rhsContract) {
		lmap = append(lmap, spec.lhsContract[slices.Index(spec.rhsContract, r)])
	}
	gl = TransposeAllDims(gl, inverse(lmap)...)

	// d rhs: contract lhs's cross axes with v's lhs-cross axes.
	gr := DotGeneral(lhs, lc, spec.lhsBatch, v, vl, vb)
	// Result axes: batch, lhs contracting axes in ascending order, rhs cross.
	rmap := append([]int{}, spec.rhsBatch...)
	for _, l := range sortedCopy(spec.lhsContract) {
		rmap = append(rmap, spec.rhsContract[slices.Index(spec.lhsContract, l)])
	}
	rmap = append(rmap, rc...)
	gr = TransposeAllDims(gr, inverse(rmap)...)
	return []*Node{gl, gr}
}

func sortedCopy(a []int) []int {
	b := append([]int{}, a...)
	slices.Sort(b)
	return b
}

// inverse turns "result axis p is operand axis m[p]" into the permutation
// that TransposeAllDims needs (output axis a takes input axis perm[a]).
func inverse(m []int) []int {
	perm := make([]int, len(m))
	for p, a := range m {
		perm[a] = p
	}
	return perm
}
