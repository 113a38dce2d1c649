// Package onnx exports GoMLX graphs to ONNX models: a recording backend
// (Recorder, a compute.Backend) receives the ops that GoMLX's graph package
// emits while the model code builds a graph, and writes them as ONNX nodes;
// the model's variables become initializers. The networks are therefore
// exported from the same model code and weights that the pure-Go runtime
// runs, with no second definition of them.
//
// Only the ops the pssr networks use are implemented (elementwise math,
// Reshape, Transpose, DotGeneral, ConvGeneral, Gather of rows, Concatenate,
// BroadcastInDim, reductions, Softmax, the fused layer norm; with
// NewORTRecorder also the fused GELU and attention as ONNX Runtime's own
// FastGelu and MultiHeadAttention); any other op fails the export with an
// error naming it that wraps compute.ErrNotImplemented, and a fused op the
// recorder does not take falls back to its decomposed form. The recorder
// never executes anything: run the models with package ort or any ONNX
// tool. The ONNX protobuf (ModelProto and the messages under it, IR 8,
// opset 17) is written directly with protowire.
package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/notimplemented"
	"github.com/gomlx/compute/shapeinference"
	"github.com/gomlx/compute/shapes"
)

// Name is the backend name the Recorder reports. It is not "go", so
// model code that chooses MatMul-based broadcasts for the pure-Go backend
// (model/bcast.go) emits the plain broadcasts and reductions here.
const Name = "onnx-export"

// Recorder is a compute.Backend that records graphs as ONNX models instead
// of running them. Build a graph on it (for example through Export) and
// take the model from the compiled graph's executable (an *Executable).
// A Recorder holds no state between graphs and is safe for concurrent use.
type Recorder struct {
	notimplemented.Backend
	ortOps bool
}

var _ compute.Backend = (*Recorder)(nil)

// NewRecorder returns a recording backend that writes standard ONNX ops
// only.
func NewRecorder() *Recorder { return &Recorder{} }

// NewORTRecorder returns a recording backend that may also write ONNX
// Runtime's own ops (domain com.microsoft: FastGelu, MultiHeadAttention)
// where they are faster;
// its models run on ONNX Runtime only.
func NewORTRecorder() *Recorder { return &Recorder{ortOps: true} }

// Name implements compute.Backend.
func (r *Recorder) Name() string { return Name }

// String implements compute.Backend.
func (r *Recorder) String() string { return Name }

// Description implements compute.Backend.
func (r *Recorder) Description() string { return "ONNX export (records graphs, does not execute)" }

// Capabilities lists the ops and dtypes the exporter writes.
func (r *Recorder) Capabilities() compute.Capabilities {
	ops := map[compute.OpType]bool{}
	for _, op := range []compute.OpType{
		compute.OpTypeParameter, compute.OpTypeConstant, compute.OpTypeIdentity,
		compute.OpTypeAdd, compute.OpTypeSub, compute.OpTypeMul, compute.OpTypeDiv,
		compute.OpTypeMax, compute.OpTypeMin, compute.OpTypePow, compute.OpTypeRem,
		compute.OpTypeAbs, compute.OpTypeNeg, compute.OpTypeExp, compute.OpTypeLog,
		compute.OpTypeSqrt, compute.OpTypeRsqrt, compute.OpTypeTanh, compute.OpTypeLogistic,
		compute.OpTypeCos, compute.OpTypeSin, compute.OpTypeErf, compute.OpTypeFloor,
		compute.OpTypeCeil, compute.OpTypeSign, compute.OpTypeRound,
		compute.OpTypeEqual, compute.OpTypeNotEqual, compute.OpTypeGreaterThan,
		compute.OpTypeGreaterOrEqual, compute.OpTypeLessThan, compute.OpTypeLessOrEqual,
		compute.OpTypeLogicalAnd, compute.OpTypeLogicalOr, compute.OpTypeLogicalNot,
		compute.OpTypeWhere, compute.OpTypeClamp, compute.OpTypeConvertDType,
		compute.OpTypeReshape, compute.OpTypeTranspose, compute.OpTypeConcatenate,
		compute.OpTypeSlice, compute.OpTypeBroadcastInDim, compute.OpTypeIota,
		compute.OpTypeReduceSum, compute.OpTypeReduceMax, compute.OpTypeReduceMin,
		compute.OpTypeReduceProduct, compute.OpTypeDotGeneral, compute.OpTypeGather,
		compute.OpTypeFusedSoftmax, compute.OpTypeConvGeneral, compute.OpTypeFusedLayerNorm,
		compute.OpTypeFusedGelu, compute.OpTypeFusedScaledDotProductAttention,
	} {
		ops[op] = true
	}
	return compute.Capabilities{
		Operations: ops,
		DTypes: map[dtypes.DType]bool{
			dtypes.Float32: true, dtypes.Float64: true, dtypes.Int32: true,
			dtypes.Int64: true, dtypes.Bool: true,
		},
	}
}

