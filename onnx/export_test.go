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
