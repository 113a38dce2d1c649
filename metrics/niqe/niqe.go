// Package niqe computes NIQE, the Natural Image Quality Evaluator of Mittal,
// Soundararajan and Bovik ("Making a 'Completely Blind' Image Quality
// Analyzer", IEEE Signal Processing Letters, 2012), a no-reference quality
// score: lower is more natural. Typical photographs score 3 to 6; blur,
// noise and compression raise the score.
//
// The score measures how far the statistics of an image's local patches lie
// from those of pristine natural images:
//
//  1. the luma is normalised into MSCN coefficients, (I - μ)/(σ + 1), with
//     μ and σ the local mean and deviation under a 7x7 Gaussian window
//     (σ = 7/6, replicated borders);
//  2. the image is cut into 96x96 patches (the right and bottom remainders
//     are dropped), and each patch gives 18 features: the shape and mean
//     scale of an asymmetric generalised Gaussian (AGGD) fitted to its
//     coefficients, and shape, mean, left and right scale of AGGDs fitted to
//     the products of horizontally, vertically and diagonally neighbouring
//     coefficients;
//  3. the same is repeated on the image halved with MATLAB's antialiased
//     bicubic imresize (48x48 patches), for 36 features per patch;
//  4. a multivariate Gaussian is fitted to the patch features (a NaN-ignoring
//     mean, the covariance of the patches whose features are all finite) and
//     NIQE is sqrt((μp - μd)ᵀ pinv((Σp + Σd)/2) (μp - μd)) against the
//     pristine model (μp, Σp).
//
// Precision: the local variance E[I²] - μ² and the MSCN division, and the
// halved image, are held in float32. That reproduces the published MATLAB
// value for BasicSR's baboon.png (5.72957338) to 2e-7; carrying them in
// float64 instead moves the score by 4e-4 (5.72996), through the
// cancellation in E[I²] - μ² on flat areas.
//
// This follows LIVE's reference computequality.m: at scoring time every
// patch counts. The sharpness selection of the NIQE paper (keeping the
// patches whose mean σ exceeds 0.75 of the maximum) applies when fitting the
// pristine model from training images, and is already in the shipped model.
//
// The pristine model is LIVE's release model (modelparameters.mat), embedded
// from niqe_pristine_params.json; its copyright notice is
// LIVE_NIQE_COPYRIGHT_NOTICE.txt next to this file, and publications that
// report NIQE must acknowledge LIVE as that notice asks. The package keeps
// no mutable global state: the model is parsed on each call of Pristine.
package niqe

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// BlockSize is the side of the square patches at the full scale.
const BlockSize = 96

// NumFeatures is the number of features per patch (18 at each of 2 scales).
const NumFeatures = 36

// ErrTooSmall reports an image smaller than one BlockSize x BlockSize patch.
var ErrTooSmall = errors.New("niqe: image smaller than one 96x96 patch")

// ErrInput reports a luma slice whose length is not w*h.
var ErrInput = errors.New("niqe: bad input")

//go:embed niqe_pristine_params.json
var pristineJSON []byte

// Model is a pristine multivariate-Gaussian model of patch features and the
// Gaussian window of the local statistics. It is immutable and safe for
// concurrent use.
type Model struct {
	mu     []float64  // NumFeatures
	cov    *mat.Dense // NumFeatures x NumFeatures
	window [7][7]float64
	gam    []float64 // shape grid 0.2:0.001:10
	rGam   []float64 // Γ(2/a)² / (Γ(1/a) Γ(3/a)) on the grid
}

// Pristine returns LIVE's pristine model, the one every published NIQE value
// uses.
func Pristine() (*Model, error) {
	var p struct {
		Mu     []float64   `json:"mu_prisparam"`
		Cov    [][]float64 `json:"cov_prisparam"`
		Window [][]float64 `json:"gaussian_window_7x7"`
	}
	if err := json.Unmarshal(pristineJSON, &p); err != nil {
		return nil, fmt.Errorf("niqe: pristine model: %w", err)
	}
	if len(p.Mu) != NumFeatures || len(p.Cov) != NumFeatures || len(p.Window) != 7 {
		return nil, fmt.Errorf("niqe: pristine model: %w: unexpected shapes", ErrInput)
	}
	cov := mat.NewDense(NumFeatures, NumFeatures, nil)
	for i, row := range p.Cov {
		if len(row) != NumFeatures {
			return nil, fmt.Errorf("niqe: pristine model: %w: covariance row %d has %d values", ErrInput, i, len(row))
		}
		for j, v := range row {
			cov.Set(i, j, v)
		}
	}
	return NewModel(p.Mu, cov, p.Window)
}