// Builder implements compute.Backend.
func (r *Recorder) Builder(name string) compute.Builder {
	b := &builder{name: name, ortOps: r.ortOps}
	b.main = &function{b: b}
	b.main.ErrFn = func(op compute.OpType) error {
		return fmt.Errorf("onnx: op %s is not supported by the ONNX exporter: %w", op, compute.ErrNotImplemented)
	}
	return b
}

// value is a tensor of the recorded graph: a graph input, an initializer
// or a node output.
type value struct {
	name  string
	shape shapes.Shape
	prod  *node // nil for inputs and initializers
	// unexpanded, for the output of an Expand, is Expand's input (of the
	// same rank, ones on the broadcast axes): elementwise ops read it
	// instead and broadcast it themselves, so that the expanded tensor is
	// never made when nothing else reads it.
	unexpanded *value
}

// node is one recorded ONNX node.
type node struct {
	op      string
	domain  string // "" for the default opset
	inputs  []*value
	outputs []*value
	attrs   []attr
}

// initializer is a constant tensor of the recorded graph.
type initializer struct {
	v   *value
	raw []byte
}

// builder records one graph.
type builder struct {
	name     string
	ortOps   bool // ONNX Runtime's com.microsoft ops may be used
	main     *function
	params   []*value
	inits    []*initializer
	nodes    []*node
	outputs  []*value
	counter  int
	compiled bool
}

func (b *builder) Name() string           { return b.name }
func (b *builder) Main() compute.Function { return b.main }
func (b *builder) NewFunction(name string) (compute.Function, error) {
	return nil, fmt.Errorf("onnx: sub-functions are not supported by the ONNX exporter: %w", compute.ErrNotImplemented)
}
func (b *builder) OpShape(op compute.Value) (shapes.Shape, error) { return b.main.Shape(op) }
func (b *builder) DistributedSPMD(int) error {
	return fmt.Errorf("onnx: distributed graphs are not supported: %w", compute.ErrNotImplemented)
}
func (b *builder) DistributedAutoSharding(...compute.Mesh) error {
	return fmt.Errorf("onnx: distributed graphs are not supported: %w", compute.ErrNotImplemented)
}
func (b *builder) DeviceAssignment(devices ...compute.DeviceNum) error {
	if len(devices) > 1 || (len(devices) == 1 && devices[0] != 0) {
		return fmt.Errorf("onnx: only device 0: %w", compute.ErrNotImplemented)
	}
	return nil
}

// Compile finishes the graph; the returned *Executable carries it.
func (b *builder) Compile() (compute.Executable, error) {
	if b.outputs == nil {
		return nil, fmt.Errorf("onnx: Compile before Return")
	}
	b.compiled = true
	return &Executable{b: b}, nil
}

// fresh returns a new unique tensor name.
func (b *builder) fresh(prefix string) string {
	b.counter++
	return fmt.Sprintf("%s_%d", prefix, b.counter)
}

// function is the main function of a recorded graph. Ops that are not
// overridden here return the not-implemented error of the embedded
// notimplemented.Function.
type function struct {
	notimplemented.Function
	b *builder
}

func (f *function) Name() string             { return compute.MainName }
func (f *function) Builder() compute.Builder { return f.b }
func (f *function) Parent() compute.Function { return nil }
func (f *function) Closure() (compute.Function, error) {
	return nil, fmt.Errorf("onnx: closures (While, If, Sort) are not supported by the ONNX exporter: %w", compute.ErrNotImplemented)
}
func (f *function) Call(compute.Function, ...compute.Value) ([]compute.Value, error) {
	return nil, fmt.Errorf("onnx: Call is not supported by the ONNX exporter: %w", compute.ErrNotImplemented)
}

func (f *function) val(v compute.Value) (*value, error) {
	x, ok := v.(*value)
	if !ok || x == nil {
		return nil, fmt.Errorf("onnx: value %T is not of this builder", v)
	}
	return x, nil
}

