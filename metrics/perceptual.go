package metrics

import (
	"fmt"
	"math"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/metrics/niqe"
)

// PairScorer is a full-reference distance computed outside this package,
// such as LPIPS on a compute backend: *lpips.Metric (package metrics/lpips)
// implements it. ref and dist are interleaved RGB samples in [0, 1],
// row-major, w*h*3 values each (the layout of frame.Image.Pix).
type PairScorer interface {
	Distance(ref, dist []float32, w, h int) (float64, error)
}

// rgb8 returns the inner part of img without c pixels on each side, each
// sample rounded to its 8-bit code and scaled back to [0, 1], so that
// perceptual scores match those of the saved PNG frames.
func rgb8(img *frame.Image, c int) (pix []float32, w, h int) {
	w, h = img.W-2*c, img.H-2*c
	pix = make([]float32, 0, w*h*3)
	for y := c; y < img.H-c; y++ {
		for _, v := range img.Pix[(y*img.W+c)*3 : (y*img.W+img.W-c)*3] {
			pix = append(pix, float32(quant8(v)/255))
		}
	}
	return pix, w, h
}

// perceptual scores the cropped pair with the LPIPS scorer (NaN without
// one).
func perceptual(s PairScorer, gt, pred *frame.Image, crop int) (float64, error) {
	if s == nil {
		return math.NaN(), nil
	}
	g, w, h := rgb8(gt, crop)
	p, _, _ := rgb8(pred, crop)
	v, err := s.Distance(g, p, w, h)
	if err != nil {
		return 0, fmt.Errorf("LPIPS: %w", err)
	}
	return v, nil
}

// niqeOf returns NIQE of a cropped luma plane (Y's [0, 1] scale), rounded to
// 8-bit codes as the published scores are; NaN when the plane is smaller than
// one NIQE patch or has no textured patch.
func niqeOf(m *niqe.Model, p plane) float64 {
	if m == nil || p.w < niqe.BlockSize || p.h < niqe.BlockSize {
		return math.NaN()
	}
	y := make([]float64, len(p.pix))
	for i, v := range p.pix {
		y[i] = math.Round(v * 255)
	}
	s, err := m.Score(y, p.w, p.h)
	if err != nil {
		return math.NaN()
	}
	return s
}

// NIQE returns the no-reference NIQE score (package metrics/niqe; lower is
// more natural) of img's BT.601 luma (see Y) on the 8-bit scale, with crop
// pixels left out at every border. It returns NaN when the cropped frame is
// smaller than one 96x96 NIQE patch or has no textured patch.
func NIQE(img *frame.Image, crop int) (float64, error) {
	if err := checkFrame("img", img); err != nil {
		return 0, err
	}
	if err := checkCrop(img.W, img.H, crop); err != nil {
		return 0, err
	}
	m, err := niqe.Pristine()
	if err != nil {
		return 0, err
	}
	return niqeOf(m, plane{Y(img), img.W, img.H}.crop(crop)), nil
}
