package metrics

import (
	"fmt"
	"math"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/parallel"
)

// SSIM parameters (Wang, Bovik, Sheikh, Simoncelli 2004) on a [0, 1] scale.
const (
	ssimK1     = 0.01
	ssimK2     = 0.03
	ssimC1     = ssimK1 * ssimK1 // (K1 L)², L = 1
	ssimC2     = ssimK2 * ssimK2 // (K2 L)²
	ssimSigma  = 1.5
	ssimRadius = 5 // 11x11 window
	ssimSize   = 2*ssimRadius + 1
)

// msssimMaxScales is the number of scales of the published MS-SSIM.
const msssimMaxScales = 5

// msssimPublished returns the MS-SSIM weights for scales 1 (finest) to 5
// (Wang, Simoncelli, Bovik 2003).
func msssimPublished() [msssimMaxScales]float64 {
	return [msssimMaxScales]float64{0.0448, 0.2856, 0.3001, 0.2363, 0.1333}
}

// msssimWeights returns the weights for n scales: the published five for
// n = 5, otherwise the first n renormalised to sum to 1.
func msssimWeights(n int) []float64 {
	all := msssimPublished()
	w := make([]float64, n)
	copy(w, all[:n])
	if n == msssimMaxScales {
		return w
	}
	var s float64
	for _, x := range w {
		s += x
	}
	for i := range w {
		w[i] /= s
	}
	return w
}

// ssimWindow returns the normalised 1-D Gaussian (sigma 1.5, 11 taps) whose
// outer product is the 11x11 SSIM window.
func ssimWindow() [ssimSize]float64 {
	var k [ssimSize]float64
	var s float64
	for i := range k {
		d := float64(i - ssimRadius)
		k[i] = math.Exp(-d * d / (2 * ssimSigma * ssimSigma))
		s += k[i]
	}
	for i := range k {
		k[i] /= s
	}
	return k
}

// SSIM returns the mean structural similarity of pred against gt, as Wang et
// al. 2004 and their reference implementation: 11x11 Gaussian window
// (sigma 1.5) evaluated only where it fits inside the cropped image ("valid"
// region, no padding), K1 = 0.01, K2 = 0.03, dynamic range 1. For SpaceRGB
// it is the mean of the per-channel SSIMs. The cropped image must be at least
// 11x11 (ErrTooSmall).
func SSIM(gt, pred *frame.Image, space Space, crop int) (float64, error) {
	g, p, err := preparePair(gt, pred, space, crop)
	if err != nil {
		return 0, fmt.Errorf("SSIM: %w", err)
	}
	if err := checkWindow(g[0]); err != nil {
		return 0, fmt.Errorf("SSIM: %w", err)
	}
	var s float64
	for c := range g {
		v, _ := ssimPlane(g[c], p[c])
		s += v
	}
	return s / float64(len(g)), nil
}

// MSSSIM returns the multi-scale SSIM of pred against gt (Wang, Simoncelli,
// Bovik 2003, as their reference implementation): at each of M scales the
// mean contrast-structure term cs_j is measured with the SSIM window, and the
// images are then reduced by 2x2 averaging and decimation (symmetric padding
// for odd sizes); at the coarsest scale the full mean SSIM is taken. The
// score is
//
//	MS-SSIM = SSIM_M^w_M · Π_{j<M} cs_j^w_j
//
// with the weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333 for M = 5. Negative
// terms are clamped to 0 before the fractional powers (as common
// implementations do), so the score lies in [0, 1].
//
// M is 5 when the cropped image's short side is at least 176 pixels (the
// coarsest scale must still hold an 11x11 window). Smaller images use as many
// scales as fit, with the first M weights renormalised to sum to 1 (M = 1 is
// plain SSIM). For SpaceRGB the per-channel scores are averaged. Images
// smaller than 11x11 give ErrTooSmall.
func MSSSIM(gt, pred *frame.Image, space Space, crop int) (float64, error) {
	g, p, err := preparePair(gt, pred, space, crop)
	if err != nil {
		return 0, fmt.Errorf("MSSSIM: %w", err)
	}
	if err := checkWindow(g[0]); err != nil {
		return 0, fmt.Errorf("MSSSIM: %w", err)
	}
	var s float64
	for c := range g {
		_, ms := ssimMSSSIM(g[c], p[c])
		s += ms
	}
	return s / float64(len(g)), nil
}

func checkWindow(p plane) error {
	if p.w < ssimSize || p.h < ssimSize {
		return fmt.Errorf("%w: %dx%d after crop, SSIM needs %dx%d", ErrTooSmall, p.w, p.h, ssimSize, ssimSize)
	}
	return nil
}