func (f *function) vals(vs ...compute.Value) ([]*value, error) {
	out := make([]*value, len(vs))
	for i, v := range vs {
		x, err := f.val(v)
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

// Shape implements compute.Function.
func (f *function) Shape(v compute.Value) (shapes.Shape, error) {
	x, err := f.val(v)
	if err != nil {
		return shapes.Invalid(), err
	}
	return x.shape, nil
}

// Parameter implements compute.Function: a graph input.
func (f *function) Parameter(name string, shape shapes.Shape, _ *compute.ShardingSpec) (compute.Value, error) {
	if _, err := onnxType(shape.DType); err != nil {
		return nil, fmt.Errorf("onnx: parameter %q: %w", name, err)
	}
	if shape.IsDynamic() {
		return nil, fmt.Errorf("onnx: parameter %q has dynamic shape %s: %w", name, shape, compute.ErrNotImplemented)
	}
	v := &value{name: name, shape: shape}
	f.b.params = append(f.b.params, v)
	return v, nil
}

// Constant implements compute.Function: an initializer.
func (f *function) Constant(flat any, dims ...int) (compute.Value, error) {
	raw, err := rawData(flat)
	if err != nil {
		return nil, err
	}
	dt := dtypes.FromAny(sliceElem(flat))
	return f.constant(raw, shapes.Make(dt, dims...))
}

func sliceElem(flat any) any {
	switch flat.(type) {
	case []float32:
		return float32(0)
	case []float64:
		return float64(0)
	case []int32:
		return int32(0)
	case []int64:
		return int64(0)
	case []bool:
		return false
	}
	return nil
}

func (f *function) constant(raw []byte, shape shapes.Shape) (*value, error) {
	if _, err := onnxType(shape.DType); err != nil {
		return nil, err
	}
	v := &value{name: f.b.fresh("const"), shape: shape}
	f.b.inits = append(f.b.inits, &initializer{v: v, raw: raw})
	return v, nil
}

// ints64 is an int64 initializer [len(v)] (shapes, axes, slice bounds).
func (f *function) ints64(v []int) *value {
	x := make([]int64, len(v))
	for i, d := range v {
		x[i] = int64(d)
	}
	raw, _ := rawData(x)
	c, _ := f.constant(raw, shapes.Make(dtypes.Int64, len(v)))
	return c
}

// emit records a node with one output of the given shape.
func (f *function) emit(op string, shape shapes.Shape, inputs []*value, attrs ...attr) *value {
	out := &value{name: f.b.fresh(op), shape: shape}
	n := &node{op: op, inputs: inputs, outputs: []*value{out}, attrs: attrs}
	out.prod = n
	f.b.nodes = append(f.b.nodes, n)
	return out
}

// Return implements compute.Function.
func (f *function) Return(outputs []compute.Value, _ []*compute.ShardingSpec) error {
	if len(outputs) == 0 {
		return fmt.Errorf("onnx: a graph needs at least one output")
	}
	outs, err := f.vals(outputs...)
	if err != nil {
		return err
	}
	// ONNX outputs must be node outputs with unique names: route inputs,
	// initializers and repeated values through Identity nodes.
	seen := map[*value]bool{}
	for i, o := range outs {
		if o.prod == nil || seen[o] {
			outs[i] = f.emit("Identity", o.shape, []*value{o})
		}
		seen[outs[i]] = true
	}
	f.b.outputs = outs
	return nil
}

// Identity implements compute.Function.
func (f *function) Identity(x compute.Value) (compute.Value, error) {
	v, err := f.val(x)
	if err != nil {
		return nil, err
	}
	return f.emit("Identity", v.shape, []*value{v}), nil
}

func (f *function) binary(opType compute.OpType, op string, lhs, rhs compute.Value, attrs ...attr) (compute.Value, error) {
	vs, err := f.vals(lhs, rhs)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.BinaryOp(opType, vs[0].shape, vs[1].shape)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", op, err)
	}
	return f.emit(op, shape, unexpand(shape, vs), attrs...), nil
}

// unexpand replaces the operands of an elementwise op with output shape
// out that are expanded tensors by their unexpanded inputs, as long as
// ONNX's broadcasting of the operands still gives out.
func unexpand(out shapes.Shape, vs []*value) []*value {
	rs := slices.Clone(vs)
	for i, v := range vs {
		if v.unexpanded == nil {
			continue
		}
		try := slices.Clone(rs)
		try[i] = v.unexpanded
		if dims := broadcastDims(try); dims != nil && slices.Equal(dims, out.Dimensions) {
			rs = try
		}
	}
	return rs
}

// broadcastDims is ONNX's multidirectional broadcast of the operands'
// shapes (nil when they do not broadcast). Scalars broadcast to anything.
func broadcastDims(vs []*value) []int {
	var dims []int
	for _, v := range vs {
		d := v.shape.Dimensions
		if len(d) == 0 {
			continue
		}
		if dims == nil {
			dims = slices.Clone(d)
			continue
		}
		if len(d) != len(dims) {
			return nil
		}
		for k := range d {
			switch {
			case dims[k] == d[k], d[k] == 1:
			case dims[k] == 1:
				dims[k] = d[k]
			default:
				return nil
			}
		}
	}
	if dims == nil {
		return []int{}
	}
	return dims
}

func (f *function) compare(opType compute.OpType, op string, lhs, rhs compute.Value, not bool) (compute.Value, error) {
	vs, err := f.vals(lhs, rhs)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.ComparisonOp(opType, vs[0].shape, vs[1].shape)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", op, err)
	}
	out := f.emit(op, shape, vs)
	if not {
		out = f.emit("Not", shape, []*value{out})
	}
	return out, nil
}

func (f *function) unary(opType compute.OpType, op string, x compute.Value) (compute.Value, error) {
	v, err := f.val(x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.UnaryOp(opType, v.shape)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", op, err)
	}
	return f.emit(op, shape, []*value{v}), nil
}

// Binary ops (ONNX broadcasting covers GoMLX's scalar operands).

