package ort_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/internal/fixture"
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
