package ort

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/onnx"
	ortgo "github.com/yalue/onnxruntime_go"
)

// Options configure sessions.
type Options struct {
	// Threads is ONNX Runtime's intra-op thread count; 0 lets ORT choose
	// (one per physical core).
	Threads int
	// Int8 runs the networks' dense products in int8 (onnx.Spec.Int8):
	// weights quantised per output column when the model is exported,
	// activations per tensor at run time.
	Int8 bool
	// Profile, when set, makes every session write ONNX Runtime's own
	// profile (per-node times, JSON for chrome://tracing) to a file named
	// Profile plus a timestamp, when the session closes.
	Profile string
}

// Session is one ONNX model loaded in ONNX Runtime. It is not safe for
// concurrent use.
type Session struct {
	s      *ortgo.DynamicAdvancedSession
	model  *onnx.Model
	closed bool
}

// NewSession loads an exported model. Init must have succeeded.
func NewSession(m *onnx.Model, opt Options) (*Session, error) {
	if !ortgo.IsInitialized() {
		return nil, fmt.Errorf("ort: %s: ONNX Runtime is not initialised (call ort.Init)", m.Name)
	}
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: %s: session options: %w", m.Name, err)
	}
	defer so.Destroy()
	if opt.Threads > 0 {
		if err := so.SetIntraOpNumThreads(opt.Threads); err != nil {
			return nil, fmt.Errorf("ort: %s: threads: %w", m.Name, err)
		}
	}
	// No arena and no memory pattern: ORT's CPU arena keeps the peak of
	// every shape a session has run for the session's life, and a session
	// per tile shape and window length multiplies it (a 1280x720 x4 run
	// outgrew a 23 GiB machine). Without them each run allocates what it
	// needs and frees it at the end.
	if err := so.SetCpuMemArena(false); err != nil {
		return nil, fmt.Errorf("ort: %s: arena: %w", m.Name, err)
	}
	if err := so.SetMemPattern(false); err != nil {
		return nil, fmt.Errorf("ort: %s: memory pattern: %w", m.Name, err)
	}
	if opt.Profile != "" {
		if err := so.EnableProfiling(opt.Profile); err != nil {
			return nil, fmt.Errorf("ort: %s: profiling: %w", m.Name, err)
		}
	}
	in := make([]string, len(m.Inputs))
	for i, t := range m.Inputs {
		in[i] = t.Name
	}
	out := make([]string, len(m.Outputs))
	for i, t := range m.Outputs {
		out[i] = t.Name
	}
	s, err := ortgo.NewDynamicAdvancedSessionWithONNXData(m.Data, in, out, so)
	if err != nil {
		return nil, fmt.Errorf("ort: %s: creating session: %w", m.Name, err)
	}
	return &Session{s: s, model: m}, nil
}

// Model returns the session's model.
func (s *Session) Model() *onnx.Model { return s.model }

// Close releases the session.
func (s *Session) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.s.Destroy(); err != nil {
		return fmt.Errorf("ort: %s: %w", s.model.Name, err)
	}
	return nil
}

// Run runs the model on args (*tensors.Tensor of the model's input shapes,
// or float32 scalars for [1] inputs) and returns its outputs as host
// tensors. ctx cancels the run: ONNX Runtime is told to terminate and Run
// returns ctx's error.
func (s *Session) Run(ctx context.Context, args ...any) (outs []*tensors.Tensor, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed {
		return nil, fmt.Errorf("ort: %s: session is closed", s.model.Name)
	}
	if len(args) != len(s.model.Inputs) {
		return nil, fmt.Errorf("ort: %s: %d inputs, model takes %d", s.model.Name, len(args), len(s.model.Inputs))
	}
	inputs := make([]ortgo.Value, len(args))
	defer func() {
		for _, v := range inputs {
			if v != nil {
				_ = v.Destroy()
			}
		}
	}()
	return s.withInputs(ctx, args, inputs, 0, map[*tensors.Tensor]any{})
}