func (f *function) Add(l, r compute.Value) (compute.Value, error) {
	return f.binary(compute.OpTypeAdd, "Add", l, r)
}
func (f *function) Sub(l, r compute.Value) (compute.Value, error) {
	return f.binary(compute.OpTypeSub, "Sub", l, r)
}
func (f *function) Mul(l, r compute.Value) (compute.Value, error) {
	return f.binary(compute.OpTypeMul, "Mul", l, r)
}
func (f *function) Div(l, r compute.Value) (compute.Value, error) {
	return f.binary(compute.OpTypeDiv, "Div", l, r)
}
func (f *function) Max(l, r compute.Value) (compute.Value, error) {
	return f.binary(compute.OpTypeMax, "Max", l, r)
}
func (f *function) Min(l, r compute.Value) (compute.Value, error) {
	return f.binary(compute.OpTypeMin, "Min", l, r)
}
func (f *function) Pow(l, r compute.Value) (compute.Value, error) {
	return f.binary(compute.OpTypePow, "Pow", l, r)
}
func (f *function) Rem(l, r compute.Value) (compute.Value, error) {
	return f.binary(compute.OpTypeRem, "Mod", l, r, intAttr("fmod", 1))
}
func (f *function) LogicalAnd(l, r compute.Value) (compute.Value, error) {
	return f.binary(compute.OpTypeLogicalAnd, "And", l, r)
}
func (f *function) LogicalOr(l, r compute.Value) (compute.Value, error) {
	return f.binary(compute.OpTypeLogicalOr, "Or", l, r)
}

// Comparisons.

func (f *function) Equal(l, r compute.Value) (compute.Value, error) {
	return f.compare(compute.OpTypeEqual, "Equal", l, r, false)
}
func (f *function) NotEqual(l, r compute.Value) (compute.Value, error) {
	return f.compare(compute.OpTypeNotEqual, "Equal", l, r, true)
}
func (f *function) GreaterThan(l, r compute.Value) (compute.Value, error) {
	return f.compare(compute.OpTypeGreaterThan, "Greater", l, r, false)
}
func (f *function) GreaterOrEqual(l, r compute.Value) (compute.Value, error) {
	return f.compare(compute.OpTypeGreaterOrEqual, "GreaterOrEqual", l, r, false)
}
func (f *function) LessThan(l, r compute.Value) (compute.Value, error) {
	return f.compare(compute.OpTypeLessThan, "Less", l, r, false)
}
func (f *function) LessOrEqual(l, r compute.Value) (compute.Value, error) {
	return f.compare(compute.OpTypeLessOrEqual, "LessOrEqual", l, r, false)
}

// Unary ops.

func (f *function) Abs(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeAbs, "Abs", x)
}
func (f *function) Neg(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeNeg, "Neg", x)
}
func (f *function) Exp(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeExp, "Exp", x)
}
func (f *function) Log(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeLog, "Log", x)
}
func (f *function) Sqrt(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeSqrt, "Sqrt", x)
}
func (f *function) Tanh(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeTanh, "Tanh", x)
}
func (f *function) Logistic(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeLogistic, "Sigmoid", x)
}
func (f *function) Cos(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeCos, "Cos", x)
}
func (f *function) Sin(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeSin, "Sin", x)
}
func (f *function) Erf(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeErf, "Erf", x)
}
func (f *function) Floor(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeFloor, "Floor", x)
}
func (f *function) Ceil(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeCeil, "Ceil", x)
}
func (f *function) Sign(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeSign, "Sign", x)
}
func (f *function) Round(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeRound, "Round", x)
}
func (f *function) LogicalNot(x compute.Value) (compute.Value, error) {
	return f.unary(compute.OpTypeLogicalNot, "Not", x)
}

// Rsqrt is Reciprocal(Sqrt(x)).
func (f *function) Rsqrt(x compute.Value) (compute.Value, error) {
	s, err := f.unary(compute.OpTypeRsqrt, "Sqrt", x)
	if err != nil {
		return nil, err
	}
	v := s.(*value)
	return f.emit("Reciprocal", v.shape, []*value{v}), nil
}

// Clamp is Min(Max(x, lo), hi).
func (f *function) Clamp(lo, x, hi compute.Value) (compute.Value, error) {
	vs, err := f.vals(lo, x, hi)
	if err != nil {
		return nil, err
	}
	m := f.emit("Max", vs[1].shape, []*value{vs[1], vs[0]})
	return f.emit("Min", vs[1].shape, []*value{m, vs[2]}), nil
}

// Where implements compute.Function.
func (f *function) Where(cond, onTrue, onFalse compute.Value) (compute.Value, error) {
	vs, err := f.vals(cond, onTrue, onFalse)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.Where(vs[0].shape, vs[1].shape, vs[2].shape)
	if err != nil {
		return nil, fmt.Errorf("onnx: Where: %w", err)
	}
	return f.emit("Where", shape, unexpand(shape, vs)), nil
}

// ConvertDType is Cast.
func (f *function) ConvertDType(x compute.Value, dt dtypes.DType) (compute.Value, error) {
	v, err := f.val(x)
	if err != nil {
		return nil, err
	}
	to, err := onnxType(dt)
	if err != nil {
		return nil, err
	}
	return f.emit("Cast", shapes.Make(dt, v.shape.Dimensions...), []*value{v}, intAttr("to", to)), nil
}

