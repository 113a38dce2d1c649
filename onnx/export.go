package onnx

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// Executable is what compiling a graph on a Recorder returns: the recorded
// graph. It cannot execute; Encode writes it as an ONNX model.
type Executable struct {
	b *builder
}

var _ compute.Executable = (*Executable)(nil)

// ErrNoExecution is returned by Executable.Execute.
var ErrNoExecution = errors.New("onnx: the ONNX recorder does not execute graphs (run the exported model with package ort)")

// Finalize implements compute.Executable.
func (e *Executable) Finalize() {}

// Inputs implements compute.Executable: every parameter of the graph.
func (e *Executable) Inputs() ([]string, []shapes.Shape) {
	names := make([]string, len(e.b.params))
	ss := make([]shapes.Shape, len(e.b.params))
	for i, p := range e.b.params {
		names[i], ss[i] = p.name, p.shape
	}
	return names, ss
}

// Outputs implements compute.Executable.
func (e *Executable) Outputs() []shapes.Shape {
	ss := make([]shapes.Shape, len(e.b.outputs))
	for i, o := range e.b.outputs {
		ss[i] = o.shape
	}
	return ss
}

// Execute implements compute.Executable and returns ErrNoExecution.
func (e *Executable) Execute([]compute.Buffer, []bool, compute.DeviceNum) ([]compute.Buffer, error) {
	return nil, ErrNoExecution
}

// TensorInfo names a model input or output and gives its (fixed) shape.
type TensorInfo struct {
	Name  string
	Shape shapes.Shape
}

// Model is an exported network: the encoded ONNX ModelProto and its
// interface.
type Model struct {
	// Name is the graph name.
	Name string
	// Inputs and Outputs are in the order of the graph function's arguments
	// and results. A scalar input is declared as a [1] tensor (reshaped to a
	// scalar inside the model), since onnxruntime_go has no rank-0 tensors.
	Inputs, Outputs []TensorInfo
	// Data is the serialized ONNX ModelProto.
	Data []byte
	// Nodes is the number of ONNX nodes and Initializers the number of
	// initializers (weights and constants) in the model.
	Nodes, Initializers int
	// MatMulFLOPs is 2*M*K*N summed over the model's MatMul nodes (B times
	// that for a batched product) and the same count for its convolutions
	// (2 * output elements * kernel elements per output channel): the
	// dense arithmetic of one run, the numerator of a network's GFLOP/s.
	MatMulFLOPs int64
	// Ops counts the model's nodes by operator (DynamicQuantizeMatMul for
	// the products written in int8).
	Ops map[string]int
}

// WriteFile writes the model to path (an .onnx file).
func (m *Model) WriteFile(path string) error {
	if err := os.WriteFile(path, m.Data, 0o644); err != nil {
		return fmt.Errorf("onnx: writing %s: %w", m.Name, err)
	}
	return nil
}

// Spec says what to export.
type Spec struct {
	// Name is the graph name.
	Name string
	// Fn is the graph function.
	Fn func(scope *mlmodel.Scope, inputs []*graph.Node) []*graph.Node
	// Inputs are the shapes of Fn's inputs.
	Inputs []shapes.Shape
	// InputNames and OutputNames name the model's inputs and outputs; when
	// short, the rest are "input_<i>" and "output_<i>".
	InputNames, OutputNames []string
	// Metadata is written as the model's metadata_props.
	Metadata map[string]string
	// Int8 writes the dense products with weights of at least
	// MinInt8Weights elements as ONNX Runtime's DynamicQuantizeMatMul
	// (domain com.microsoft): int8 weights with a scale per output column,
	// activations quantised per tensor at run time. Such a model runs on
	// ONNX Runtime only, so Int8 implies ORTOps.
	Int8 bool
	// ORTOps lets the model use ONNX Runtime's own ops (NewORTRecorder)
	// where they are faster than the standard ones; such a model runs on
	// ONNX Runtime only.
	ORTOps bool
}

