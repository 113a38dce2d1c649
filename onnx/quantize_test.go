package onnx

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// TestQuantizeColumns checks the int8 weights: each column's largest
// magnitude maps to ±127, every value is within half a step of its
// original, and an all-zero column gets scale 1.
func TestQuantizeColumns(t *testing.T) {
	const K, N = 5, 3
	w := make([]float32, K*N)
	rng := rand.New(rand.NewPCG(1, 1))
	for k := range K {
		w[k*N+0] = float32(rng.NormFloat64())
		w[k*N+1] = 100 * float32(rng.NormFloat64())
	}
	q, scale, err := quantizeColumns(tensors.FromFlatDataAndDimensions(w, K, N))
	if err != nil {
		t.Fatal(err)
	}
	if scale[2] != 1 {
		t.Errorf("all-zero column: scale %g, want 1", scale[2])
	}
	for j := range 2 {
		top := 0
		for k := range K {
			qi := int(int8(q[k*N+j]))
			top = max(top, qi, -qi)
			if d := math.Abs(float64(w[k*N+j]) - float64(qi)*float64(scale[j])); d > float64(scale[j])/2*1.0001 {
				t.Errorf("w[%d,%d] = %g, dequantised %g (scale %g)", k, j, w[k*N+j], float32(qi)*scale[j], scale[j])
			}
		}
		if top != 127 {
			t.Errorf("column %d: largest |q| = %d, want 127", j, top)
		}
	}
}

// TestExportInt8 checks which products Spec.Int8 rewrites: a product by a
// large enough variable, not one by a small variable or by an input, and
// that the float weights it replaces are not kept.
func TestExportInt8(t *testing.T) {
	store := mlmodel.NewStore()
	rng := rand.New(rand.NewPCG(2, 2))
	big := make([]float32, 128*64)
	for i := range big {
		big[i] = float32(rng.NormFloat64())
	}
	store.VariableWithValue("/big", tensors.FromFlatDataAndDimensions(big, 128, 64))
	store.VariableWithValue("/small", tensors.FromFlatDataAndDimensions(make([]float32, 64*8), 64, 8))
	spec := Spec{Name: "mm", Inputs: []shapes.Shape{shapes.Make(dtypes.Float32, 10, 128), shapes.Make(dtypes.Float32, 8, 4)},
		Fn: func(s *mlmodel.Scope, in []*Node) []*Node {
			g := in[0].Graph()
			h := MatMul(in[0], s.Store().GetVariable("/big").ValueGraph(g))
			h = MatMul(h, s.Store().GetVariable("/small").ValueGraph(g))
			return []*Node{MatMul(h, in[1])}
		}}
	fp, err := Export(store, spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.Int8 = true
	q, err := Export(store, spec)
	if err != nil {
		t.Fatal(err)
	}
	if fp.Ops["DynamicQuantizeMatMul"] != 0 || q.Ops["DynamicQuantizeMatMul"] != 1 {
		t.Fatalf("int8 products: %d without Int8, %d with, want 0 and 1", fp.Ops["DynamicQuantizeMatMul"], q.Ops["DynamicQuantizeMatMul"])
	}
	if q.MatMulFLOPs != fp.MatMulFLOPs {
		t.Errorf("MatMulFLOPs %d with Int8, %d without", q.MatMulFLOPs, fp.MatMulFLOPs)
	}
	// The 128x64 weights shrink from 4 bytes to 1 (plus 64 scales and
	// zero points and the node names).
	if saved := len(fp.Data) - len(q.Data); saved < 3*128*64-1024 {
		t.Errorf("the int8 model is %d bytes smaller, want about %d", saved, 3*128*64)
	}
}