// Reshape implements compute.Function.
func (f *function) Reshape(x compute.Value, dims ...int) (compute.Value, error) {
	v, err := f.val(x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.Reshape(v.shape, dims)
	if err != nil {
		return nil, fmt.Errorf("onnx: Reshape: %w", err)
	}
	return f.reshape(v, shape.Dimensions), nil
}

func (f *function) reshape(v *value, dims []int) *value {
	if slices.Equal(v.shape.Dimensions, dims) {
		return v
	}
	return f.emit("Reshape", shapes.Make(v.shape.DType, dims...), []*value{v, f.ints64(dims)})
}

// Transpose implements compute.Function.
func (f *function) Transpose(x compute.Value, perm ...int) (compute.Value, error) {
	v, err := f.val(x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.Transpose(v.shape, perm)
	if err != nil {
		return nil, fmt.Errorf("onnx: Transpose: %w", err)
	}
	return f.transpose(v, perm, shape), nil
}

func (f *function) transpose(v *value, perm []int, shape shapes.Shape) *value {
	identity := true
	for i, p := range perm {
		identity = identity && p == i
	}
	if identity {
		return v
	}
	return f.emit("Transpose", shape, []*value{v}, intsAttr("perm", perm))
}

// permute is transpose with the output shape derived from perm: axis i of
// the result is axis perm[i] of v.
func (f *function) permute(v *value, perm []int) *value {
	dims := make([]int, len(perm))
	for i, p := range perm {
		dims[i] = v.shape.Dimensions[p]
	}
	return f.transpose(v, perm, shapes.Make(v.shape.DType, dims...))
}

// Concatenate implements compute.Function.
func (f *function) Concatenate(axis int, operands ...compute.Value) (compute.Value, error) {
	vs, err := f.vals(operands...)
	if err != nil {
		return nil, err
	}
	ss := make([]shapes.Shape, len(vs))
	for i, v := range vs {
		ss[i] = v.shape
	}
	shape, err := shapeinference.Concatenate(ss, axis)
	if err != nil {
		return nil, fmt.Errorf("onnx: Concatenate: %w", err)
	}
	if len(vs) == 1 {
		return vs[0], nil
	}
	return f.emit("Concat", shape, vs, intAttr("axis", axis)), nil
}

// Slice implements compute.Function.
func (f *function) Slice(x compute.Value, starts, limits, strides []int) (compute.Value, error) {
	v, err := f.val(x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.Slice(v.shape, starts, limits, strides)
	if err != nil {
		return nil, fmt.Errorf("onnx: Slice: %w", err)
	}
	axes := make([]int, v.shape.Rank())
	for i := range axes {
		axes[i] = i
	}
	if len(strides) == 0 {
		strides = make([]int, len(axes))
		for i := range strides {
			strides[i] = 1
		}
	}
	return f.emit("Slice", shape, []*value{v, f.ints64(starts), f.ints64(limits), f.ints64(axes), f.ints64(strides)}), nil
}

// BroadcastInDim is a Reshape that puts the operand's axes where
// broadcastAxes says (ones elsewhere) followed by Expand.
func (f *function) BroadcastInDim(operand compute.Value, outputShape shapes.Shape, broadcastAxes []int) (compute.Value, error) {
	v, err := f.val(operand)
	if err != nil {
		return nil, err
	}
	if err := shapeinference.BroadcastInDim(v.shape, outputShape, broadcastAxes, nil); err != nil {
		return nil, fmt.Errorf("onnx: BroadcastInDim: %w", err)
	}
	if !slices.IsSorted(broadcastAxes) {
		// Bring the operand's axes into the order they take in the output.
		order := make([]int, len(broadcastAxes))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return broadcastAxes[a] - broadcastAxes[b] })
		sorted := make([]int, len(order))
		for i, o := range order {
			sorted[i] = broadcastAxes[o]
		}
		v = f.permute(v, order)
		broadcastAxes = sorted
	}
	mid := make([]int, outputShape.Rank())
	for i := range mid {
		mid[i] = 1
	}
	for k, a := range broadcastAxes {
		mid[a] = v.shape.Dimensions[k]
	}
	v = f.reshape(v, mid)
	if slices.Equal(mid, outputShape.Dimensions) {
		return v, nil
	}
	out := f.emit("Expand", shapes.Make(v.shape.DType, outputShape.Dimensions...), []*value{v, f.ints64(outputShape.Dimensions)})
	out.unexpanded = v
	return out, nil
}

// Iota is recorded as a constant (shapes are static).
func (f *function) Iota(shape shapes.Shape, axis int) (compute.Value, error) {
	n := shape.Size()
	stride := 1
	for _, d := range shape.Dimensions[axis+1:] {
		stride *= d
	}
	dim := shape.Dimensions[axis]
	idx := func(i int) int { return i / stride % dim }
	var flat any
	switch shape.DType {
	case dtypes.Float32:
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(idx(i))
		}
		flat = x
	case dtypes.Float64:
		x := make([]float64, n)
		for i := range x {
			x[i] = float64(idx(i))
		}
		flat = x
	case dtypes.Int32:
		x := make([]int32, n)
		for i := range x {
			x[i] = int32(idx(i))
		}
		flat = x
	case dtypes.Int64:
		x := make([]int64, n)
		for i := range x {
			x[i] = int64(idx(i))
		}
		flat = x
	default:
		return nil, fmt.Errorf("onnx: Iota of %s: %w", shape.DType, compute.ErrNotImplemented)
	}
	raw, err := rawData(flat)
	if err != nil {
		return nil, err
	}
	return f.constant(raw, shape)
}

