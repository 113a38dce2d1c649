package flow

import "github.com/pssr/pssr/internal/parallel"

// forRows calls fn on disjoint row ranges [y0, y1) covering [0, n), from up
// to workers goroutines (parallel.Rows). Rows are handed out in small chunks
// (about eight per worker) so that uneven progress on shared cores is
// balanced; fewer than 8 rows run on the calling goroutine.
func forRows(n, workers int, fn func(y0, y1 int)) {
	if n <= 0 {
		return
	}
	workers = min(workers, n)
	if workers <= 1 || n < 8 {
		fn(0, n)
		return
	}
	parallel.Rows(n, max(1, n/(workers*8)), workers, fn)
}

// vconvRow writes into dst row y of the vertical convolution of the w x h
// plane p with the symmetric kernel k (radius r), replicating the border
// rows.
func vconvRow(dst, p []float32, w, h, y int, k []float32, r int) {
	dst = dst[:w]
	c := p[y*w:][:w]
	kc := k[r]
	for x := range dst {
		dst[x] = kc * c[x]
	}
	for j := 1; j <= r; j++ {
		kj := k[r+j]
		up := p[max(y-j, 0)*w:][:w]
		dn := p[min(y+j, h-1)*w:][:w]
		for x := range dst {
			dst[x] += kj * (up[x] + dn[x])
		}
	}
}

// hconv writes the 1-D convolution of src with the symmetric kernel k (radius
// r) into dst, replicating the ends.
func hconv(dst, src []float32, k []float32, r int) {
	w := len(src)
	dst = dst[:w]
	lo, hi := min(r, w), max(w-r, min(r, w))
	edge := func(x int) {
		var s float32
		for j, kj := range k {
			s += kj * src[min(max(x+j-r, 0), w-1)]
		}
		dst[x] = s
	}
	for x := 0; x < lo; x++ {
		edge(x)
	}
	if hi > lo {
		// Interior, one tap pair at a time over the whole span so that every
		// access is a bounds-check-free slice walk.
		d := dst[lo:hi]
		c := src[lo:hi]
		c = c[:len(d)]
		kc := k[r]
		for i := range d {
			d[i] = kc * c[i]
		}
		for j := 1; j <= r; j++ {
			kj := k[r+j]
			a := src[lo-j : hi-j]
			b := src[lo+j : hi+j]
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				d[i] += kj * (a[i] + b[i])
			}
		}
	}
	for x := hi; x < w; x++ {
		edge(x)
	}
}

// gradients writes the Scharr derivatives of p (normalised to intensity per
// pixel) into gx and gy, replicating the border.
func gradients(p []float32, w, h int, gx, gy []float32, workers int) {
	forRows(h, workers, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			ru := p[max(y-1, 0)*w:][:w]
			rc := p[y*w:][:w]
			rd := p[min(y+1, h-1)*w:][:w]
			for x := 0; x < w; x++ {
				xl, xr := max(x-1, 0), min(x+1, w-1)
				dx := 3*(ru[xr]-ru[xl]) + 10*(rc[xr]-rc[xl]) + 3*(rd[xr]-rd[xl])
				dy := 3*(rd[xl]-ru[xl]) + 10*(rd[x]-ru[x]) + 3*(rd[xr]-ru[xr])
				gx[y*w+x] = dx / 32
				gy[y*w+x] = dy / 32
			}
		}
	})
}

type plane struct {
	pix  []float32
	w, h int
}

// pyramid returns levels planes; level 0 is p itself and level l+1 is level l
// low-passed with the binomial kernel [1 4 6 4 1]/16 and decimated by 2, so
// that coarse pixel (i, j) lies at fine pixel (2i, 2j).
func pyramid(p []float32, w, h, levels, workers int) []plane {
	out := []plane{{p, w, h}}
	for len(out) < levels {
		c := out[len(out)-1]
		if c.w < 2 && c.h < 2 {
			break
		}
		out = append(out, downsample(c, workers))
	}
	return out
}

func downsample(c plane, workers int) plane {
	k := [5]float32{1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16}
	w, h := c.w, c.h
	cw, ch := (w+1)/2, (h+1)/2
	// Horizontal pass at even columns only: h x cw.
	tmp := make([]float32, cw*h)
	forRows(h, workers, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			src := c.pix[y*w:][:w]
			dst := tmp[y*cw:][:cw]
			for i := range dst {
				x := 2 * i
				var s float32
				for j := range 5 {
					sx := min(max(x+j-2, 0), w-1)
					s += k[j] * src[sx]
				}
				dst[i] = s
			}
		}
	})
	out := make([]float32, cw*ch)
	forRows(ch, workers, func(j0, j1 int) {
		for j := j0; j < j1; j++ {
			dst := out[j*cw:][:cw]
			y := 2 * j
			for t := range 5 {
				sy := min(max(y+t-2, 0), h-1)
				src := tmp[sy*cw:][:cw]
				kt := k[t]
				for i := range dst {
					dst[i] += kt * src[i]
				}
			}
		}
	})
	return plane{out, cw, ch}
}

