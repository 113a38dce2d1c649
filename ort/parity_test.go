package ort_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/internal/testbackend"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/ort"
	"github.com/pssr/pssr/pipeline"
)

// runtimeOrSkip loads ONNX Runtime, skipping the test when the library is
// missing unless PSSR_REQUIRE_ORT=1.
func runtimeOrSkip(t testing.TB) *ort.Runtime { return fixture.ORT(t) }

// fixtureModel loads the random-weight fixture model (a test fixture, not
// a trained model), with its zero output layers made non-zero so that every
// network's output depends on its weights.
func fixtureModel(t testing.TB) *model.Model {
	t.Helper()
	m := fixture.LoadActive(t)
	return m
}

func randTensor(rng *rand.Rand, s shapes.Shape, lo, hi float32) *tensors.Tensor {
	data := make([]float32, s.Size())
	for i := range data {
		data[i] = lo + (hi-lo)*rng.Float32()
	}
	return tensors.FromFlatDataAndDimensions(data, s.Dimensions...)
}

func maxAbs(t *tensors.Tensor) float64 {
	m := 0.0
	for _, v := range tensors.MustCopyFlatData[float32](t) {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// TestParity runs every network of the fixture model on both runtimes
// with the same inputs (a 3-frame clip of 48x32 pixels, so the temporal
// attention and the window padding of the token grid are exercised) and
// compares the outputs by their largest absolute difference.
func TestParity(t *testing.T) {
	r := runtimeOrSkip(t)
	m := fixtureModel(t)
	goRT := netrun.GoMLX{Backend: m.Backend}
	const frames, w, h = 3, 48, 32
	ins := pipeline.NetworkInputs(m.Config, frames, w, h)
	rng := rand.New(rand.NewPCG(1, 2))
	cond := randTensor(rng, ins[pipeline.NetEncoder][0], 0, 1)
	lat := ins[pipeline.NetDecoder][0]
	zl := randTensor(rng, lat, -1, 1)
	xt := randTensor(rng, lat, -1, 1)
	var feats []*tensors.Tensor // the base step's, from the Go runtime
	const tol = 2e-4
	ctx := context.Background()
	for _, n := range pipeline.Networks(m.Config) {
		var args []any
		switch n.Name {
		case pipeline.NetEncoder:
			args = []any{cond}
		case pipeline.NetDecoder:
			args = []any{zl, cond}
		case pipeline.NetBaseStep:
			args = []any{xt, zl, float32(699), float32(0.699), float32(0.599)}
		case pipeline.NetDraftStep:
			args = []any{xt, zl, float32(599), float32(0.599), float32(0.499)}
			for _, f := range feats {
				args = append(args, f)
			}
		}
		gf, err := goRT.Compile(m.Store, n.Name, n.Fn)
		if err != nil {
			t.Fatal(err)
		}
		of, err := r.Compile(m.Store, n.Name, n.Fn)
		if err != nil {
			t.Fatal(err)
		}
		want, err := gf.Exec(ctx, args...)
		if err != nil {
			t.Fatalf("%s on go: %v", n.Name, err)
		}
		got, err := of.Exec(ctx, args...)
		if err != nil {
			t.Fatalf("%s on ort: %v", n.Name, err)
		}
		if len(got) != len(want) || len(got) != len(n.OutputNames) {
			t.Fatalf("%s: %d outputs on ort, %d on go, %d named", n.Name, len(got), len(want), len(n.OutputNames))
		}
		for i := range want {
			d := fixture.MaxTensorDiff(t, want[i], got[i])
			t.Logf("%s/%s %s: max |go - ort| = %.3g (max |go| = %.3g)", n.Name, n.OutputNames[i], want[i].Shape(), d, maxAbs(want[i]))
			if d > tol {
				t.Errorf("%s/%s: max abs difference %.3g > %g", n.Name, n.OutputNames[i], d, tol)
			}
			if maxAbs(want[i]) == 0 {
				t.Errorf("%s/%s is all zeros: the comparison would prove nothing", n.Name, n.OutputNames[i])
			}
		}
		if n.Name == pipeline.NetBaseStep {
			feats = want[2:]
		}
	}
	if feats == nil {
		t.Fatal("no base step among the networks")
	}
}

// TestFusedOpsParity runs the ops the exporter writes as single ONNX nodes
// (Conv from ConvGeneral, LayerNormalization, FastGelu, MultiHeadAttention,
// and elementwise ops on broadcast operands, which read the unexpanded
// operand) on both
// runtimes: a strided, padded convolution with its axes in a non-NCHW
// order, a layer norm with and without gain and bias, GELU, and a sum
// of broadcasts, and attention.
func TestFusedOpsParity(t *testing.T) {
	r := runtimeOrSkip(t)
	goRT := netrun.GoMLX{Backend: testbackend.New(t)}
	rng := rand.New(rand.NewPCG(7, 8))
	x := randTensor(rng, shapes.Make(dtypes.Float32, 2, 7, 9, 5), -1, 1)
	kernel := randTensor(rng, shapes.Make(dtypes.Float32, 3, 3, 5, 4), -1, 1)
	gain := randTensor(rng, shapes.Make(dtypes.Float32, 5), 0.5, 1.5)
	bias := randTensor(rng, shapes.Make(dtypes.Float32, 5), -1, 1)
	row := randTensor(rng, shapes.Make(dtypes.Float32, 9, 1), -1, 1)
	fn := func(s *mlmodel.Scope, in []*Node) []*Node {
		x, k, g, b, row := in[0], in[1], in[2], in[3], in[4]
		conv := ConvGeneral(x, k, ConvolveAxesConfig{
			InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
			KernelSpatial: []int{0, 1}, KernelInputChannels: 2, KernelOutputChannels: 3,
			OutputBatch: 0, OutputChannels: 1, OutputSpatial: []int{2, 3},
		}, []int{2, 1}, [][2]int{{1, 0}, {2, 1}}, nil, nil, 1, 1)
		// The decomposed forms are what a backend without the fused op
		// runs; either way both runtimes must agree.
		layerNorm := func(g, b *Node) *Node {
			out, _ := InternalFusedOpCaller(func() *Node { return BackendFusedLayerNorm(x, []int{3}, 1e-6, g, b) },
				func() *Node {
					xc := Sub(x, ReduceAndKeep(x, ReduceMean, 3))
					y := Div(xc, Sqrt(AddScalar(ReduceAndKeep(Square(xc), ReduceMean, 3), 1e-6)))
					if g == nil {
						return y
					}
					return Add(Mul(y, Reshape(g, 1, 1, 1, 5)), Reshape(b, 1, 1, 1, 5))
				}, false)
			return out
		}
		ln, plain := layerNorm(g, b), layerNorm(nil, nil)
		gelu, _ := InternalFusedOpCaller(func() *Node { return BackendFusedGelu(x, false) },
			func() *Node {
				c := Tanh(MulScalar(Add(x, MulScalar(Mul(Square(x), x), 0.044715)), math.Sqrt(2/math.Pi)))
				return Mul(x, MulScalar(OnePlus(c), 0.5))
			}, false)
		// [9, 1] + [1, 5] broadcast to [2, 7, 9, 5], then added to x.
		sum := Add(x, Add(BroadcastToDims(Reshape(row, 1, 1, 9, 1), 2, 7, 9, 5), BroadcastToDims(Reshape(b, 1, 1, 1, 5), 2, 7, 9, 5)))
		// Attention over [batch 2, seq 7, heads 9, dim 5] with distinct
		// queries, keys and values.
		q, kk, v := x, Tanh(x), Sin(x)
		att, _ := InternalFusedOpCaller(func() *Node {
			o, _ := BackendFusedScaledDotProductAttention(q, kk, v, compute.AttentionAxesLayoutBSHD, nil)
			return o
		}, func() *Node {
			logits := MulScalar(DotGeneral(q, []int{3}, []int{0, 2}, kk, []int{3}, []int{0, 2}), 1/math.Sqrt(5))
			o := DotGeneral(Softmax(logits, -1), []int{3}, []int{0, 1}, v, []int{1}, []int{0, 2})
			return TransposeAllDims(o, 0, 2, 1, 3)
		}, false)
		return []*Node{conv, ln, plain, gelu, sum, att}
	}
	args := []any{x, kernel, gain, bias, row}
	gf, _ := goRT.Compile(mlmodel.NewStore(), "fused", fn)
	of, _ := r.Compile(mlmodel.NewStore(), "fused", fn)
	want, err := gf.Exec(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := of.Exec(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"conv", "layer norm", "plain layer norm", "gelu", "broadcast sum", "attention"} {
		if !got[i].Shape().Equal(want[i].Shape()) {
			t.Fatalf("%s: shape %s on ort, %s on go", name, got[i].Shape(), want[i].Shape())
		}
		if d := fixture.MaxTensorDiff(t, want[i], got[i]); d > 1e-4 {
			t.Errorf("%s: max |go - ort| = %.3g", name, d)
		}
	}
}
