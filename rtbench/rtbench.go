// Package rtbench measures the two runtimes side by side: the MatMul
// throughput (GFLOP/s) of GoMLX's pure-Go backend and of ONNX Runtime, and
// the networks of a model (encoder, decoder, base step, draft step, and
// the fused decoder of the default latent update) on both, from the same
// graph functions and weights. `pssr bench-runtimes`
// runs it; its JSON is the record behind the `--runtime auto` rule.
package rtbench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/onnx"
	"github.com/pssr/pssr/pipeline"
)

// Options configure a run.
type Options struct {
	// MatMuls are the [M, K] x [K, N] products to time: an input times a
	// weight matrix (a variable), as in a dense layer, so a runtime that
	// prepares weights (ort-int8 quantises them) does so as it would for
	// the networks.
	MatMuls [][3]int
	// Frames, Width and Height are the clip the networks run on (output
	// pixels, multiples of the model's pixel multiple).
	Frames, Width, Height int
	// MinTime is the least time spent timing each case (after one untimed
	// run); at least MinReps runs are timed.
	MinTime time.Duration
	MinReps int
	// Networks restricts the networks timed (nil: all five).
	Networks []string
}

// DefaultMatMuls are square products and the decoder's largest dense layer
// at 4 frames of 384x288 (pssr-tiny: 9*48 -> 48 features on 4x4-pixel tokens).
var DefaultMatMuls = [][3]int{{256, 256, 256}, {1024, 1024, 1024}, {27648, 432, 48}}

// MatMulResult is one product on one runtime.
type MatMulResult struct {
	Runtime string  `json:"runtime"`
	M       int     `json:"m"`
	K       int     `json:"k"`
	N       int     `json:"n"`
	Seconds float64 `json:"seconds"` // median per product
	GFLOPS  float64 `json:"gflops"`  // 2*M*K*N / Seconds / 1e9
	Reps    int     `json:"reps"`
}

// NetworkResult is one network on one runtime.
type NetworkResult struct {
	Network string  `json:"network"`
	Runtime string  `json:"runtime"`
	Seconds float64 `json:"seconds"` // median per run, after a compiling run
	Reps    int     `json:"reps"`
	// MaxAbsDiff is the largest difference of this runtime's first output
	// from the first runtime's.
	MaxAbsDiff float64 `json:"max_abs_diff"`
	// MatMulFLOPs is the network's dense arithmetic per run (2*M*K*N over
	// its matrix products, counted on its ONNX export) and GFLOPS that over
	// Seconds: the network's throughput, to set beside the MatMul
	// results' (the rest of the graph adds time but no FLOPs here).
	MatMulFLOPs int64   `json:"matmul_flops"`
	GFLOPS      float64 `json:"gflops"`
}

// Report is a run's outcome.
type Report struct {
	Machine    string          `json:"machine"`
	GoVersion  string          `json:"go_version"`
	ORTVersion string          `json:"ort_version,omitempty"`
	Model      string          `json:"model"`
	Clip       string          `json:"clip"` // frames x width x height
	Runtimes   []string        `json:"runtimes"`
	MatMul     []MatMulResult  `json:"matmul"`
	Networks   []NetworkResult `json:"networks"`
	// Speedup is, per network, the first runtime's seconds over the
	// second's (above 1: the second is faster).
	Speedup map[string]float64 `json:"speedup,omitempty"`
}

// timeIt runs fn once untimed and then at least minReps times and minTime,
// returning the median seconds.
func timeIt(ctx context.Context, o Options, fn func() error) (float64, int, error) {
	if err := fn(); err != nil {
		return 0, 0, err
	}
	var ts []float64
	start := time.Now()
	for len(ts) < max(o.MinReps, 1) || time.Since(start) < o.MinTime {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		t0 := time.Now()
		if err := fn(); err != nil {
			return 0, 0, err
		}
		ts = append(ts, time.Since(t0).Seconds())
	}
	slices.Sort(ts)
	return ts[len(ts)/2], len(ts), nil
}

func randTensor(rng *rand.Rand, s shapes.Shape, lo, hi float32) *tensors.Tensor {
	data := make([]float32, s.Size())
	for i := range data {
		data[i] = lo + (hi-lo)*rng.Float32()
	}
	return tensors.FromFlatDataAndDimensions(data, s.Dimensions...)
}

// matmulFn is in[0] times the store's variable /b.
func matmulFn(s *mlmodel.Scope, in []*Node) []*Node {
	b := s.Store().GetVariable("/b").ValueGraph(in[0].Graph())
	return []*Node{DotGeneral(in[0], []int{1}, nil, b, []int{0}, nil)}
}

