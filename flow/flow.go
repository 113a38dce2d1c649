// Package flow computes classical dense optical flow between two grayscale
// planes with a pyramidal, iterative, windowed Lucas-Kanade method, warps
// planes along a flow field and finds occlusions by forward-backward
// consistency.
//
// Planes are []float32 of length w*h, row-major, nominally in [0, 1]. A flow
// field is a pair (u, v) of such planes in pixels: u is the horizontal and v
// the vertical displacement.
//
// Method (Dense): both planes are decomposed into a Gaussian pyramid (5-tap
// binomial low-pass, decimation by 2). From the coarsest level to the finest,
// the flow of the coarser level is upsampled bilinearly and doubled, then
// refined by Options.Iterations Gauss-Newton steps. Each step warps the second
// plane by the current flow (bicubic, Keys a = -0.5, which keeps the
// interpolation bias of the sub-pixel estimate small), linearises it with the
// average of the two planes' Scharr gradients, and solves at every pixel the
// Lucas-Kanade normal equations accumulated over a Gaussian window of standard
// deviation Options.Sigma. The equations are written for the total
// displacement of the window rather than an increment, which keeps the coupled
// dense iteration stable; neighbours whose sample falls outside the plane are
// left out, so motion across the frame border does not corrupt the flow
// inside; and a Tikhonov term λ pulls towards the current flow, so flat and
// edge-only windows keep the flow propagated from the coarser level (it does
// not move the fixed point in textured windows). A 3x3 median filter on u and
// v after each level removes isolated outliers. See refine for the equations.
//
// All stages are row-parallel over Options.Workers goroutines.
package flow

import (
	"fmt"
	"math"
	"runtime"
)

// Default parameter values used when the corresponding Options field is zero.
const (
	DefaultIterations = 3
	DefaultSigma      = 2.0
	DefaultLambda     = 1e-5
	DefaultMaxLevels  = 6
	// MinCoarseSize is the smallest width or height the automatically chosen
	// coarsest pyramid level may have.
	MinCoarseSize = 20
)

// maxStep bounds the flow update of a single Gauss-Newton step, in pixels of
// the current level, to keep ill-conditioned windows from diverging.
const maxStep = 2

// Options controls Dense. The zero value selects the defaults.
type Options struct {
	// Levels is the number of pyramid levels including full resolution.
	// Zero chooses the most levels (at most DefaultMaxLevels) for which the
	// coarsest level is still at least MinCoarseSize pixels on its short side.
	// With L levels, displacements up to about 2^(L-1) times the window radius
	// can be recovered.
	Levels int
	// Iterations is the number of Gauss-Newton steps per level (0: default 3).
	Iterations int
	// Sigma is the standard deviation, in pixels, of the Gaussian window over
	// which the Lucas-Kanade normal equations are accumulated (0: default 2).
	// The window is truncated at 3 sigma.
	Sigma float64
	// Lambda is the Tikhonov regularisation added to the diagonal of the
	// structure tensor (0: default 1e-5; negative: none). Its unit is squared
	// intensity per squared pixel, for planes in [0, 1].
	Lambda float64
	// NoMedian disables the 3x3 median filtering of the flow after each level.
	NoMedian bool
	// Workers is the number of goroutines (0: runtime.GOMAXPROCS(0)).
	Workers int
}

// DefaultOptions returns the options Dense uses for a zero Options, with every
// field filled in except Levels, which stays automatic (0).
func DefaultOptions() Options {
	return Options{
		Iterations: DefaultIterations,
		Sigma:      DefaultSigma,
		Lambda:     DefaultLambda,
		Workers:    runtime.GOMAXPROCS(0),
	}
}

