package degrade

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/pssr/pssr/frame"
)

// Padding selects how Filter extends an image beyond its borders.
type Padding int

const (
	// Reflect mirrors about the edge pixel without repeating it
	// (…, 2, 1 | 0, 1, 2, …), as the release's filter2D does.
	Reflect Padding = iota
	// Replicate repeats the edge pixel.
	Replicate
)

// String returns the padding name.
func (p Padding) String() string {
	switch p {
	case Reflect:
		return "reflect"
	case Replicate:
		return "replicate"
	}
	return fmt.Sprintf("Padding(%d)", int(p))
}

// padIndex maps a possibly out-of-range index into [0, n).
func padIndex(i, n int, p Padding) int {
	if i >= 0 && i < n {
		return i
	}
	if n == 1 {
		return 0
	}
	if p == Replicate {
		if i < 0 {
			return 0
		}
		return n - 1
	}
	period := 2 * (n - 1)
	m := i % period
	if m < 0 {
		m += period
	}
	if m >= n {
		m = period - m
	}
	return m
}

// sepTerm is one rank-one term σ·u·vᵀ of a kernel: u runs over rows (y),
// v over columns (x); σ is folded into u.
type sepTerm struct{ u, v []float32 }

// separate decomposes k into the fewest rank-one terms whose dropped
// remainder changes no output sample of a [0,1] image by more than tol.
// It returns nil when separable filtering would not be cheaper.
func separate(k Kernel, tol float64) []sepTerm {
	n := k.Size
	if n < 5 {
		return nil
	}
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(n, n, append([]float64(nil), k.W...)), mat.SVDFull) {
		return nil
	}
	vals := svd.Values(nil)
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	// bound[i] = σ_i ‖u_i‖₁ ‖v_i‖₁ bounds term i's effect on a sample.
	bound := make([]float64, n)
	for i := range n {
		su, sv := 0.0, 0.0
		for j := range n {
			su += math.Abs(u.At(j, i))
			sv += math.Abs(v.At(j, i))
		}
		bound[i] = vals[i] * su * sv
	}
	rank := n
	rest := 0.0
	for rank > 0 && rest+bound[rank-1] <= tol {
		rest += bound[rank-1]
		rank--
	}
	if 2*rank*n >= n*n {
		return nil
	}
	terms := make([]sepTerm, rank)
	for i := range rank {
		t := sepTerm{u: make([]float32, n), v: make([]float32, n)}
		for j := range n {
			t.u[j] = float32(vals[i] * u.At(j, i))
			t.v[j] = float32(v.At(j, i))
		}
		terms[i] = t
	}
	return terms
}

// Filter correlates src with k (the kernels here are point-symmetric, so
// this is also convolution) and returns a new image of the same size. The
// border is extended by pad. Output is not clamped: sinc kernels overshoot.
//
// Kernels that are numerically low-rank (every isotropic Gaussian, most
// others) are applied as a sum of separable passes; the dropped remainder
// changes no sample by more than 1e-6.
func Filter(src *frame.Image, k Kernel, pad Padding) *frame.Image {
	checkSize(k.Size)
	if k.Size == 1 {
		out := src.Clone()
		w := float32(k.W[0])
		for i := range out.Pix {
			out.Pix[i] *= w
		}
		return out
	}
	if terms := separate(k, 1e-6); terms != nil {
		return filterSeparable(src, terms, k.Size, pad)
	}
	return filterDirect(src, k, pad)
}

func filterDirect(src *frame.Image, k Kernel, pad Padding) *frame.Image {
	W, H, n := src.W, src.H, k.Size
	c := n / 2
	out := frame.New(W, H)
	wk := make([]float32, len(k.W))
	for i, v := range k.W {
		wk[i] = float32(v)
	}
	xi := make([]int, W+n-1) // padded column -> source column
	for i := range xi {
		xi[i] = padIndex(i-c, W, pad)
	}
	// Build one padded row at a time for each kernel row, then accumulate.
	prow := make([]float32, (W+n-1)*3)
	for y := 0; y < H; y++ {
		orow := out.Pix[y*W*3 : (y+1)*W*3]
		for j := 0; j < n; j++ {
			sy := padIndex(y+j-c, H, pad)
			srow := src.Pix[sy*W*3 : (sy+1)*W*3]
			for i, sx := range xi {
				copy(prow[i*3:i*3+3], srow[sx*3:sx*3+3])
			}
			kr := wk[j*n : (j+1)*n]
			for x := 0; x < W; x++ {
				var r, g, b float32
				p := prow[x*3 : (x+n)*3]
				for i, w := range kr {
					r += w * p[i*3]
					g += w * p[i*3+1]
					b += w * p[i*3+2]
				}
				orow[x*3] += r
				orow[x*3+1] += g
				orow[x*3+2] += b
			}
		}
	}
	return out
}

func filterSeparable(src *frame.Image, terms []sepTerm, n int, pad Padding) *frame.Image {
	W, H := src.W, src.H
	c := n / 2
	out := frame.New(W, H)
	xi := make([]int, W+n-1)
	for i := range xi {
		xi[i] = padIndex(i-c, W, pad)
	}
	// Rows of the source extended horizontally, computed once.
	prow := make([]float32, (W+n-1)*3)
	// tmp[t] holds the horizontal pass of term t over all H rows.
	tmp := make([][]float32, len(terms))
	for t := range tmp {
		tmp[t] = make([]float32, W*H*3)
	}
	for y := 0; y < H; y++ {
		srow := src.Pix[y*W*3 : (y+1)*W*3]
		for i, sx := range xi {
			copy(prow[i*3:i*3+3], srow[sx*3:sx*3+3])
		}
		for t, term := range terms {
			trow := tmp[t][y*W*3 : (y+1)*W*3]
			for x := 0; x < W; x++ {
				var r, g, b float32
				p := prow[x*3 : (x+n)*3]
				for i, w := range term.v {
					r += w * p[i*3]
					g += w * p[i*3+1]
					b += w * p[i*3+2]
				}
				trow[x*3], trow[x*3+1], trow[x*3+2] = r, g, b
			}
		}
	}
	for y := 0; y < H; y++ {
		orow := out.Pix[y*W*3 : (y+1)*W*3]
		for t, term := range terms {
			for j, w := range term.u {
				sy := padIndex(y+j-c, H, pad)
				trow := tmp[t][sy*W*3 : (sy+1)*W*3]
				for i, v := range trow {
					orow[i] += w * v
				}
			}
		}
	}
	return out
}
