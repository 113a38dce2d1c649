package onnx_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/onnx"
	"github.com/pssr/pssr/pipeline"
)

// loadFixture loads the random-weight fixture model (a test fixture, not a
// trained model) with non-zero output layers.
func loadFixture(t *testing.T) *model.Model {
	t.Helper()
	m := fixture.LoadActive(t)
	return m
}

func TestExportNetworks(t *testing.T) {
	m := loadFixture(t)
	ins := pipeline.NetworkInputs(m.Config, 2, 48, 32)
	for _, n := range pipeline.Networks(m.Config) {
		md, err := onnx.Export(m.Store, onnx.Spec{Name: n.Name, Fn: n.Fn, Inputs: ins[n.Name], InputNames: n.InputNames, OutputNames: n.OutputNames})
		if err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		t.Logf("%s: %d nodes, %d initializers, %d bytes, outputs %v", n.Name, md.Nodes, md.Initializers, len(md.Data), md.Outputs)
	}
}

// TestUnsupportedOp checks that an op the exporter lacks fails the export
// with an error that names it and wraps compute.ErrNotImplemented (GoMLX
// builds CumSum from ReduceWindow, which the exporter does not write).
func TestUnsupportedOp(t *testing.T) {
	store := mlmodel.NewStore()
	_, err := onnx.Export(store, onnx.Spec{Name: "cumsum", Inputs: []shapes.Shape{shapes.Make(dtypes.Float32, 4)},
		Fn: func(s *mlmodel.Scope, in []*Node) []*Node { return []*Node{CumSum(in[0], 0)} }})
	if err == nil || !errors.Is(err, compute.ErrNotImplemented) || !strings.Contains(err.Error(), "op ReduceWindow is not supported") {
		t.Fatalf("export of CumSum: %v, want a not-implemented error naming ReduceWindow", err)
	}
}

// TestMatMulFLOPs checks the FLOP count of a graph with a plain and a
// batched product: 2*M*K*N for [M,K]x[K,N] and B times that for a batch.
func TestMatMulFLOPs(t *testing.T) {
	store := mlmodel.NewStore()
	md, err := onnx.Export(store, onnx.Spec{Name: "mm", Inputs: []shapes.Shape{
		shapes.Make(dtypes.Float32, 6, 5), shapes.Make(dtypes.Float32, 5, 3), shapes.Make(dtypes.Float32, 4, 2, 7), shapes.Make(dtypes.Float32, 4, 7, 9)},
		Fn: func(s *mlmodel.Scope, in []*Node) []*Node {
			return []*Node{MatMul(in[0], in[1]), Einsum("bij,bjk->bik", in[2], in[3])}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(2*6*5*3 + 4*2*2*7*9); md.MatMulFLOPs != want {
		t.Errorf("MatMulFLOPs = %d, want %d", md.MatMulFLOPs, want)
	}
}

// TestFusedOps checks which single ONNX nodes the exporter writes: Conv
// for ConvGeneral (and its FLOPs), LayerNormalization for the fused layer
// norm, FastGelu for the fused GELU and MultiHeadAttention for the fused
// attention only with ORTOps (the decomposed forms otherwise), and no
// Expand when only elementwise ops read a broadcast.
func TestFusedOps(t *testing.T) {
	fn := func(s *mlmodel.Scope, in []*Node) []*Node {
		x, k := in[0], in[1]
		conv := ConvGeneral(x, k, ConvolveAxesConfig{
			InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
			KernelSpatial: []int{0, 1}, KernelInputChannels: 2, KernelOutputChannels: 3,
			OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
		}, nil, [][2]int{{1, 1}, {1, 1}}, nil, nil, 1, 1)
		ln, _ := InternalFusedOpCaller(func() *Node { return BackendFusedLayerNorm(x, []int{3}, 1e-6, nil, nil) },
			func() *Node { return Sub(x, ReduceAndKeep(x, ReduceMean, 3)) }, false)
		gelu, _ := InternalFusedOpCaller(func() *Node { return BackendFusedGelu(x, false) },
			func() *Node { return Mul(x, Sigmoid(MulScalar(x, 1.702))) }, false)
		sum := Add(x, BroadcastToDims(Reshape(in[2], 1, 1, 1, 5), 2, 7, 9, 5))
		// [batch 2, seq 7, heads 9, dim 5]
		att, _ := InternalFusedOpCaller(func() *Node {
			o, _ := BackendFusedScaledDotProductAttention(x, x, x, compute.AttentionAxesLayoutBSHD, nil)
			return o
		}, func() *Node { return x }, false)
		return []*Node{conv, ln, gelu, sum, att}
	}
	ins := []shapes.Shape{shapes.Make(dtypes.Float32, 2, 7, 9, 5), shapes.Make(dtypes.Float32, 3, 3, 5, 4), shapes.Make(dtypes.Float32, 5)}
	for _, ortOps := range []bool{false, true} {
		md, err := onnx.Export(mlmodel.NewStore(), onnx.Spec{Name: "fused", Fn: fn, Inputs: ins, ORTOps: ortOps})
		if err != nil {
			t.Fatal(err)
		}
		wantORT := 0 // FastGelu and MultiHeadAttention
		if ortOps {
			wantORT = 1
		}
		if md.Ops["Conv"] != 1 || md.Ops["LayerNormalization"] != 1 || md.Ops["FastGelu"] != wantORT ||
			md.Ops["MultiHeadAttention"] != wantORT || md.Ops["Expand"] != 0 {
			t.Errorf("ORTOps %v: ops %v, want one Conv, one LayerNormalization, %d FastGelu and MultiHeadAttention, no Expand", ortOps, md.Ops, wantORT)
		}
		if want := int64(2 * 2 * 7 * 9 * 4 * 3 * 3 * 5); md.MatMulFLOPs != want {
			t.Errorf("FLOPs %d, want %d (the convolution's)", md.MatMulFLOPs, want)
		}
	}
}