func (f *function) reduce(op string, x compute.Value, axes []int, axesInput bool) (compute.Value, error) {
	v, err := f.val(x)
	if err != nil {
		return nil, err
	}
	if len(axes) == 0 {
		return v, nil
	}
	shape, err := shapeinference.Reduce(v.shape, axes)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", op, err)
	}
	if axesInput {
		return f.emit(op, shape, []*value{v, f.ints64(axes)}, intAttr("keepdims", 0)), nil
	}
	return f.emit(op, shape, []*value{v}, intsAttr("axes", axes), intAttr("keepdims", 0)), nil
}

// ReduceSum implements compute.Function (opset 17: axes as an input).
func (f *function) ReduceSum(x compute.Value, axes ...int) (compute.Value, error) {
	return f.reduce("ReduceSum", x, axes, true)
}

// ReduceMax implements compute.Function (opset 17: axes as an attribute).
func (f *function) ReduceMax(x compute.Value, axes ...int) (compute.Value, error) {
	return f.reduce("ReduceMax", x, axes, false)
}

// ReduceMin implements compute.Function.
func (f *function) ReduceMin(x compute.Value, axes ...int) (compute.Value, error) {
	return f.reduce("ReduceMin", x, axes, false)
}

// ReduceProduct implements compute.Function.
func (f *function) ReduceProduct(x compute.Value, axes ...int) (compute.Value, error) {
	return f.reduce("ReduceProd", x, axes, false)
}

// FusedSoftmax is ONNX Softmax over one axis.
func (f *function) FusedSoftmax(x compute.Value, axis int) (compute.Value, error) {
	v, err := f.val(x)
	if err != nil {
		return nil, err
	}
	return f.emit("Softmax", v.shape, []*value{v}, intAttr("axis", axis)), nil
}

// DotGeneral is lowered to MatMul: each operand is transposed to [batch,
// free, contracting] (lhs) or [batch, contracting, free] (rhs) and
// flattened to rank 3 (rank 2 without batch axes); the product is reshaped
// to [batch..., lhs free..., rhs free...]. Operands already in that form
// (the dense layers) become a single MatMul.
func (f *function) DotGeneral(lhs compute.Value, lhsContracting, lhsBatch []int, rhs compute.Value,
	rhsContracting, rhsBatch []int, config compute.DotGeneralConfig) (compute.Value, error) {
	vs, err := f.vals(lhs, rhs)
	if err != nil {
		return nil, err
	}
	l, r := vs[0], vs[1]
	outShape, err := shapeinference.DotGeneral(l.shape, lhsContracting, lhsBatch, r.shape, rhsContracting, rhsBatch, config)
	if err != nil {
		return nil, fmt.Errorf("onnx: DotGeneral: %w", err)
	}
	lFree := freeAxes(l.shape.Rank(), lhsContracting, lhsBatch)
	rFree := freeAxes(r.shape.Rank(), rhsContracting, rhsBatch)
	prod := func(s shapes.Shape, axes []int) int {
		n := 1
		for _, a := range axes {
			n *= s.Dimensions[a]
		}
		return n
	}
	B, M, K := prod(l.shape, lhsBatch), prod(l.shape, lFree), prod(l.shape, lhsContracting)
	N := prod(r.shape, rFree)
	lPerm := slices.Concat(lhsBatch, lFree, lhsContracting)
	rPerm := slices.Concat(rhsBatch, rhsContracting, rFree)
	lFlat, rFlat, pDims := []int{M, K}, []int{K, N}, []int{M, N}
	if len(lhsBatch) > 0 {
		lFlat, rFlat, pDims = []int{B, M, K}, []int{B, K, N}, []int{B, M, N}
	}
	dt := l.shape.DType
	lv := f.reshape(f.permute(l, lPerm), lFlat)
	rv := f.reshape(f.permute(r, rPerm), rFlat)
	out := f.emit("MatMul", shapes.Make(dt, pDims...), []*value{lv, rv})
	out = f.reshape(out, outShape.Dimensions)
	if outShape.DType != dt {
		to, err := onnxType(outShape.DType)
		if err != nil {
			return nil, err
		}
		out = f.emit("Cast", outShape, []*value{out}, intAttr("to", to))
	}
	return out, nil
}

func freeAxes(rank int, contracting, batch []int) []int {
	var free []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			free = append(free, a)
		}
	}
	return free
}