// NewModel returns a model from a feature mean (NumFeatures values), its
// covariance (NumFeatures x NumFeatures) and a 7x7 window that sums to 1.
func NewModel(mu []float64, cov mat.Matrix, window [][]float64) (*Model, error) {
	r, c := cov.Dims()
	if len(mu) != NumFeatures || r != NumFeatures || c != NumFeatures {
		return nil, fmt.Errorf("niqe: %w: model needs %d features, got mean %d and covariance %dx%d",
			ErrInput, NumFeatures, len(mu), r, c)
	}
	m := &Model{mu: append([]float64(nil), mu...), cov: mat.DenseCopyOf(cov)}
	if len(window) != 7 {
		return nil, fmt.Errorf("niqe: %w: window has %d rows, want 7", ErrInput, len(window))
	}
	for i, row := range window {
		if len(row) != 7 {
			return nil, fmt.Errorf("niqe: %w: window row %d has %d values, want 7", ErrInput, i, len(row))
		}
		copy(m.window[i][:], row)
	}
	const n = 9801 // 0.2:0.001:10
	m.gam = make([]float64, n)
	m.rGam = make([]float64, n)
	for i := range n {
		a := 0.2 + float64(i)*0.001
		m.gam[i] = a
		g2 := math.Gamma(2 / a)
		m.rGam[i] = g2 * g2 / (math.Gamma(1/a) * math.Gamma(3/a))
	}
	return m, nil
}

// Score returns the NIQE of a w x h luma plane in row-major order on the
// 8-bit scale [0, 255] (published values use MATLAB's rgb2ycbcr Y rounded to
// integers). The image needs at least one 96x96 patch. It returns NaN when
// no patch has finite features, as for a perfectly flat image.
func (m *Model) Score(luma []float64, w, h int) (float64, error) {
	if len(luma) != w*h {
		return 0, fmt.Errorf("%w: %d samples for %dx%d", ErrInput, len(luma), w, h)
	}
	bw, bh := w/BlockSize, h/BlockSize
	if bw == 0 || bh == 0 {
		return 0, fmt.Errorf("%w: %dx%d", ErrTooSmall, w, h)
	}
	feats := m.Features(luma, w, h)
	return m.distance(feats), nil
}

// Features returns the NumFeatures features of every 96x96 patch of a luma
// plane (see Score for the input), patches in row-major order. It returns
// nil for an image smaller than one patch or a slice of the wrong length.
func (m *Model) Features(luma []float64, w, h int) [][]float64 {
	bw, bh := w/BlockSize, h/BlockSize
	if bw == 0 || bh == 0 || len(luma) != w*h {
		return nil
	}
	// Crop to whole patches.
	cw, ch := bw*BlockSize, bh*BlockSize
	img := make([]float64, cw*ch)
	for y := range ch {
		copy(img[y*cw:(y+1)*cw], luma[y*w:y*w+cw])
	}
	feats := make([][]float64, bw*bh)
	for i := range feats {
		feats[i] = make([]float64, 0, NumFeatures)
	}
	for scale := 1; scale <= 2; scale++ {
		mscn := m.mscn(img, cw, ch)
		bs := BlockSize / scale
		block := make([]float64, bs*bs)
		for by := range bh {
			for bx := range bw {
				for y := range bs {
					copy(block[y*bs:(y+1)*bs], mscn[(by*bs+y)*cw+bx*bs:][:bs])
				}
				i := by*bw + bx
				feats[i] = m.blockFeatures(feats[i], block, bs)
			}
		}
		if scale == 1 {
			img, cw, ch = halve(img, cw, ch)
		}
	}
	return feats
}

// mscn returns the mean-subtracted contrast-normalised coefficients
// (I - μ)/(σ + 1) of img under the model's window with replicated borders.
// The window sums are accumulated in float64; the variance E[I²] - μ² and
// the normalisation are done in float32.
func (m *Model) mscn(img []float64, w, h int) []float64 {
	out := make([]float64, len(img))
	clamp := func(v, n int) int { return min(max(v, 0), n-1) }
	for y := range h {
		for x := range w {
			var mu, sq float64
			for dy := -3; dy <= 3; dy++ {
				row := clamp(y+dy, h) * w
				for dx := -3; dx <= 3; dx++ {
					v := img[row+clamp(x+dx, w)]
					k := m.window[dy+3][dx+3]
					mu += k * v
					sq += k * v * v
				}
			}
			// Single precision from here on, as in the implementations
			// behind the published scores (see the package doc).
			mu32, sq32 := float32(mu), float32(sq)
			sigma := float32(math.Sqrt(float64(float32(math.Abs(float64(sq32 - mu32*mu32))))))
			out[y*w+x] = float64((float32(img[y*w+x]) - mu32) / (sigma + 1))
		}
	}
	return out
}

