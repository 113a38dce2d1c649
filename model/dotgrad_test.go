package model

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/pssr/pssr/internal/testbackend"
)

// The DotGeneral gradient of dotGeneral equals GoMLX's original one, for a
// plain matrix product and for the batched products of attention.
func TestDotGeneralGradient(t *testing.T) {
	be := testbackend.New(t)
	r := rand.New(rand.NewPCG(1, 1))
	rnd := func(dims ...int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(r.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(data, dims...)
	}
	tests := []struct {
		name           string
		a, b           *tensors.Tensor
		lc, lb, rc, rb []int
	}{
		{"matmul", rnd(5, 3), rnd(3, 4), []int{1}, nil, []int{0}, nil},
		{"square", rnd(4, 4), rnd(4, 4), []int{1}, nil, []int{0}, nil},
		{"qk", rnd(2, 5, 3, 4), rnd(2, 6, 3, 4), []int{3}, []int{0, 2}, []int{3}, []int{0, 2}},
		{"av", rnd(2, 3, 5, 6), rnd(2, 6, 3, 4), []int{3}, []int{0, 1}, []int{1}, []int{0, 2}},
		{"transposed", rnd(3, 5), rnd(4, 3), []int{0}, nil, []int{1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exec := MustNewExec(be, func(a, b *Node) []*Node {
				w := Sin(DotGeneral(a, tc.lc, tc.lb, b, tc.rc, tc.rb)) // original gradient
				mine := Sin(dotGeneral(a, tc.lc, tc.lb, b, tc.rc, tc.rb))
				g1 := Gradient(ReduceAllSum(Square(w)), a, b)
				g2 := Gradient(ReduceAllSum(Square(mine)), a, b)
				return []*Node{g1[0], g1[1], g2[0], g2[1]}
			})
			out := exec.MustExec(tc.a, tc.b)
			for i := 0; i < 2; i++ {
				want := tensors.MustCopyFlatData[float32](out[i])
				got := tensors.MustCopyFlatData[float32](out[2+i])
				if !sameDims(out[i].Shape().Dimensions, out[2+i].Shape().Dimensions) {
					t.Fatalf("operand %d: shape %v, want %v", i, out[2+i].Shape(), out[i].Shape())
				}
				for j := range want {
					if math.Abs(float64(want[j]-got[j])) > 1e-4*(1+math.Abs(float64(want[j]))) {
						t.Fatalf("operand %d [%d]: %g, want %g", i, j, got[j], want[j])
					}
				}
			}
		})
	}
}
