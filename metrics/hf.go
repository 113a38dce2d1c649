package metrics

import (
	"fmt"
	"math"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/parallel"
)

// LaplacianMean returns the mean absolute 4-neighbour Laplacian
// |4 I(x,y) - I(x-1,y) - I(x+1,y) - I(x,y-1) - I(x,y+1)| of img in space,
// a measure of its high-frequency energy. It is averaged over the interior
// pixels of the cropped image (those with all four neighbours inside the
// crop) and, for SpaceRGB, over the three channels. The cropped image must be
// at least 3x3 (ErrTooSmall).
func LaplacianMean(img *frame.Image, space Space, crop int) (float64, error) {
	if err := checkFrame("img", img); err != nil {
		return 0, fmt.Errorf("LaplacianMean: %w", err)
	}
	if err := checkCrop(img.W, img.H, crop); err != nil {
		return 0, fmt.Errorf("LaplacianMean: %w", err)
	}
	ps, err := planesOf(img, space)
	if err != nil {
		return 0, fmt.Errorf("LaplacianMean: %w", err)
	}
	for i := range ps {
		ps[i] = ps[i].crop(crop)
	}
	if ps[0].w < 3 || ps[0].h < 3 {
		return 0, fmt.Errorf("LaplacianMean: %w: %dx%d after crop", ErrTooSmall, ps[0].w, ps[0].h)
	}
	return laplacianMean(ps), nil
}

func laplacianMean(ps []plane) float64 {
	var s float64
	for _, p := range ps {
		w, h := p.w, p.h
		rows := make([]float64, h)
		parallel.Rows(h-2, 64, 0, func(y0, y1 int) {
			for y := y0 + 1; y < y1+1; y++ {
				u := p.pix[(y-1)*w:][:w]
				c := p.pix[y*w:][:w]
				d := p.pix[(y+1)*w:][:w]
				var rs float64
				for x := 1; x < w-1; x++ {
					rs += math.Abs(4*c[x] - c[x-1] - c[x+1] - u[x] - d[x])
				}
				rows[y] = rs
			}
		})
		var sum float64
		for _, r := range rows {
			sum += r
		}
		s += sum / float64((w-2)*(h-2))
	}
	return s / float64(len(ps))
}

// HFRatio returns LaplacianMean(pred) / LaplacianMean(gt): about 1 when the
// prediction has as much high-frequency energy as the ground truth, below 1
// when it is over-smoothed and above 1 when it adds detail or noise. When gt
// has no high-frequency energy at all the ratio is 1 if pred has none either
// and +Inf otherwise.
func HFRatio(gt, pred *frame.Image, space Space, crop int) (float64, error) {
	if err := checkPair(gt, pred, crop); err != nil {
		return 0, fmt.Errorf("HFRatio: %w", err)
	}
	lg, err := LaplacianMean(gt, space, crop)
	if err != nil {
		return 0, fmt.Errorf("HFRatio: %w", err)
	}
	lp, err := LaplacianMean(pred, space, crop)
	if err != nil {
		return 0, fmt.Errorf("HFRatio: %w", err)
	}
	return hfRatio(lg, lp), nil
}

func hfRatio(lg, lp float64) float64 {
	if lg == 0 {
		if lp == 0 {
			return 1
		}
		return math.Inf(1)
	}
	return lp / lg
}
