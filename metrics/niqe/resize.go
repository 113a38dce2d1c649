package niqe

import "math"

// halve returns img (w x h, both even) scaled by 0.5 the way MATLAB's
// imresize(im, 0.5) does by default: the Keys bicubic kernel (a = -0.5)
// stretched by 2 for antialiasing, weights normalised per output sample,
// symmetric (mirror) handling of the borders, rows first, then columns.
func halve(img []float64, w, h int) ([]float64, int, int) {
	ow, oh := (w+1)/2, (h+1)/2
	tmp := make([]float64, w*oh)
	idx, wt := halveTaps(h)
	for o := range oh {
		for x := range w {
			var s float64
			for k, i := range idx[o] {
				s += wt[o][k] * img[i*w+x]
			}
			tmp[o*w+x] = s
		}
	}
	out := make([]float64, ow*oh)
	idx, wt = halveTaps(w)
	for y := range oh {
		row := tmp[y*w : (y+1)*w]
		for o := range ow {
			var s float64
			for k, i := range idx[o] {
				s += wt[o][k] * row[i]
			}
			out[y*ow+o] = float64(float32(s)) // see the package doc on precision
		}
	}
	return out, ow, oh
}

// halveTaps returns, for each output sample of a length-n axis scaled by
// 0.5, the input indices and weights of MATLAB's imresize contributions.
func halveTaps(n int) (idx [][]int, wt [][]float64) {
	const scale = 0.5
	const width = 4 / scale // kernel support 4, widened by 1/scale
	const taps = int(width) + 2
	out := (n + 1) / 2
	idx = make([][]int, out)
	wt = make([][]float64, out)
	for o := range out {
		u := float64(o+1)/scale + 0.5*(1-1/scale) // 1-based input coordinate
		left := int(math.Floor(u - width/2))
		var sum float64
		ws := make([]float64, taps)
		is := make([]int, taps)
		for k := range taps {
			j := left + k // 1-based
			ws[k] = scale * cubic(scale*(u-float64(j)))
			sum += ws[k]
			is[k] = mirror(j-1, n)
		}
		for k := range ws {
			ws[k] /= sum
		}
		idx[o], wt[o] = is, ws
	}
	return idx, wt
}

// mirror maps a 0-based index into [0, n) by symmetric reflection with the
// edge sample repeated (MATLAB's [1:n, n:-1:1] periodic extension).
func mirror(i, n int) int {
	p := 2 * n
	i = ((i % p) + p) % p
	if i >= n {
		i = p - 1 - i
	}
	return i
}

// cubic is the Keys cubic convolution kernel with a = -0.5.
func cubic(x float64) float64 {
	ax := math.Abs(x)
	ax2, ax3 := ax*ax, ax*ax*ax
	switch {
	case ax <= 1:
		return 1.5*ax3 - 2.5*ax2 + 1
	case ax <= 2:
		return -0.5*ax3 + 2.5*ax2 - 4*ax + 2
	}
	return 0
}