// Gather supports the gathers of whole slices along one axis (what
// graph.Gather of rows and model's neighbourhood and remap gathers emit):
// one index per slice, the gathered axis collapsed, full slices elsewhere.
// It becomes ONNX Gather, then a Transpose when the XLA-style output axis
// order differs. Unlike XLA, ONNX rejects out-of-range indices instead of
// clamping them.
func (f *function) Gather(operand, startIndices compute.Value, indexVectorAxis int,
	offsetOutputAxes, collapsedSliceAxes, startIndexMap, sliceSizes []int, indicesAreSorted bool) (compute.Value, error) {
	vs, err := f.vals(operand, startIndices)
	if err != nil {
		return nil, err
	}
	op, ind := vs[0], vs[1]
	outShape, err := shapeinference.Gather(op.shape, ind.shape, indexVectorAxis, offsetOutputAxes,
		collapsedSliceAxes, startIndexMap, sliceSizes, indicesAreSorted)
	if err != nil {
		return nil, fmt.Errorf("onnx: Gather: %w", err)
	}
	unsupported := fmt.Errorf("onnx: Gather with start index map %v, collapsed axes %v, slice sizes %v: only single-axis gathers of whole slices are exported: %w",
		startIndexMap, collapsedSliceAxes, sliceSizes, compute.ErrNotImplemented)
	if len(startIndexMap) != 1 || len(collapsedSliceAxes) != 1 || collapsedSliceAxes[0] != startIndexMap[0] {
		return nil, unsupported
	}
	a := startIndexMap[0]
	for i, s := range sliceSizes {
		if (i == a && s != 1) || (i != a && s != op.shape.Dimensions[i]) {
			return nil, unsupported
		}
	}
	// Indices without the index vector axis.
	var batch []int
	for i, d := range ind.shape.Dimensions {
		if i != indexVectorAxis {
			batch = append(batch, d)
		}
	}
	if indexVectorAxis < ind.shape.Rank() {
		ind = f.reshape(ind, batch)
	}
	nb := len(batch)
	var ox []int // ONNX output dims: operand[:a], batch, operand[a+1:]
	ox = append(ox, op.shape.Dimensions[:a]...)
	ox = append(ox, batch...)
	ox = append(ox, op.shape.Dimensions[a+1:]...)
	g := f.emit("Gather", shapes.Make(op.shape.DType, ox...), []*value{op, ind}, intAttr("axis", a))
	// Permutation from ONNX axis order to the XLA output order.
	perm := make([]int, outShape.Rank())
	j := 0
	for p := range perm {
		if k := slices.Index(offsetOutputAxes, p); k >= 0 {
			if k < a {
				perm[p] = k
			} else {
				perm[p] = k + nb
			}
		} else {
			perm[p] = a + j
			j++
		}
	}
	return f.transpose(g, perm, outShape), nil
}

// ConvGeneral is ONNX Conv, which takes the input as [batch, channels,
// spatial...] and the kernel as [out, in, spatial...]: both are transposed
// to that form (a weight's transpose is folded by ONNX Runtime when the
// session loads), and the result is transposed to the output axes that
// axes asks for. Input dilations and batch groups are not supported.
func (f *function) ConvGeneral(input, kernel compute.Value, axes compute.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount int) (compute.Value, error) {
	vs, err := f.vals(input, kernel)
	if err != nil {
		return nil, err
	}
	x, k := vs[0], vs[1]
	outShape, err := shapeinference.ConvGeneral(x.shape, k.shape, axes, strides, paddings, inputDilations, kernelDilations, channelGroupCount, batchGroupCount)
	if err != nil {
		return nil, fmt.Errorf("onnx: ConvGeneral: %w", err)
	}
	for _, d := range inputDilations {
		if d != 1 {
			return nil, fmt.Errorf("onnx: ConvGeneral with input dilations %v: %w", inputDilations, compute.ErrNotImplemented)
		}
	}
	if batchGroupCount > 1 {
		return nil, fmt.Errorf("onnx: ConvGeneral with batch groups: %w", compute.ErrNotImplemented)
	}
	nsp := len(axes.InputSpatial)
	xv := f.permute(x, slices.Concat([]int{axes.InputBatch, axes.InputChannels}, axes.InputSpatial))
	kv := f.permute(k, slices.Concat([]int{axes.KernelOutputChannels, axes.KernelInputChannels}, axes.KernelSpatial))
	ones := func(v []int) []int {
		if len(v) == 0 {
			v = make([]int, nsp)
			for i := range v {
				v[i] = 1
			}
		}
		return v
	}
	pads := make([]int, 2*nsp)
	for i, p := range paddings {
		pads[i], pads[nsp+i] = p[0], p[1]
	}
	convDims := []int{outShape.Dimensions[axes.OutputBatch], outShape.Dimensions[axes.OutputChannels]}
	for _, a := range axes.OutputSpatial {
		convDims = append(convDims, outShape.Dimensions[a])
	}
	out := f.emit("Conv", shapes.Make(outShape.DType, convDims...), []*value{xv, kv},
		intsAttr("kernel_shape", kv.shape.Dimensions[2:]), intsAttr("pads", pads),
		intsAttr("strides", ones(strides)), intsAttr("dilations", ones(kernelDilations)),
		intAttr("group", max(1, channelGroupCount)))
	// Output axis j of the result is axis perm[j] of Conv's [batch,
	// channels, spatial...].
	perm := make([]int, outShape.Rank())
	perm[axes.OutputBatch], perm[axes.OutputChannels] = 0, 1
	for i, a := range axes.OutputSpatial {
		perm[a] = 2 + i
	}
	return f.transpose(out, perm, outShape), nil
}

