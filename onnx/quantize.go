package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// DomainMicrosoft is the operator domain of ONNX Runtime's contrib ops,
// which the int8 models use (DynamicQuantizeMatMul).
const DomainMicrosoft = "com.microsoft"

// MinInt8Weights is the smallest weight matrix (K*N elements) that Int8
// quantises: smaller products (the timestep embedding, the 3->C patch
// layers) cost little and lose the most from 8 bits.
const MinInt8Weights = 4096

// quantizeMatMuls rewrites, in place, each MatMul of nodes whose right
// operand is a rank-2 variable of store with at least MinInt8Weights
// elements into ONNX Runtime's DynamicQuantizeMatMul: the weights are
// quantised once here, symmetric int8 with one scale per output column
// (max |w| / 127), and the activations at run time, per tensor, to uint8
// (ONNX Runtime's u8s8 integer GEMM, which uses VNNI where the CPU has it).
// It returns the initializers the rewritten nodes read.
func quantizeMatMuls(nodes []*node, store *mlmodel.Store) ([]*initializer, error) {
	var inits []*initializer
	for _, n := range nodes {
		if n.op != "MatMul" || len(n.inputs) != 2 {
			continue
		}
		a, w := n.inputs[0], n.inputs[1]
		if w.prod != nil || w.shape.Rank() != 2 || w.shape.DType != dtypes.Float32 || w.shape.Size() < MinInt8Weights {
			continue
		}
		v := store.GetVariable(w.name)
		if v == nil {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("onnx: int8: variable %s: %w", w.name, err)
		}
		q, scale, err := quantizeColumns(t)
		if err != nil {
			return nil, fmt.Errorf("onnx: int8: variable %s: %w", w.name, err)
		}
		K, N := w.shape.Dimensions[0], w.shape.Dimensions[1]
		qv := &value{name: w.name + "__int8", shape: shapes.Make(dtypes.Int8, K, N)}
		sv := &value{name: w.name + "__scale", shape: shapes.Make(dtypes.Float32, N)}
		zv := &value{name: w.name + "__zero", shape: shapes.Make(dtypes.Int8, N)}
		sraw := make([]byte, 4*N)
		for i, s := range scale {
			binary.LittleEndian.PutUint32(sraw[4*i:], math.Float32bits(s))
		}
		inits = append(inits, &initializer{v: qv, raw: q}, &initializer{v: sv, raw: sraw},
			&initializer{v: zv, raw: make([]byte, N)})
		n.op, n.domain = "DynamicQuantizeMatMul", DomainMicrosoft
		n.inputs = []*value{a, qv, sv, zv}
	}
	return inits, nil
}

// quantizeColumns quantises a [K, N] float32 matrix to int8 with one
// symmetric scale per column: q = round(w / s) in [-127, 127], s = max|w|/127
// (1 for an all-zero column). It returns q's bytes (row-major) and s.
func quantizeColumns(t *tensors.Tensor) (q []byte, scale []float32, err error) {
	dims := t.Shape().Dimensions
	if len(dims) != 2 {
		return nil, nil, fmt.Errorf("want a matrix, got %s", t.Shape())
	}
	K, N := dims[0], dims[1]
	w := tensors.MustCopyFlatData[float32](t)
	if len(w) != K*N {
		return nil, nil, fmt.Errorf("want %d float32 values", K*N)
	}
	scale = make([]float32, N)
	for k := range K {
		for j, x := range w[k*N : (k+1)*N] {
			scale[j] = max(scale[j], float32(math.Abs(float64(x))))
		}
	}
	for j, m := range scale {
		if m == 0 {
			scale[j] = 1
		} else {
			scale[j] = m / 127
		}
	}
	q = make([]byte, K*N)
	for k := range K {
		for j, x := range w[k*N : (k+1)*N] {
			r := math.Round(float64(x / scale[j]))
			q[k*N+j] = byte(int8(max(-127, min(127, r))))
		}
	}
	return q, scale, nil
}