// Run times opt's products and m's networks on each runtime (named by
// their Name), in order; machine describes the machine.
func Run(ctx context.Context, m *model.Model, modelName string, rts []netrun.Runtime, opt Options, machine string) (*Report, error) {
	rep := &Report{Machine: machine, GoVersion: runtime.Version(), Model: modelName,
		Clip: fmt.Sprintf("%dx%dx%d", opt.Frames, opt.Width, opt.Height), Speedup: map[string]float64{}}
	for _, rt := range rts {
		rep.Runtimes = append(rep.Runtimes, rt.Name())
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, mm := range opt.MatMuls {
		a := randTensor(rng, shapes.Make(dtypes.Float32, mm[0], mm[1]), -1, 1)
		weights := mlmodel.NewStore()
		weights.VariableWithValue("/b", randTensor(rng, shapes.Make(dtypes.Float32, mm[1], mm[2]), -1, 1))
		for _, rt := range rts {
			f, err := rt.Compile(weights, "matmul", matmulFn)
			if err != nil {
				return nil, err
			}
			sec, reps, err := timeIt(ctx, opt, func() error {
				out, err := f.Exec(ctx, a)
				for _, t := range out {
					t.FinalizeAll()
				}
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("rtbench: matmul %v on %s: %w", mm, rt.Name(), err)
			}
			rep.MatMul = append(rep.MatMul, MatMulResult{Runtime: rt.Name(), M: mm[0], K: mm[1], N: mm[2],
				Seconds: sec, GFLOPS: 2 * float64(mm[0]) * float64(mm[1]) * float64(mm[2]) / sec / 1e9, Reps: reps})
		}
	}

	ins := pipeline.NetworkInputs(m.Config, opt.Frames, opt.Width, opt.Height)
	cond := randTensor(rng, ins[pipeline.NetEncoder][0], 0, 1)
	lat := ins[pipeline.NetDecoder][0]
	zl := randTensor(rng, lat, -1, 1)
	xt := randTensor(rng, lat, -1, 1)
	var feats []any
	for _, s := range ins[pipeline.NetDraftStep][5:] {
		feats = append(feats, randTensor(rng, s, -1, 1))
	}
	args := map[string][]any{
		pipeline.NetEncoder:      {cond},
		pipeline.NetDecoder:      {zl, cond},
		pipeline.NetBaseStep:     {xt, zl, float32(699), float32(0.699), float32(0.599)},
		pipeline.NetDraftStep:    append([]any{xt, zl, float32(599), float32(0.599), float32(0.499)}, feats...),
		pipeline.NetFusedDecoder: {zl, xt, cond},
	}
	nets := append(pipeline.Networks(m.Config), pipeline.FusedDecoder(m.Config, pipeline.DefaultOptions().LatentParams()))
	for _, n := range nets {
		if opt.Networks != nil && !slices.Contains(opt.Networks, n.Name) {
			continue
		}
		md, err := onnx.Export(m.Store, onnx.Spec{Name: n.Name, Fn: n.Fn, Inputs: ins[n.Name]})
		if err != nil {
			return nil, fmt.Errorf("rtbench: counting the FLOPs of %s: %w", n.Name, err)
		}
		var first *tensors.Tensor
		var secs []float64
		for _, rt := range rts {
			f, err := rt.Compile(m.Store, n.Name, n.Fn)
			if err != nil {
				return nil, err
			}
			var last []*tensors.Tensor
			sec, reps, err := timeIt(ctx, opt, func() error {
				out, err := f.Exec(ctx, args[n.Name]...)
				last = out
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("rtbench: %s on %s: %w", n.Name, rt.Name(), err)
			}
			if c, ok := f.(io.Closer); ok { // an ORT network's sessions
				if err := c.Close(); err != nil {
					return nil, fmt.Errorf("rtbench: %s on %s: %w", n.Name, rt.Name(), err)
				}
			}
			r := NetworkResult{Network: n.Name, Runtime: rt.Name(), Seconds: sec, Reps: reps,
				MatMulFLOPs: md.MatMulFLOPs, GFLOPS: float64(md.MatMulFLOPs) / sec / 1e9}
			if first == nil {
				first = last[0]
			} else {
				r.MaxAbsDiff = maxAbsDiff(first, last[0])
			}
			rep.Networks = append(rep.Networks, r)
			secs = append(secs, sec)
		}
		if len(secs) >= 2 {
			rep.Speedup[n.Name] = secs[0] / secs[1]
		}
	}
	return rep, nil
}

func maxAbsDiff(a, b *tensors.Tensor) float64 {
	x, y := tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)
	d := 0.0
	for i := range x {
		v := float64(x[i] - y[i])
		d = max(d, v, -v)
	}
	return d
}