// upsampleFlow resamples a flow component from cw x ch to w x h (fine pixel x
// lies at coarse x/2) and doubles it.
func upsampleFlow(f []float32, cw, ch, w, h, workers int) []float32 {
	out := make([]float32, w*h)
	forRows(h, workers, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			for x := 0; x < w; x++ {
				out[y*w+x] = 2 * bilinear(f, cw, ch, float32(x)/2, float32(y)/2)
			}
		}
	})
	return out
}

// median3 replaces p (w x h) by its 3x3 median, replicating the border.
func median3(p []float32, w, h, workers int) {
	src := make([]float32, len(p))
	copy(src, p)
	forRows(h, workers, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			ru := src[max(y-1, 0)*w:][:w]
			rc := src[y*w:][:w]
			rd := src[min(y+1, h-1)*w:][:w]
			for x := 0; x < w; x++ {
				xl, xr := max(x-1, 0), min(x+1, w-1)
				p[y*w+x] = med9(ru[xl], ru[x], ru[xr], rc[xl], rc[x], rc[xr], rd[xl], rd[x], rd[xr])
			}
		}
	})
}

// sort3 returns a, b, c in ascending order.
func sort3(a, b, c float32) (float32, float32, float32) {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b, c = c, b
	}
	if a > b {
		a, b = b, a
	}
	return a, b, c
}

// med9 returns the median of nine values: with each row of three sorted, the
// median is the median of (largest row minimum, median of row medians,
// smallest row maximum).
func med9(a0, a1, a2, b0, b1, b2, c0, c1, c2 float32) float32 {
	a0, a1, a2 = sort3(a0, a1, a2)
	b0, b1, b2 = sort3(b0, b1, b2)
	c0, c1, c2 = sort3(c0, c1, c2)
	lo := max(a0, b0, c0)
	_, mid, _ := sort3(a1, b1, c1)
	hi := min(a2, b2, c2)
	_, m, _ := sort3(lo, mid, hi)
	return m
}

// cubicWeights returns the Keys (a = -0.5, Catmull-Rom) interpolation
// weights for the four samples at offsets -1, 0, 1, 2 from the integer
// position, for fractional part t in [0, 1).
func cubicWeights(t float32) (w0, w1, w2, w3 float32) {
	t2 := t * t
	t3 := t2 * t
	w0 = 0.5 * (-t3 + 2*t2 - t)
	w1 = 0.5 * (3*t3 - 5*t2 + 2)
	w2 = 0.5 * (-3*t3 + 4*t2 + t)
	w3 = 0.5 * (t3 - t2)
	return
}

// bicubic samples p at (x, y) with Keys cubic interpolation, clamping the
// coordinates and the support to the plane.
func bicubic(p []float32, w, h int, x, y float32) float32 {
	x, y = clampToPlane(x, y, w, h)
	x0, y0 := int(x), int(y)
	wx0, wx1, wx2, wx3 := cubicWeights(x - float32(x0))
	wy0, wy1, wy2, wy3 := cubicWeights(y - float32(y0))
	if x0 >= 1 && x0+2 < w && y0 >= 1 && y0+2 < h {
		// Fast path: whole support inside.
		r := p[(y0-1)*w+x0-1:]
		row := func(o int) float32 {
			return wx0*r[o] + wx1*r[o+1] + wx2*r[o+2] + wx3*r[o+3]
		}
		return wy0*row(0) + wy1*row(w) + wy2*row(2*w) + wy3*row(3*w)
	}
	xs := [4]int{max(x0-1, 0), x0, min(x0+1, w-1), min(x0+2, w-1)}
	ys := [4]int{max(y0-1, 0), y0, min(y0+1, h-1), min(y0+2, h-1)}
	wy := [4]float32{wy0, wy1, wy2, wy3}
	var s float32
	for j, yy := range ys {
		r := p[yy*w:]
		s += wy[j] * (wx0*r[xs[0]] + wx1*r[xs[1]] + wx2*r[xs[2]] + wx3*r[xs[3]])
	}
	return s
}
