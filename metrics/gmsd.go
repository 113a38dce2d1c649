package metrics

import (
	"fmt"
	"math"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/parallel"
)

// GMSDConstant is the stability constant T of GMSD for samples on a [0, 1]
// scale: the published T = 170 for [0, 255] samples divided by 255², since
// T is added to squared gradient magnitudes (170/65025 ≈ 0.0026144).
const GMSDConstant = 170.0 / (255 * 255)

// GMSD returns the gradient magnitude similarity deviation of pred against
// gt (Xue, Zhang, Mou, Bovik 2014), lower is better, 0 for identical images.
// Following the authors' reference code, each cropped plane is reduced by
// 2x2 averaging and decimation (zero padding for an odd size), Prewitt
// gradients (kernels [1 0 -1]/3 over 3 rows, zero padding at the border) give
// the magnitudes m_g, m_p, the gradient magnitude similarity
//
//	GMS = (2 m_g m_p + T) / (m_g² + m_p² + T),  T = GMSDConstant
//
// is formed at every pixel, and GMSD is its standard deviation (normalised by
// N-1, as MATLAB's std2). For SpaceRGB the per-channel values are averaged.
func GMSD(gt, pred *frame.Image, space Space, crop int) (float64, error) {
	g, p, err := preparePair(gt, pred, space, crop)
	if err != nil {
		return 0, fmt.Errorf("GMSD: %w", err)
	}
	return gmsdPlanes(g, p), nil
}

func gmsdPlanes(g, p []plane) float64 {
	var s float64
	for c := range g {
		s += gmsdPlane(g[c], p[c])
	}
	return s / float64(len(g))
}

func gmsdPlane(x, y plane) float64 {
	x, y = halve(x, true), halve(y, true)
	mx, my := prewittMag(x), prewittMag(y)
	n := len(mx)
	if n < 2 {
		return 0
	}
	gms := make([]float64, n)
	var mean float64
	for i := range gms {
		a, b := mx[i], my[i]
		gms[i] = (2*a*b + GMSDConstant) / (a*a + b*b + GMSDConstant)
		mean += gms[i]
	}
	mean /= float64(n)
	var ss float64
	for _, v := range gms {
		d := v - mean
		ss += d * d
	}
	return math.Sqrt(ss / float64(n-1))
}

// prewittMag returns the Prewitt gradient magnitude of p with zero padding.
func prewittMag(p plane) []float64 {
	w, h := p.w, p.h
	out := make([]float64, w*h)
	at := func(x, y int) float64 {
		if x < 0 || y < 0 || x >= w || y >= h {
			return 0
		}
		return p.pix[y*w+x]
	}
	parallel.Rows(h, 64, 0, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			for x := range w {
				gx := (at(x+1, y-1) + at(x+1, y) + at(x+1, y+1) - at(x-1, y-1) - at(x-1, y) - at(x-1, y+1)) / 3
				gy := (at(x-1, y+1) + at(x, y+1) + at(x+1, y+1) - at(x-1, y-1) - at(x, y-1) - at(x+1, y-1)) / 3
				out[y*w+x] = math.Sqrt(gx*gx + gy*gy)
			}
		}
	})
	return out
}