func (o Options) withDefaults() Options {
	if o.Iterations <= 0 {
		o.Iterations = DefaultIterations
	}
	if o.Sigma <= 0 {
		o.Sigma = DefaultSigma
	}
	if o.Lambda == 0 {
		o.Lambda = DefaultLambda
	} else if o.Lambda < 0 {
		o.Lambda = 0
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// autoLevels returns the pyramid depth for a w x h plane.
func autoLevels(w, h int) int {
	n := 1
	for n < DefaultMaxLevels {
		w, h = (w+1)/2, (h+1)/2
		if min(w, h) < MinCoarseSize {
			break
		}
		n++
	}
	return n
}

func checkPlane(name string, p []float32, w, h int) {
	if w <= 0 || h <= 0 {
		panic(fmt.Sprintf("flow: invalid size %dx%d", w, h))
	}
	if len(p) != w*h {
		panic(fmt.Sprintf("flow: %s has %d samples, want %dx%d=%d", name, len(p), w, h, w*h))
	}
}

// Dense estimates the optical flow from prev to next: the returned (u, v)
// satisfy next(x+u, y+v) ≈ prev(x, y) at every pixel, so that
// Warp(next, w, h, u, v) ≈ prev. prev and next are grayscale planes of w*h
// samples. Dense panics if the plane lengths do not match w*h.
func Dense(prev, next []float32, w, h int, opt Options) (u, v []float32) {
	checkPlane("prev", prev, w, h)
	checkPlane("next", next, w, h)
	opt = opt.withDefaults()
	levels := opt.Levels
	if levels <= 0 {
		levels = autoLevels(w, h)
	}
	p0 := pyramid(prev, w, h, levels, opt.Workers)
	p1 := pyramid(next, w, h, levels, opt.Workers)
	win := gaussKernel(opt.Sigma)
	var cw, ch int
	for l := len(p0) - 1; l >= 0; l-- {
		lw, lh := p0[l].w, p0[l].h
		if u == nil {
			u = make([]float32, lw*lh)
			v = make([]float32, lw*lh)
		} else {
			u = upsampleFlow(u, cw, ch, lw, lh, opt.Workers)
			v = upsampleFlow(v, cw, ch, lw, lh, opt.Workers)
		}
		refine(p0[l].pix, p1[l].pix, lw, lh, u, v, win, opt)
		if !opt.NoMedian {
			median3(u, lw, lh, opt.Workers)
			median3(v, lw, lh, opt.Workers)
		}
		cw, ch = lw, lh
	}
	return u, v
}

// refine runs the Gauss-Newton iterations of one pyramid level, updating u
// and v in place.
//
// Each step linearises next around the current flow with the averaged
// gradient g = (∇prev + ∇warped next)/2 (efficient second-order
// minimisation), and writes every neighbour's constraint in terms of the
// window's displacement f':  g·(f' - f(x')) + It(x') = 0. The window solve is
//
//	(W*(m g gᵀ) + λI) f' = W*(m g (g·f - It)) + λ f(x)
//
// where W* is the Gaussian window and m masks out neighbours whose sample
// position x'+f(x') falls outside the plane. Writing the system for the total
// displacement rather than an increment keeps the coupled per-pixel iteration
// stable, and the λ f(x) term makes untextured windows keep their flow.
func refine(i0, i1 []float32, w, h int, u, v []float32, win []float32, opt Options) {
	n := w * h
	workers := opt.Workers
	r := len(win) / 2
	g0x := make([]float32, n)
	g0y := make([]float32, n)
	gradients(i0, w, h, g0x, g0y, workers)
	warped := make([]float32, n)
	valid := make([]bool, n)
	var t [5][]float32 // horizontally filtered m·(gx², gxgy, gy², gx·r, gy·r)
	for c := range t {
		t[c] = make([]float32, n)
	}
	lam := float32(opt.Lambda)
	fw, fh := float32(w-1), float32(h-1)

	for it := 0; it < opt.Iterations; it++ {
		// Warp next by the current flow.
		forRows(h, workers, func(y0, y1 int) {
			for y := y0; y < y1; y++ {
				for x := 0; x < w; x++ {
					i := y*w + x
					sx, sy := float32(x)+u[i], float32(y)+v[i]
					valid[i] = sx >= 0 && sx <= fw && sy >= 0 && sy <= fh
					warped[i] = bicubic(i1, w, h, sx, sy)
				}
			}
		})
		// Per-pixel products, filtered horizontally into t.
		forRows(h, workers, func(y0, y1 int) {
			var rows [5][]float32
			for c := range rows {
				rows[c] = make([]float32, w)
			}
			for y := y0; y < y1; y++ {
				ru := warped[max(y-1, 0)*w:][:w]
				rc := warped[y*w:][:w]
				rd := warped[min(y+1, h-1)*w:][:w]
				for x := 0; x < w; x++ {
					i := y*w + x
					if !valid[i] {
						for c := range rows {
							rows[c][x] = 0
						}
						continue
					}
					xl, xr := max(x-1, 0), min(x+1, w-1)
					dx := (3*(ru[xr]-ru[xl]) + 10*(rc[xr]-rc[xl]) + 3*(rd[xr]-rd[xl])) / 32
					dy := (3*(rd[xl]-ru[xl]) + 10*(rd[x]-ru[x]) + 3*(rd[xr]-ru[xr])) / 32
					gx := 0.5 * (g0x[i] + dx)
					gy := 0.5 * (g0y[i] + dy)
					res := gx*u[i] + gy*v[i] - (rc[x] - i0[i])
					rows[0][x] = gx * gx
					rows[1][x] = gx * gy
					rows[2][x] = gy * gy
					rows[3][x] = gx * res
					rows[4][x] = gy * res
				}
				for c := range rows {
					hconv(t[c][y*w:][:w], rows[c], win, r)
				}
			}
		})
		// Vertical filtering and the 2x2 solve.
		forRows(h, workers, func(y0, y1 int) {
			var acc [5][]float32
			for c := range acc {
				acc[c] = make([]float32, w)
			}
			for y := y0; y < y1; y++ {
				for c := range acc {
					vconvRow(acc[c], t[c], w, h, y, win, r)
				}
				uu, vv := u[y*w:][:w], v[y*w:][:w]
				for x := 0; x < w; x++ {
					a := acc[0][x] + lam
					b := acc[1][x]
					c := acc[2][x] + lam
					det := a*c - b*b
					if !(det > 1e-20) {
						continue
					}
					rx := acc[3][x] + lam*uu[x]
					ry := acc[4][x] + lam*vv[x]
					nu := (c*rx - b*ry) / det
					nv := (a*ry - b*rx) / det
					uu[x] += clampf(nu-uu[x], -maxStep, maxStep)
					vv[x] += clampf(nv-vv[x], -maxStep, maxStep)
				}
			}
		})
	}
}

func clampf(x, lo, hi float32) float32 {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

// clampToPlane clamps the coordinates (x, y) to [0, w-1] x [0, h-1]; NaN
// becomes 0.
func clampToPlane(x, y float32, w, h int) (float32, float32) {
	if !(x > 0) { // also catches NaN
		x = 0
	} else if x > float32(w-1) {
		x = float32(w - 1)
	}
	if !(y > 0) {
		y = 0
	} else if y > float32(h-1) {
		y = float32(h - 1)
	}
	return x, y
}

// bilinear samples p at (x, y) with the coordinates clamped to the plane.
func bilinear(p []float32, w, h int, x, y float32) float32 {
	x, y = clampToPlane(x, y, w, h)
	x0, y0 := int(x), int(y)
	fx, fy := x-float32(x0), y-float32(y0)
	x1, y1 := x0+1, y0+1
	if x1 >= w {
		x1 = w - 1
	}
	if y1 >= h {
		y1 = h - 1
	}
	r0, r1 := y0*w, y1*w
	top := p[r0+x0] + fx*(p[r0+x1]-p[r0+x0])
	bot := p[r1+x0] + fx*(p[r1+x1]-p[r1+x0])
	return top + fy*(bot-top)
}

// Warp returns img backward-warped by (u, v): out(x, y) = img(x+u, y+v),
// sampled bilinearly. Sample positions outside the plane are clamped to its
// border (replicate); use OcclusionMask or a bounds check on x+u, y+v to
// exclude them. Warp panics if the plane lengths do not match w*h.
func Warp(img []float32, w, h int, u, v []float32) []float32 {
	checkPlane("img", img, w, h)
	checkPlane("u", u, w, h)
	checkPlane("v", v, w, h)
	out := make([]float32, w*h)
	forRows(h, runtime.GOMAXPROCS(0), func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			for x := 0; x < w; x++ {
				i := y*w + x
				out[i] = bilinear(img, w, h, float32(x)+u[i], float32(y)+v[i])
			}
		}
	})
	return out
}

// Forward-backward consistency constants of OcclusionMask: a pixel is
// consistent when |f + b(x+f)|² < ConsistencyAlpha1 (|f|² + |b(x+f)|²) +
// ConsistencyAlpha2.
const (
	ConsistencyAlpha1 = 0.01
	ConsistencyAlpha2 = 0.5
)

// OcclusionMask marks the pixels where the flow fwd (from frame A to frame B,
// as returned by Dense(A, B)) is unreliable, using the backward flow bwd
// (Dense(B, A)). It returns true at pixel x when x+f(x) falls outside the
// plane, or when the forward-backward check fails:
//
//	|f + b(x+f)|² >= 0.01 (|f|² + |b(x+f)|²) + 0.5
//
// where f = fwd(x) and b(x+f) is bwd sampled bilinearly at x+f. The result is
// true for occluded or out-of-frame pixels and false for trusted ones.
// OcclusionMask panics if the plane lengths do not match w*h.
func OcclusionMask(fwdU, fwdV, bwdU, bwdV []float32, w, h int) []bool {
	checkPlane("fwdU", fwdU, w, h)
	checkPlane("fwdV", fwdV, w, h)
	checkPlane("bwdU", bwdU, w, h)
	checkPlane("bwdV", bwdV, w, h)
	occ := make([]bool, w*h)
	forRows(h, runtime.GOMAXPROCS(0), func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			for x := 0; x < w; x++ {
				i := y*w + x
				fu, fv := fwdU[i], fwdV[i]
				tx, ty := float32(x)+fu, float32(y)+fv
				if !(tx >= 0 && tx <= float32(w-1) && ty >= 0 && ty <= float32(h-1)) {
					occ[i] = true
					continue
				}
				bu := bilinear(bwdU, w, h, tx, ty)
				bv := bilinear(bwdV, w, h, tx, ty)
				du, dv := float64(fu+bu), float64(fv+bv)
				lhs := du*du + dv*dv
				rhs := ConsistencyAlpha1*(float64(fu)*float64(fu)+float64(fv)*float64(fv)+
					float64(bu)*float64(bu)+float64(bv)*float64(bv)) + ConsistencyAlpha2
				occ[i] = !(lhs < rhs)
			}
		}
	})
	return occ
}

// gaussKernel returns a normalised Gaussian of standard deviation sigma,
// truncated at ceil(3 sigma).
func gaussKernel(sigma float64) []float32 {
	r := int(math.Ceil(3 * sigma))
	if r < 1 {
		r = 1
	}
	k := make([]float64, 2*r+1)
	var s float64
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		s += k[i]
	}
	out := make([]float32, len(k))
	for i := range k {
		out[i] = float32(k[i] / s)
	}
	return out
}