// withInputs makes inputs[i:] from args[i:] and then runs the session. A
// host tensor's samples are lent to ONNX Runtime without a copy, for the
// time of the run (inside the tensor's read access; lent holds the samples
// of the tensors already lent, as one tensor may be given twice); scalars
// are copied.
func (s *Session) withInputs(ctx context.Context, args []any, inputs []ortgo.Value, i int, lent map[*tensors.Tensor]any) (outs []*tensors.Tensor, err error) {
	if i == len(args) {
		return s.run(ctx, inputs)
	}
	info := s.model.Inputs[i]
	if x, ok := args[i].(*tensors.Tensor); ok {
		if err := checkInput(x, info); err != nil {
			return nil, fmt.Errorf("ort: %s: %w", s.model.Name, err)
		}
		lend := func(flat any) {
			lent[x] = flat
			var unpin func()
			switch f := flat.(type) {
			case []float32:
				inputs[i], unpin, err = lendSlice(ortShape(info), f)
			case []int32:
				inputs[i], unpin, err = lendSlice(ortShape(info), f)
			case []int64:
				inputs[i], unpin, err = lendSlice(ortShape(info), f)
			default:
				err = fmt.Errorf("input %s: dtype %s not supported", info.Name, x.DType())
			}
			if err != nil {
				err = fmt.Errorf("ort: %s: %w", s.model.Name, err)
				return
			}
			defer unpin()
			outs, err = s.withInputs(ctx, args, inputs, i+1, lent)
		}
		if flat, ok := lent[x]; ok { // already under read access
			lend(flat)
			return outs, err
		}
		if aerr := x.ConstFlatData(lend); aerr != nil {
			return nil, fmt.Errorf("ort: %s: input %s: %w", s.model.Name, info.Name, aerr)
		}
		return outs, err
	}
	if inputs[i], err = toORT(args[i], info); err != nil {
		return nil, fmt.Errorf("ort: %s: %w", s.model.Name, err)
	}
	return s.withInputs(ctx, args, inputs, i+1, lent)
}

// run runs the session on inputs and copies its outputs to host tensors.
func (s *Session) run(ctx context.Context, inputs []ortgo.Value) (outs []*tensors.Tensor, err error) {
	ro, err := ortgo.NewRunOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: %s: run options: %w", s.model.Name, err)
	}
	defer ro.Destroy()
	var mu sync.Mutex // Terminate must not race Destroy.
	done := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			_ = ro.Terminate()
		}
	})
	outputs := make([]ortgo.Value, len(s.model.Outputs))
	runErr := s.s.RunWithOptions(inputs, outputs, ro)
	stop()
	mu.Lock()
	done = true
	mu.Unlock()
	defer func() {
		for _, v := range outputs {
			if v != nil {
				_ = v.Destroy()
			}
		}
	}()
	if runErr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("ort: %s: %w", s.model.Name, runErr)
	}
	outs = make([]*tensors.Tensor, len(outputs))
	for i, v := range outputs {
		if outs[i], err = fromORT(v, s.model.Outputs[i]); err != nil {
			return nil, fmt.Errorf("ort: %s: output %s: %w", s.model.Name, s.model.Outputs[i].Name, err)
		}
	}
	return outs, nil
}

// lendSlice wraps Go memory in an ORT tensor, pinned (C holds the pointer
// between calls) until the returned function is called.
func lendSlice[T ortgo.TensorData](shape ortgo.Shape, f []T) (ortgo.Value, func(), error) {
	var p runtime.Pinner
	if len(f) > 0 {
		p.Pin(&f[0])
	}
	t, err := ortgo.NewTensor(shape, f)
	if err != nil {
		p.Unpin()
		return nil, nil, err
	}
	return t, p.Unpin, nil
}

// ortShape is an input's shape for ONNX Runtime.
func ortShape(info onnx.TensorInfo) ortgo.Shape {
	dims := make([]int64, info.Shape.Rank())
	for i, d := range info.Shape.Dimensions {
		dims[i] = int64(d)
	}
	return ortgo.NewShape(dims...)
}

// checkInput checks that a host tensor fits an input.
func checkInput(x *tensors.Tensor, info onnx.TensorInfo) error {
	ts := x.Shape()
	if ts.DType != info.Shape.DType || ts.Size() != info.Shape.Size() ||
		(ts.Rank() > 0 && !ts.Equal(info.Shape)) {
		return fmt.Errorf("input %s is %s, got %s", info.Name, info.Shape, ts)
	}
	return nil
}

