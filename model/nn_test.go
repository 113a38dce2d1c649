package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/internal/testbackend"
)

func randTensor(r *rand.Rand, dims ...int) (*tensors.Tensor, []float32) {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(2 * r.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(append([]float32(nil), v...), dims...), v
}

func maxAbs(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// neighbourhood3x3 stacks the replicate-padded 3x3 neighbourhood in (dy, dx)
// order, checked against a host loop, on sizes down to 1x1.
func TestNeighbourhood3x3(t *testing.T) {
	be := testbackend.New(t)
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range [][4]int{{2, 5, 7, 3}, {1, 1, 1, 2}, {1, 1, 4, 1}, {3, 6, 1, 2}} {
		n, h, w, c := s[0], s[1], s[2], s[3]
		t.Run(fmt.Sprintf("%dx%dx%dx%d", n, h, w, c), func(t *testing.T) {
			x, v := randTensor(r, n, h, w, c)
			got := tensors.MustCopyFlatData[float32](MustExecOnce(be, neighbourhood3x3, x))
			want := make([]float32, 0, n*h*w*9*c)
			for b := 0; b < n; b++ {
				for y := 0; y < h; y++ {
					for xx := 0; xx < w; xx++ {
						for dy := -1; dy <= 1; dy++ {
							for dx := -1; dx <= 1; dx++ {
								sy, sx := min(max(y+dy, 0), h-1), min(max(xx+dx, 0), w-1)
								want = append(want, v[((b*h+sy)*w+sx)*c:((b*h+sy)*w+sx+1)*c]...)
							}
						}
					}
				}
			}
			if len(got) != len(want) || maxAbs(got, want) != 0 {
				t.Fatalf("neighbourhood differs from the host loop")
			}
		})
	}
}

// The fused forward passes of gelu and layerNorm match their decomposed
// forms, and their gradients (which go through the decomposed forms) match
// the gradients of the decomposed forms.
func TestFusedActivationsMatchDecomposed(t *testing.T) {
	be := testbackend.New(t)
	r := rand.New(rand.NewPCG(9, 10))
	x, _ := randTensor(r, 3, 5, 16)
	gain, _ := randTensor(r, 16)
	bias, _ := randTensor(r, 16)
	decGelu := func(x *Node) *Node {
		c := Add(x, MulScalar(Mul(Square(x), x), 0.044715))
		c = Tanh(MulScalar(c, math.Sqrt(2/math.Pi)))
		return Mul(x, MulScalar(OnePlus(c), 0.5))
	}
	cases := []struct {
		name     string
		fn, want func(x, g, b *Node) *Node
	}{
		{"gelu", func(x, g, b *Node) *Node { return gelu(x) }, func(x, g, b *Node) *Node { return decGelu(x) }},
		{"layernorm", func(x, g, b *Node) *Node {
			return layerNormWith(x, g, b)
		}, func(x, g, b *Node) *Node { return layerNormDecomposed(x, g, b) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := func(f func(x, g, b *Node) *Node) (y, grad []float32) {
				out := MustExecOnceN(be, func(x, g, b *Node) []*Node {
					y := f(x, g, b)
					// A weighted sum, so the gradient is not trivially zero.
					wts := Iota(x.Graph(), y.Shape(), -1)
					loss := ReduceAllSum(Mul(y, Sin(ConvertDType(wts, y.DType()))))
					return []*Node{y, Gradient(loss, x)[0]}
				}, x, gain, bias)
				return tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
			}
			y, g := run(c.fn)
			wy, wg := run(c.want)
			if d := maxAbs(y, wy); d > 1e-5 {
				t.Errorf("forward differs by %g", d)
			}
			if d := maxAbs(g, wg); d > 1e-4 {
				t.Errorf("gradient differs by %g", d)
			}
		})
	}
}
