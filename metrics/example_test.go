package metrics_test

import (
	"fmt"
	"math"
	"os"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/metrics"
)

// Score a two-frame sequence whose prediction is 0.1 too bright everywhere.
func Example() {
	gt := frame.New(32, 32)
	for y := range gt.H {
		for x := range gt.W {
			for c := range 3 {
				gt.Set(x, y, c, 0.3+0.4*float32((x*7+y*3+c)%16)/15)
			}
		}
	}
	pred := gt.Clone()
	for i := range pred.Pix {
		pred.Pix[i] += 0.1
	}

	psnr, err := metrics.PSNR(gt, pred, metrics.SpaceRGB, 0)
	if err != nil {
		panic(err)
	}
	fmt.Printf("PSNR (RGB): %.2f dB\n", psnr)

	ev, err := metrics.NewEvaluator(metrics.Options{Space: metrics.SpaceRGB, Crop: 2})
	if err != nil {
		panic(err)
	}
	for range 2 {
		if _, err := ev.Add(gt, pred); err != nil {
			panic(err)
		}
	}
	s := ev.Summary()
	fmt.Printf("frames %d, PSNR %.2f dB, SSIM %.3f, temporal diff %.3f\n", s.Frames, s.PSNR, s.SSIM, s.TempDiff)
	// Output:
	// PSNR (RGB): 20.00 dB
	// frames 2, PSNR 20.00 dB, SSIM 0.984, temporal diff 0.000
}

// Per-frame scores as CSV; the first frame has no temporal scores.
func ExampleWriteCSV() {
	nan := math.NaN()
	scores := []metrics.FrameScores{
		{Index: 0, PSNR: 31.5, SSIM: 0.91, MSSSIM: 0.97, GMSD: 0.05, HFRatio: 0.8, WarpErr: nan, TempDiff: nan,
			LPIPS: 0.21, NIQE: 5.5, NIQEGT: 4.25, WarpErrGT: nan},
		{Index: 1, PSNR: 31.25, SSIM: 0.9, MSSSIM: 0.96, GMSD: 0.06, HFRatio: 0.85, WarpErr: 0.012, TempDiff: 0.004,
			LPIPS: 0.2, NIQE: 5.75, NIQEGT: 4.5, WarpErrGT: 0.009},
	}
	if err := metrics.WriteCSV(os.Stdout, scores); err != nil {
		panic(err)
	}
	// Output:
	// frame,psnr,ssim,ms_ssim,gmsd,hf_ratio,warp_err,temp_diff,lpips,niqe,niqe_gt,warp_err_gt
	// 0,31.5,0.91,0.97,0.05,0.8,,,0.21,5.5,4.25,
	// 1,31.25,0.9,0.96,0.06,0.85,0.012,0.004,0.2,5.75,4.5,0.009
}