// blockFeatures appends the 18 features of one bs x bs MSCN block to dst.
func (m *Model) blockFeatures(dst, block []float64, bs int) []float64 {
	alpha, bl, br := m.aggd(block)
	dst = append(dst, alpha, (bl+br)/2)
	pair := make([]float64, len(block))
	// Neighbour offsets (rows, columns) with wrap-around inside the block:
	// horizontal, vertical, main diagonal, anti-diagonal.
	for _, s := range [4][2]int{{0, 1}, {1, 0}, {1, 1}, {-1, 1}} {
		for y := range bs {
			sy := ((y-s[0])%bs + bs) % bs
			for x := range bs {
				sx := ((x-s[1])%bs + bs) % bs
				pair[y*bs+x] = block[y*bs+x] * block[sy*bs+sx]
			}
		}
		alpha, bl, br := m.aggd(pair)
		mean := (br - bl) * math.Gamma(2/alpha) / math.Gamma(1/alpha)
		dst = append(dst, alpha, mean, bl, br)
	}
	return dst
}

// aggd fits an asymmetric generalised Gaussian to v by moment matching on
// the shape grid and returns its shape and left and right scales. The
// scales are NaN when v has no negative (or no positive) values, as in the
// reference.
func (m *Model) aggd(v []float64) (alpha, betaL, betaR float64) {
	var sumL, sumR, sumAbs, sumSq float64
	var nL, nR int
	for _, x := range v {
		switch {
		case x < 0:
			sumL += x * x
			nL++
		case x > 0:
			sumR += x * x
			nR++
		}
		sumAbs += math.Abs(x)
		sumSq += x * x
	}
	n := float64(len(v))
	leftStd := math.Sqrt(sumL / float64(nL)) // NaN when nL == 0
	rightStd := math.Sqrt(sumR / float64(nR))
	gh := leftStd / rightStd
	rhat := (sumAbs / n) * (sumAbs / n) / (sumSq / n)
	rnorm := rhat * (gh*gh*gh + 1) * (gh + 1) / ((gh*gh + 1) * (gh*gh + 1))
	best, bestErr := 0, math.Inf(1)
	for i, r := range m.rGam {
		if d := (r - rnorm) * (r - rnorm); d < bestErr {
			best, bestErr = i, d
		}
	}
	alpha = m.gam[best]
	k := math.Sqrt(math.Gamma(1/alpha) / math.Gamma(3/alpha))
	return alpha, leftStd * k, rightStd * k
}

// distance fits a Gaussian to feats and returns NIQE against the model.
func (m *Model) distance(feats [][]float64) float64 {
	// NaN-ignoring column means.
	mu := make([]float64, NumFeatures)
	for j := range NumFeatures {
		var s float64
		var c int
		for _, f := range feats {
			if !math.IsNaN(f[j]) {
				s += f[j]
				c++
			}
		}
		mu[j] = s / float64(c) // NaN when the whole column is NaN
	}
	// Covariance of the complete rows.
	var rows [][]float64
	for _, f := range feats {
		ok := true
		for _, v := range f {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				ok = false
				break
			}
		}
		if ok {
			rows = append(rows, f)
		}
	}
	if len(rows) == 0 {
		return math.NaN()
	}
	mean := make([]float64, NumFeatures)
	for _, f := range rows {
		for j, v := range f {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(len(rows))
	}
	denom := float64(len(rows) - 1)
	if len(rows) == 1 {
		denom = 1 // MATLAB's cov of a single observation: zeros
	}
	pooled := mat.NewDense(NumFeatures, NumFeatures, nil)
	for i := range NumFeatures {
		for j := i; j < NumFeatures; j++ {
			var s float64
			for _, f := range rows {
				s += (f[i] - mean[i]) * (f[j] - mean[j])
			}
			c := (s/denom + m.cov.At(i, j)) / 2
			pooled.Set(i, j, c)
			pooled.Set(j, i, c)
		}
	}
	inv, ok := pinv(pooled)
	if !ok {
		return math.NaN()
	}
	d := make([]float64, NumFeatures)
	for j := range d {
		d[j] = m.mu[j] - mu[j]
	}
	dv := mat.NewVecDense(NumFeatures, d)
	var t mat.VecDense
	t.MulVec(inv, dv)
	return math.Sqrt(mat.Dot(dv, &t))
}

// pinv returns the Moore-Penrose pseudo-inverse of a, dropping singular
// values below MATLAB's default tolerance max(size)·σmax·eps.
func pinv(a *mat.Dense) (*mat.Dense, bool) {
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		return nil, false
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	s := svd.Values(nil)
	r, c := a.Dims()
	tol := float64(max(r, c)) * s[0] * 0x1p-52
	inv := mat.NewDense(c, r, nil)
	for k, sv := range s {
		if sv <= tol {
			continue
		}
		for i := range c {
			vi := v.At(i, k) / sv
			for j := range r {
				inv.Set(i, j, inv.At(i, j)+vi*u.At(j, k))
			}
		}
	}
	return inv, true
}
