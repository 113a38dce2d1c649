package model

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/internal/testbackend"
)

// rotary keeps norms, and the dot product of a rotated query and key depends
// only on their frame offset: the same vectors at positions (p, p') and
// (p+1, p'+1) give the same product, while (p, p) and (p, p+2) differ.
func TestRotaryRelative(t *testing.T) {
	be := testbackend.New(t)
	const s, heads, hd = 6, 2, 8
	r := rand.New(rand.NewPCG(3, 4))
	vec := func() []float32 {
		v := make([]float32, heads*hd)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	q, k := vec(), vec()
	rep := func(v []float32) *tensors.Tensor {
		var all []float32
		for p := 0; p < s; p++ {
			all = append(all, v...)
		}
		return tensors.FromFlatDataAndDimensions(all, 1, s, heads, hd)
	}
	out := MustExecOnceN(be, func(q, k *Node) []*Node { return []*Node{rotary(q), rotary(k)} }, rep(q), rep(k))
	rq, rk := out[0].Value().([][][][]float32)[0], out[1].Value().([][][][]float32)[0]
	dot := func(a, b []float32) float64 {
		sum := 0.0
		for i := range a {
			sum += float64(a[i]) * float64(b[i])
		}
		return sum
	}
	for h := 0; h < heads; h++ {
		qh := q[h*hd : (h+1)*hd]
		if d := math.Abs(dot(rq[3][h], rq[3][h]) - dot(qh, qh)); d > 1e-4 {
			t.Errorf("head %d: rotation changed the squared norm by %g", h, d)
		}
		for p := 0; p+3 < s; p++ {
			a, b := dot(rq[p][h], rk[p+2][h]), dot(rq[p+1][h], rk[p+3][h])
			if math.Abs(a-b) > 1e-4 {
				t.Errorf("head %d: offset 2 at p=%d gives %g, at p=%d %g", h, p, a, p+1, b)
			}
		}
		if a, b := dot(rq[1][h], rk[1][h]), dot(rq[1][h], rk[3][h]); math.Abs(a-b) < 1e-3 {
			t.Errorf("head %d: offsets 0 and 2 give the same product %g: no position information", h, a)
		}
	}
}