// toORT copies a scalar argument into a new ORT tensor of the input's shape.
func toORT(a any, info onnx.TensorInfo) (ortgo.Value, error) {
	if x, ok := a.(float32); ok {
		if info.Shape.Size() != 1 || info.Shape.DType != dtypes.Float32 {
			return nil, fmt.Errorf("input %s is %s, got a float32 scalar", info.Name, info.Shape)
		}
		return ortgo.NewTensor(ortShape(info), []float32{x})
	}
	return nil, fmt.Errorf("input %s: argument of type %T not supported", info.Name, a)
}

// fromORT copies an ORT output into a host tensor (FromFlatDataAndDimensions
// copies: once, from ORT's memory).
func fromORT(v ortgo.Value, info onnx.TensorInfo) (*tensors.Tensor, error) {
	dims := info.Shape.Dimensions
	switch t := v.(type) {
	case *ortgo.Tensor[float32]:
		return tensors.FromFlatDataAndDimensions(t.GetData(), dims...), nil
	case *ortgo.Tensor[int32]:
		return tensors.FromFlatDataAndDimensions(t.GetData(), dims...), nil
	case *ortgo.Tensor[int64]:
		return tensors.FromFlatDataAndDimensions(t.GetData(), dims...), nil
	}
	return nil, fmt.Errorf("unsupported ORT value %T", v)
}

// Runtime is a netrun.Runtime on ONNX Runtime: each network is exported to
// ONNX (package onnx) per distinct input shape and run in its own session.
type Runtime struct {
	opt Options
}

var _ netrun.Runtime = (*Runtime)(nil)

// NewRuntime loads the library at libPath (see Init; FindLibrary finds it)
// and returns a runtime.
func NewRuntime(libPath string, opt Options) (*Runtime, error) {
	if err := Init(libPath); err != nil {
		return nil, err
	}
	return &Runtime{opt: opt}, nil
}

// Name is "ort", or "ort-int8" with Options.Int8.
func (r *Runtime) Name() string {
	if r.opt.Int8 {
		return RuntimeORTInt8
	}
	return RuntimeORT
}

// Compile implements netrun.Runtime. The export and the session are made
// on the first Exec of each input shape, from the store's values at that
// time.
func (r *Runtime) Compile(store *mlmodel.Store, name string, fn netrun.GraphFn) (netrun.Func, error) {
	return &Func{r: r, store: store, name: name, fn: fn, sessions: map[string]*Session{}}, nil
}

// Func is a network compiled by Runtime: a session per input shape.
type Func struct {
	r        *Runtime
	store    *mlmodel.Store
	name     string
	fn       netrun.GraphFn
	sessions map[string]*Session
}

// Exec implements netrun.Func.
func (f *Func) Exec(ctx context.Context, args ...any) ([]*tensors.Tensor, error) {
	ins := make([]shapes.Shape, len(args))
	var key strings.Builder
	for i, a := range args {
		switch x := a.(type) {
		case float32:
			ins[i] = shapes.Make(dtypes.Float32)
		case *tensors.Tensor:
			ins[i] = x.Shape()
		default:
			return nil, fmt.Errorf("ort: %s: argument %d of type %T not supported", f.name, i, a)
		}
		key.WriteString(ins[i].String())
		key.WriteByte(';')
	}
	s, ok := f.sessions[key.String()]
	if !ok {
		m, err := onnx.Export(f.store, onnx.Spec{Name: f.name, Fn: f.fn, Inputs: ins, Int8: f.r.opt.Int8, ORTOps: true})
		if err != nil {
			return nil, fmt.Errorf("ort: %w", err)
		}
		if s, err = NewSession(m, f.r.opt); err != nil {
			return nil, err
		}
		f.sessions[key.String()] = s
	}
	return s.Run(ctx, args...)
}

// Close releases every session of the network.
func (f *Func) Close() error {
	var first error
	for k, s := range f.sessions {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
		delete(f.sessions, k)
	}
	return first
}