// Export builds spec.Fn for spec.Inputs on a Recorder, with the variables
// of store that the graph reads written as initializers (their current
// values), and encodes the result as an ONNX model with fixed shapes.
func Export(store *mlmodel.Store, spec Spec) (model *Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("onnx: exporting %s: %w", spec.Name, e)
			} else {
				err = fmt.Errorf("onnx: exporting %s: %v", spec.Name, r)
			}
		}
	}()
	rec := NewRecorder()
	if spec.ORTOps || spec.Int8 {
		rec = NewORTRecorder()
	}
	exec, err := mlmodel.NewExec(rec, store, spec.Fn)
	if err != nil {
		return nil, fmt.Errorf("onnx: exporting %s: %w", spec.Name, err)
	}
	exec.WithName(spec.Name)
	g, err := exec.Compile(spec.Inputs...)
	if err != nil {
		return nil, fmt.Errorf("onnx: exporting %s: %w", spec.Name, err)
	}
	return Encode(g, store, spec)
}

// Encode writes a graph compiled on a Recorder as an ONNX model. The
// graph's parameters that name variables of store become initializers;
// the others, in order, are the model's inputs and must match spec.Inputs.
func Encode(g *graph.Graph, store *mlmodel.Store, spec Spec) (*Model, error) {
	ex, ok := g.Executable().(*Executable)
	if !ok {
		return nil, fmt.Errorf("onnx: graph %q was not compiled on an onnx.Recorder", g.Name())
	}
	b := ex.b
	// Live values: what the outputs depend on.
	live := map[*value]bool{}
	var liveNodes []*node
	var visit func(v *value)
	visit = func(v *value) {
		if live[v] {
			return
		}
		live[v] = true
		if v.prod != nil {
			for _, in := range v.prod.inputs {
				visit(in)
			}
			if v == v.prod.outputs[0] {
				liveNodes = append(liveNodes, v.prod)
			}
		}
	}
	for _, o := range b.outputs {
		visit(o)
	}
	// visit appends producers after their inputs: a topological order.
	var qinits []*initializer
	if spec.Int8 {
		var err error
		if qinits, err = quantizeMatMuls(liveNodes, store); err != nil {
			return nil, err
		}
	}
	var domains []string // the operator sets beyond the default one
	for _, n := range liveNodes {
		if n.domain != "" && !slices.Contains(domains, n.domain) {
			domains = append(domains, n.domain)
		}
	}
	// The variables the model reads (after the rewrite, which replaces
	// float weights by their int8 copies).
	read := map[*value]bool{}
	for _, n := range liveNodes {
		for _, in := range n.inputs {
			read[in] = true
		}
	}
	for _, o := range b.outputs {
		read[o] = true
	}

	var graphBytes []byte
	var inputs []TensorInfo
	var scalarNodes []*node
	nInit := 0
	for _, p := range b.params {
		if v := store.GetVariable(p.name); v != nil {
			if !read[p] {
				continue
			}
			t, err := v.Value()
			if err != nil {
				return nil, fmt.Errorf("onnx: variable %s: %w", p.name, err)
			}
			raw, err := tensorRaw(t)
			if err != nil {
				return nil, fmt.Errorf("onnx: variable %s: %w", p.name, err)
			}
			et, _ := onnxType(p.shape.DType)
			graphBytes = appendBytes(graphBytes, 5, tensorProto(p.name, et, p.shape.Dimensions, raw))
			nInit++
			continue
		}
		i := len(inputs)
		if i >= len(spec.Inputs) {
			return nil, fmt.Errorf("onnx: graph %q has more inputs than the %d given", g.Name(), len(spec.Inputs))
		}
		if !p.shape.Equal(spec.Inputs[i]) && !(p.shape.IsScalar() && spec.Inputs[i].Size() == 1) {
			return nil, fmt.Errorf("onnx: graph %q input %d is %s, want %s", g.Name(), i, p.shape, spec.Inputs[i])
		}
		name := fmt.Sprintf("input_%d", i)
		if i < len(spec.InputNames) {
			name = spec.InputNames[i]
		}
		if p.shape.IsScalar() {
			// Scalars enter as [1] and are reshaped inside: onnxruntime_go
			// makes no rank-0 tensors.
			p.name = name + "__scalar"
			var dims []byte
			dims = appendBytes(dims, 1, []byte{0}) // dims [0]: an empty int64 vector
			dims = appendVarint(dims, 2, tInt64)
			dims = appendString(dims, 8, name+"__shape")
			graphBytes = appendBytes(graphBytes, 5, dims)
			nInit++
			in := &value{name: name, shape: shapes.Make(p.shape.DType, 1)}
			shp := &value{name: name + "__shape"}
			scalarNodes = append(scalarNodes, &node{op: "Reshape", inputs: []*value{in, shp}, outputs: []*value{p}})
			inputs = append(inputs, TensorInfo{Name: name, Shape: in.shape})
			continue
		}
		p.name = name
		inputs = append(inputs, TensorInfo{Name: name, Shape: p.shape})
	}
	if len(inputs) != len(spec.Inputs) {
		return nil, fmt.Errorf("onnx: graph %q has %d inputs, want %d", g.Name(), len(inputs), len(spec.Inputs))
	}
	for _, c := range append(b.inits, qinits...) {
		if !read[c.v] {
			continue
		}
		et, _ := onnxType(c.v.shape.DType)
		graphBytes = appendBytes(graphBytes, 5, tensorProto(c.v.name, et, c.v.shape.Dimensions, c.raw))
		nInit++
	}
	var outputs []TensorInfo
	for i, o := range b.outputs {
		name := fmt.Sprintf("output_%d", i)
		if i < len(spec.OutputNames) {
			name = spec.OutputNames[i]
		}
		o.name = name
		outputs = append(outputs, TensorInfo{Name: name, Shape: o.shape})
	}
	for _, n := range append(scalarNodes, liveNodes...) {
		graphBytes = appendBytes(graphBytes, 1, nodeProto(n))
	}
	graphBytes = appendString(graphBytes, 2, spec.Name)
	for _, in := range inputs {
		et, _ := onnxType(in.Shape.DType)
		graphBytes = appendBytes(graphBytes, 11, valueInfo(in.Name, et, in.Shape.Dimensions, nil))
	}
	for _, out := range outputs {
		et, err := onnxType(out.Shape.DType)
		if err != nil {
			return nil, err
		}
		graphBytes = appendBytes(graphBytes, 12, valueInfo(out.Name, et, out.Shape.Dimensions, nil))
	}
	var flops int64
	ops := map[string]int{}
	for _, n := range append(scalarNodes, liveNodes...) {
		ops[n.op]++
	}
	for _, n := range liveNodes {
		switch {
		case n.op == "MatMul" && len(n.inputs) == 2 || n.op == "DynamicQuantizeMatMul":
			flops += matMulFLOPs(n.inputs[0].shape, n.inputs[1].shape)
		case n.op == "Conv":
			flops += convFLOPs(n.outputs[0].shape, n.inputs[1].shape)
		}
	}
	keys := slices.Sorted(maps.Keys(spec.Metadata))
	return &Model{
		MatMulFLOPs: flops, Ops: ops,
		Name: spec.Name, Inputs: inputs, Outputs: outputs,
		Data:  modelProto(graphBytes, "pssr", spec.Metadata, keys, domains),
		Nodes: len(scalarNodes) + len(liveNodes), Initializers: nInit,
	}, nil
}

// tensorRaw returns a tensor's data as little-endian bytes.
func tensorRaw(t *tensors.Tensor) ([]byte, error) {
	var raw []byte
	var err error
	if e := t.ConstFlatData(func(flat any) { raw, err = rawData(flat) }); e != nil {
		return nil, e
	}
	return raw, err
}

// convFLOPs returns 2 * (output elements) * (kernel elements per output
// channel) for a Conv with output [N, M, spatial...] and kernel [M, C/group,
// kernel spatial...]: the products of the same convolution done as a MatMul.
func convFLOPs(out, kernel shapes.Shape) int64 {
	n := int64(2)
	for _, d := range out.Dimensions {
		n *= int64(d)
	}
	for _, d := range kernel.Dimensions[1:] {
		n *= int64(d)
	}
	return n
}

// matMulFLOPs returns 2*B*M*K*N for a MatMul of a [B..., M, K] and b
// [B..., K, N] (batch axes of a).
func matMulFLOPs(a, b shapes.Shape) int64 {
	if a.Rank() < 2 || b.Rank() < 2 {
		return 0
	}
	n := int64(2) * int64(b.Dimensions[b.Rank()-1])
	for _, d := range a.Dimensions {
		n *= int64(d)
	}
	return n
}
