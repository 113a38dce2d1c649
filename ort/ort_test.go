package ort_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/ort"
)

func TestFindLibraryEnv(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, ort.LibraryName)
	if err := os.WriteFile(lib, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(ort.EnvLibrary, lib)
	got, err := ort.FindLibrary()
	if err != nil || got != lib {
		t.Fatalf("FindLibrary() = %q, %v; want %q", got, err, lib)
	}
	t.Setenv(ort.EnvLibrary, filepath.Join(dir, "missing.so"))
	if _, err := ort.FindLibrary(); !errors.Is(err, ort.ErrNoLibrary) {
		t.Fatalf("FindLibrary() with a missing %s: %v, want ErrNoLibrary", ort.EnvLibrary, err)
	}
}

func TestDefaultLibraryPaths(t *testing.T) {
	t.Setenv("HOME", "/home/someone")
	got := ort.DefaultLibraryPaths()
	want := []string{"/home/someone/.local/lib/pssr/libonnxruntime.so.1", "/usr/local/lib/pssr/libonnxruntime.so.1"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("DefaultLibraryPaths() = %v, want %v", got, want)
	}
}

// TestRuntimeSmall checks a tiny graph end to end (a variable, a scalar
// input, a matmul, a softmax) and the cancellation of a run.
func TestRuntimeSmall(t *testing.T) {
	r := runtimeOrSkip(t)
	store := mlmodel.NewStore()
	store.VariableWithValue("/w", tensors.FromValue([][]float32{{1, 2}, {3, 4}}))
	fn := func(s *mlmodel.Scope, in []*Node) []*Node {
		w := s.Store().GetVariable("/w").ValueGraph(in[0].Graph())
		y := MulScalar(DotGeneral(in[0], []int{1}, nil, w, []int{0}, nil), 1)
		y = Mul(y, in[1])
		return []*Node{y, Softmax(y, -1)}
	}
	f, err := r.Compile(store, "small", fn)
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromValue([][]float32{{1, 0}, {0, 1}, {1, 1}})
	out, err := f.Exec(context.Background(), x, float32(2))
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{2, 4, 6, 8, 8, 12}
	got := tensors.MustCopyFlatData[float32](out[0])
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("output %v, want %v", got, want)
		}
	}
	if !out[0].Shape().Equal(shapes.Make(dtypes.Float32, 3, 2)) {
		t.Fatalf("shape %s", out[0].Shape())
	}
	sm := tensors.MustCopyFlatData[float32](out[1])
	if d := sm[0] + sm[1] - 1; d > 1e-6 || d < -1e-6 || sm[1] <= sm[0] {
		t.Fatalf("softmax row %v", sm[:2])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Exec(ctx, x, float32(2)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Exec with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestRuntimeSameInputTwice passes one host tensor as both inputs of a
// network (the base step gets z_L as x_t and as the condition): inputs are
// lent to ONNX Runtime under the tensor's read access, which must not be
// taken twice, and the inputs must not be changed by the run.
func TestRuntimeSameInputTwice(t *testing.T) {
	r := runtimeOrSkip(t)
	fn := func(s *mlmodel.Scope, in []*Node) []*Node {
		return []*Node{Add(MulScalar(in[0], 2), in[1])}
	}
	f, err := r.Compile(mlmodel.NewStore(), "twice", fn)
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromValue([][]float32{{1, 2}, {3, 4}})
	done := make(chan struct{})
	var out []*tensors.Tensor
	go func() {
		defer close(done)
		out, err = f.Exec(context.Background(), x, x)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Exec(x, x) did not return: the input's access was taken twice")
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := tensors.MustCopyFlatData[float32](out[0]); !slices.Equal(got, []float32{3, 6, 9, 12}) {
		t.Fatalf("2x + x = %v, want [3 6 9 12]", got)
	}
	if got := tensors.MustCopyFlatData[float32](x); !slices.Equal(got, []float32{1, 2, 3, 4}) {
		t.Fatalf("input changed to %v", got)
	}
}

// TestInt8 runs a dense layer of 256x64 random weights on "ort" and on
// "ort-int8": the int8 product stays within 2% of the largest output of
// the float one, but is not equal to it (the weights were quantised), and
// the runtime says it is int8.
func TestInt8(t *testing.T) {
	fp := runtimeOrSkip(t)
	q := fixture.ORTWith(t, ort.Options{Int8: true})
	if fp.Name() != ort.RuntimeORT || q.Name() != ort.RuntimeORTInt8 {
		t.Fatalf("names %q and %q", fp.Name(), q.Name())
	}
	rng := rand.New(rand.NewPCG(5, 6))
	store := mlmodel.NewStore()
	store.VariableWithValue("/w", randTensor(rng, shapes.Make(dtypes.Float32, 256, 64), -1, 1))
	fn := func(s *mlmodel.Scope, in []*Node) []*Node {
		return []*Node{MatMul(in[0], s.Store().GetVariable("/w").ValueGraph(in[0].Graph()))}
	}
	x := randTensor(rng, shapes.Make(dtypes.Float32, 300, 256), -1, 1)
	var outs []*tensors.Tensor
	for _, r := range []*ort.Runtime{fp, q} {
		f, err := r.Compile(store, "dense", fn)
		if err != nil {
			t.Fatal(err)
		}
		out, err := f.Exec(context.Background(), x)
		if err != nil {
			t.Fatalf("%s: %v", r.Name(), err)
		}
		outs = append(outs, out[0])
	}
	d, top := fixture.MaxTensorDiff(t, outs[0], outs[1]), maxAbs(outs[0])
	t.Logf("max |ort - ort-int8| = %.3g, max |ort| = %.3g", d, top)
	if d == 0 || d > 0.02*top {
		t.Errorf("int8 differs from float32 by %.3g at most (largest output %.3g): want more than 0 and at most 2%%", d, top)
	}
}
