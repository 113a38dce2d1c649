package freqfuse

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/internal/testbackend"
)

// refFuseLatent is FuseLatentGraph on the host, from the definition: per
// channel plane of [n, h, w, c] latents, the low band by refLowPass and the
// blend of the two high bands.
func refFuseLatent(zc, zs []float64, n, h, w, c int, p Params) []float64 {
	out := make([]float64, len(zc))
	plane := func(z []float64, i, ch int) []float64 {
		y := make([]float64, h*w)
		for k := range y {
			y[k] = z[(i*h*w+k)*c+ch]
		}
		return y
	}
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			yc, ys := plane(zc, i, ch), plane(zs, i, ch)
			lc, ls := refLowPass(yc, w, h, p.Fc, p.Order), refLowPass(ys, w, h, p.Fc, p.Order)
			for k := range yc {
				hc, hs := yc[k]-lc[k], ys[k]-ls[k]
				wt := math.Abs(hs) / (math.Abs(hs) + math.Abs(hc) + 1e-6)
				out[(i*h*w+k)*c+ch] = lc[k] + p.Alpha*(wt*hs+(1-wt)*hc)
			}
		}
	}
	return out
}

func TestFuseLatentGraph(t *testing.T) {
	be := testbackend.New(t)
	rng := rand.New(rand.NewPCG(21, 22))
	cases := []struct {
		name       string
		t, h, w, c int
		p          Params
		same       bool // sharp == consistent
	}{
		{"default", 2, 9, 12, 4, DefaultParams(), false},
		{"alpha0.5_fc0.35_n1", 1, 8, 8, 3, Params{Alpha: 0.5, Fc: 0.35, Order: 1}, false},
		{"alpha0", 3, 5, 7, 2, Params{Alpha: 0, Fc: 0.2, Order: 2}, false},
		{"identical", 2, 6, 10, 5, DefaultParams(), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.t * tc.h * tc.w * tc.c
			zc, zs := make([]float64, size), make([]float64, size)
			for i := range zc {
				zc[i] = rng.NormFloat64()
				zs[i] = zc[i] + 0.5*rng.NormFloat64()
				if tc.same {
					zs[i] = zc[i]
				}
			}
			e, err := graph.NewExec(be, func(c, s *graph.Node) *graph.Node { return FuseLatentGraph(c, s, tc.p) })
			if err != nil {
				t.Fatal(err)
			}
			dims := []int{1, tc.t, tc.h, tc.w, tc.c}
			got := flat64(e.MustExec(
				tensors.FromFlatDataAndDimensions(append([]float64(nil), zc...), dims...),
				tensors.FromFlatDataAndDimensions(append([]float64(nil), zs...), dims...))[0])
			want := refFuseLatent(zc, zs, tc.t, tc.h, tc.w, tc.c, tc.p)
			if tc.same && tc.p.Alpha == 1 {
				want = zc // low + high of one latent is the latent itself
			}
			maxd := 0.0
			for i := range got {
				maxd = math.Max(maxd, math.Abs(got[i]-want[i]))
			}
			if maxd > 1e-9 {
				t.Fatalf("max |graph - reference| = %g", maxd)
			}
			// The result differs from both inputs unless they are the same.
			if !tc.same {
				dc, ds := 0.0, 0.0
				for i := range got {
					dc = math.Max(dc, math.Abs(got[i]-zc[i]))
					ds = math.Max(ds, math.Abs(got[i]-zs[i]))
				}
				if dc < 1e-3 || ds < 1e-3 {
					t.Fatalf("fused latent equals an input (max diff to consistent %g, to sharp %g)", dc, ds)
				}
			}
		})
	}
}

func TestFuseLatentGraphErrors(t *testing.T) {
	be := testbackend.New(t)
	for _, tc := range []struct {
		name  string
		a, b  []int
		p     Params
		match string
	}{
		{"shape", []int{1, 2, 4, 4, 3}, []int{1, 2, 4, 5, 3}, DefaultParams(), "differ"},
		{"rank", []int{4, 3}, []int{4, 3}, DefaultParams(), "[..., H, W, C]"},
		{"params", []int{1, 4, 4, 3}, []int{1, 4, 4, 3}, Params{Alpha: 1, Fc: 0, Order: 2}, "fc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := graph.NewExec(be, func(c, s *graph.Node) *graph.Node { return FuseLatentGraph(c, s, tc.p) })
			if err != nil {
				t.Fatal(err)
			}
			size := func(d []int) int {
				n := 1
				for _, v := range d {
					n *= v
				}
				return n
			}
			_, err = e.Exec(tensors.FromFlatDataAndDimensions(make([]float32, size(tc.a)), tc.a...),
				tensors.FromFlatDataAndDimensions(make([]float32, size(tc.b)), tc.b...))
			if err == nil || !strings.Contains(fmt.Sprint(err), tc.match) {
				t.Fatalf("error %v, want one naming %q", err, tc.match)
			}
		})
	}
}