// msssimScales returns the number of MS-SSIM scales that fit a w x h image.
func msssimScales(w, h int) int {
	n := 0
	for n < msssimMaxScales && w >= ssimSize && h >= ssimSize {
		n++
		w, h = (w+1)/2, (h+1)/2
	}
	return n
}

// ssimMSSSIM returns SSIM and MS-SSIM of one plane pair; the first scale of
// MS-SSIM is the SSIM pass itself.
func ssimMSSSIM(x, y plane) (ssim, msssim float64) {
	m := msssimScales(x.w, x.h)
	wts := msssimWeights(m)
	msssim = 1
	for j := range m {
		s, cs := ssimPlane(x, y)
		if j == 0 {
			ssim = s
		}
		if j == m-1 {
			msssim *= math.Pow(max(s, 0), wts[j])
			break
		}
		msssim *= math.Pow(max(cs, 0), wts[j])
		x, y = halve(x, false), halve(y, false)
	}
	return ssim, msssim
}

// halve averages 2x2 blocks and decimates: out(i, j) is the mean of pixels
// (2i..2i+1, 2j..2j+1). For an odd size the missing last row/column is taken
// as zero when zeroPad is set (MATLAB conv2 'same') and as a copy of the last
// one otherwise (imfilter 'symmetric').
func halve(p plane, zeroPad bool) plane {
	w, h := (p.w+1)/2, (p.h+1)/2
	out := plane{make([]float64, w*h), w, h}
	at := func(x, y int) float64 {
		if x >= p.w || y >= p.h {
			if zeroPad {
				return 0
			}
			x, y = min(x, p.w-1), min(y, p.h-1)
		}
		return p.pix[y*p.w+x]
	}
	for j := range h {
		for i := range w {
			out.pix[j*w+i] = (at(2*i, 2*j) + at(2*i+1, 2*j) + at(2*i, 2*j+1) + at(2*i+1, 2*j+1)) / 4
		}
	}
	return out
}

// ssimPlane returns the mean SSIM and the mean contrast-structure term over
// the valid region of one plane pair (both at least 11x11).
func ssimPlane(x, y plane) (ssim, cs float64) {
	k := ssimWindow()
	w, h := x.w, x.h
	ow, oh := w-2*ssimRadius, h-2*ssimRadius
	rowS := make([]float64, oh)
	rowC := make([]float64, oh)
	const band = 48
	parallel.Rows(oh, band, 0, func(y0, y1 int) {
		nIn := y1 - y0 + 2*ssimRadius
		// Horizontally filtered x, y, x², y², xy for the band's input rows.
		var hb [5][]float64
		for c := range hb {
			hb[c] = make([]float64, nIn*ow)
		}
		for r := range nIn {
			xr := x.pix[(y0+r)*w:][:w]
			yr := y.pix[(y0+r)*w:][:w]
			o := r * ow
			for ox := range ow {
				xs := xr[ox : ox+ssimSize : ox+ssimSize]
				ys := yr[ox : ox+ssimSize : ox+ssimSize]
				var a, b, aa, bb, ab float64
				for j, kj := range k {
					xv, yv := xs[j], ys[j]
					a += kj * xv
					b += kj * yv
					aa += kj * xv * xv
					bb += kj * yv * yv
					ab += kj * xv * yv
				}
				hb[0][o+ox], hb[1][o+ox], hb[2][o+ox], hb[3][o+ox], hb[4][o+ox] = a, b, aa, bb, ab
			}
		}
		// Vertical filtering row by row, then the SSIM terms.
		var acc [5][]float64
		for c := range acc {
			acc[c] = make([]float64, ow)
		}
		for oy := y0; oy < y1; oy++ {
			r := oy - y0
			for c := range acc {
				a := acc[c]
				for i := range a {
					a[i] = 0
				}
				for j, kj := range k {
					src := hb[c][(r+j)*ow:][:len(a)]
					for i := range a {
						a[i] += kj * src[i]
					}
				}
			}
			var sS, sC float64
			for i := range ow {
				mx, my := acc[0][i], acc[1][i]
				vx := acc[2][i] - mx*mx
				vy := acc[3][i] - my*my
				cxy := acc[4][i] - mx*my
				l := (2*mx*my + ssimC1) / (mx*mx + my*my + ssimC1)
				c := (2*cxy + ssimC2) / (vx + vy + ssimC2)
				sS += l * c
				sC += c
			}
			rowS[oy], rowC[oy] = sS, sC
		}
	})
	for i := range oh {
		ssim += rowS[i]
		cs += rowC[i]
	}
	n := float64(ow * oh)
	return ssim / n, cs / n
}