// FusedLayerNorm is ONNX LayerNormalization (opset 17) over trailing axes;
// a missing gamma is ones. Other axes fall back to the decomposed form.
func (f *function) FusedLayerNorm(x compute.Value, axes []int, epsilon float64, gamma, beta compute.Value) (compute.Value, error) {
	v, err := f.val(x)
	if err != nil {
		return nil, err
	}
	r := v.shape.Rank()
	if len(axes) == 0 || v.shape.DType != dtypes.Float32 {
		return nil, fmt.Errorf("onnx: FusedLayerNorm over %v of %s: %w", axes, v.shape, compute.ErrNotImplemented)
	}
	for i, a := range axes {
		if a != r-len(axes)+i {
			return nil, fmt.Errorf("onnx: FusedLayerNorm over %v (not the trailing axes): %w", axes, compute.ErrNotImplemented)
		}
	}
	norm := v.shape.Dimensions[axes[0]:]
	operand := func(p compute.Value, fill float32) (*value, error) {
		if p != nil {
			pv, err := f.val(p)
			if err != nil {
				return nil, err
			}
			if !slices.Equal(pv.shape.Dimensions, norm) {
				return nil, fmt.Errorf("onnx: FusedLayerNorm: scale or bias %s, want %v: %w", pv.shape, norm, compute.ErrNotImplemented)
			}
			return pv, nil
		}
		n := 1
		for _, d := range norm {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = fill
		}
		raw, _ := rawData(data)
		return f.constant(raw, shapes.Make(dtypes.Float32, norm...))
	}
	scale, err := operand(gamma, 1)
	if err != nil {
		return nil, err
	}
	ins := []*value{v, scale}
	if beta != nil {
		b, err := operand(beta, 0)
		if err != nil {
			return nil, err
		}
		ins = append(ins, b)
	}
	return f.emit("LayerNormalization", v.shape, ins, intAttr("axis", axes[0]), floatAttr("epsilon", float32(epsilon))), nil
}

// FusedGelu is ONNX Runtime's FastGelu (the tanh approximation, domain
// com.microsoft) when the builder may use ONNX Runtime's own ops
// (NewORTRecorder, Spec.ORTOps); otherwise, and for the exact form, the decomposed
// form is recorded.
func (f *function) FusedGelu(x compute.Value, exact bool) (compute.Value, error) {
	v, err := f.val(x)
	if err != nil {
		return nil, err
	}
	if exact || !f.b.ortOps || v.shape.DType != dtypes.Float32 {
		return nil, fmt.Errorf("onnx: FusedGelu (exact %v, ONNX Runtime ops %v): %w", exact, f.b.ortOps, compute.ErrNotImplemented)
	}
	out := f.emit("FastGelu", v.shape, []*value{v})
	out.prod.domain = DomainMicrosoft
	return out, nil
}

// FusedScaledDotProductAttention is ONNX Runtime's MultiHeadAttention
// (domain com.microsoft) for [batch, seq, heads, dim] operands without a
// mask, bias or causal masking, when the builder may use ONNX Runtime's own
// ops: the heads are split inside the op, so the transposes of the
// decomposed form are not written. Otherwise the decomposed form is
// recorded.
func (f *function) FusedScaledDotProductAttention(query, key, val compute.Value, axesLayout compute.AttentionAxesLayout,
	options *compute.ScaledDotProductAttentionConfig) (compute.Value, []compute.Value, error) {
	vs, err := f.vals(query, key, val)
	if err != nil {
		return nil, nil, err
	}
	q, k, v := vs[0], vs[1], vs[2]
	plain := options == nil || (options.Mask == nil && options.Bias == nil && !options.Causal &&
		options.QuerySeqLen == nil && options.KeyValueSeqLen == nil)
	if !f.b.ortOps || axesLayout != compute.AttentionAxesLayoutBSHD || !plain || q.shape.Rank() != 4 ||
		q.shape.DType != dtypes.Float32 || !k.shape.Equal(v.shape) || k.shape.Dimensions[2] != q.shape.Dimensions[2] ||
		k.shape.Dimensions[3] != q.shape.Dimensions[3] {
		return nil, nil, fmt.Errorf("onnx: FusedScaledDotProductAttention of %s, %s, %s: %w", q.shape, k.shape, v.shape, compute.ErrNotImplemented)
	}
	b, s, h, d := q.shape.Dimensions[0], q.shape.Dimensions[1], q.shape.Dimensions[2], q.shape.Dimensions[3]
	l := k.shape.Dimensions[1]
	scale := 1 / math.Sqrt(float64(d))
	if options != nil && options.Scale != 0 {
		scale = options.Scale
	}
	out := f.emit("MultiHeadAttention", shapes.Make(dtypes.Float32, b, s, h*d),
		[]*value{f.reshape(q, []int{b, s, h * d}), f.reshape(k, []int{b, l, h * d}), f.reshape(v, []int{b, l, h * d})},
		intAttr("num_heads", h), floatAttr("scale", float32(scale)))
	out.prod.domain = DomainMicrosoft
	return f.reshape(out, []int{b, s, h, d}), nil, nil
}
