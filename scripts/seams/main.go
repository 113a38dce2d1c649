// Command seams measures what the temporal window overlap costs and buys:
// for each overlap it upscales held-out shots in windows of --window-t
// frames and reports the quality of all frames and of the seam frames, the
// temporal consistency across the seams, and how many times each frame is
// computed.
//
//	go run ./scripts/seams --model M --json OUT.json SHOT_DIR...
//
// Each SHOT_DIR is a folder of ground-truth PNG frames (scripts/valshots
// makes them); the low-quality input is its bicubic downscale by 4 (as
// pssr bench makes it). The seam frames of an overlap are those the
// cross-fade touches (the overlap frames) or, with no overlap, the two
// frames on either side of a window boundary; the seam pairs are the
// consecutive pairs with a seam frame. Warp error is metrics.WarpError
// (flow on the ground truth), PSNR is on Y with a 4-pixel border left out.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/bench"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/metrics"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/tiling"
)

// result is one overlap's measurement, over all shots.
type result struct {
	Overlap        int     `json:"overlap"`
	ComputedPerOut float64 `json:"computed_per_frame"`
	Seconds        float64 `json:"seconds_per_frame"`
	PSNRAll        float64 `json:"psnr_y_all"`
	PSNRSeam       float64 `json:"psnr_y_seam"`
	WarpAll        float64 `json:"warp_err_all"`
	WarpSeam       float64 `json:"warp_err_seam"`
	WarpSeamMax    float64 `json:"warp_err_seam_max"`
	SeamFrames     int     `json:"seam_frames"`
	Frames         int     `json:"frames"`
}

func main() {
	modelPath := flag.String("model", "models/pssr-tiny-x4.safetensors", "model file")
	jsonPath := flag.String("json", "", "write the results as JSON to this file")
	windowT := flag.Int("window-t", 33, "temporal window in frames")
	overlaps := flag.String("overlaps", "0,2,4,8,16", "comma-separated overlaps to measure")
	mode := flag.String("mode", "pssr", "pipeline mode")
	fuse := flag.String("fuse", "final", "frequency update form")
	frames := flag.Int("frames", 1000, "at most this many frames per shot")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: seams [flags] SHOT_DIR...")
		os.Exit(2)
	}
	var ovs []int
	for _, s := range strings.Split(*overlaps, ",") {
		var v int
		if _, err := fmt.Sscan(s, &v); err != nil {
			fmt.Fprintln(os.Stderr, "seams: --overlaps:", err)
			os.Exit(2)
		}
		ovs = append(ovs, v)
	}
	if err := run(context.Background(), *modelPath, *jsonPath, *mode, *fuse, *windowT, *frames, ovs, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "seams:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, modelPath, jsonPath, mode, fuse string, windowT, maxFrames int, overlaps []int, shots []string) error {
	be, desc, err := backend.New("go", nil)
	if err != nil {
		return err
	}
	defer be.Finalize()
	m, err := model.Load(be, modelPath)
	if err != nil {
		return err
	}
	type shot struct{ lq, gt []*frame.Image }
	var data []shot
	for _, dir := range shots {
		lq, gt, err := bench.Load(ctx, bench.Input{Path: dir, Degrade: true, Scale: 4, Frames: maxFrames})
		if err != nil {
			return err
		}
		data = append(data, shot{lq, gt})
	}
	var results []result
	for _, ov := range overlaps {
		opt := pipeline.DefaultOptions()
		opt.Mode, opt.Fuse = pipeline.Mode(mode), pipeline.FuseMode(fuse)
		opt.WindowT, opt.OverlapT, opt.Tile = windowT, ov, 0
		u, err := pipeline.New(m, opt)
		if err != nil {
			return err
		}
		r := result{Overlap: ov}
		var nSeamPairs int
		var secs float64
		for _, s := range data {
			n := len(s.lq)
			spans, err := tiling.Windows(n, windowT, ov)
			if err != nil {
				return err
			}
			seam := make([]bool, n)
			computed := 0
			for i, sp := range spans {
				computed += sp.Len()
				if i == 0 {
					continue
				}
				prev := spans[i-1]
				if prev.End > sp.Start { // overlap frames
					for k := sp.Start; k < prev.End; k++ {
						seam[k] = true
					}
				} else { // a hard boundary between prev.End-1 and sp.Start
					seam[sp.Start-1], seam[sp.Start] = true, true
				}
			}
			r.ComputedPerOut += float64(computed)
			i := 0
			var out []*frame.Image
			start := time.Now()
			err = u.Run(ctx, func() (*frame.Image, error) {
				if i == n {
					return nil, io.EOF
				}
				i++
				return s.lq[i-1], nil
			}, func(f *frame.Image) error { out = append(out, f); return nil })
			if err != nil {
				return err
			}
			secs += time.Since(start).Seconds()
			for k := 0; k < n; k++ {
				p, err := metrics.PSNR(s.gt[k], out[k], metrics.SpaceY, bench.MetricCrop)
				if err != nil {
					return err
				}
				r.PSNRAll += p
				if seam[k] {
					r.PSNRSeam += p
					r.SeamFrames++
				}
				if k == 0 {
					continue
				}
				w, err := metrics.WarpError(s.gt[k-1], s.gt[k], out[k-1], out[k], bench.MetricCrop)
				if err != nil {
					return err
				}
				r.WarpAll += w
				if seam[k] || seam[k-1] {
					r.WarpSeam += w
					r.WarpSeamMax = max(r.WarpSeamMax, w)
					nSeamPairs++
				}
			}
			r.Frames += n
		}
		pairs := r.Frames - len(data)
		r.ComputedPerOut /= float64(r.Frames)
		r.Seconds = secs / float64(r.Frames)
		r.PSNRAll /= float64(r.Frames)
		r.WarpAll /= float64(pairs)
		if r.SeamFrames > 0 {
			r.PSNRSeam /= float64(r.SeamFrames)
		}
		if nSeamPairs > 0 {
			r.WarpSeam /= float64(nSeamPairs)
		}
		fmt.Printf("overlap %2d: %.2fx computed, %.3f s/frame, PSNR-Y all %.3f seam %.3f (%d frames), warp err all %.5f seam %.5f (max %.5f)\n",
			ov, r.ComputedPerOut, r.Seconds, r.PSNRAll, r.PSNRSeam, r.SeamFrames, r.WarpAll, r.WarpSeam, r.WarpSeamMax)
		results = append(results, r)
	}
	if jsonPath == "" {
		return nil
	}
	b, err := json.MarshalIndent(map[string]any{
		"model": modelPath, "mode": mode, "fuse": fuse, "window_t": windowT, "shots": shots,
		"machine": bench.DescribeMachine(), "backend": desc, "results": results,
	}, "", "  ")
	if err != nil {
		return err
	}
	tmp := jsonPath + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, jsonPath)
}
