package pipeline

import (
	"fmt"

	"github.com/pssr/pssr/model"
)

// Memory model of the host path, measured with pssr-tiny on the pure-Go
// backend (peak RSS against --window-t and --tile, at several frame
// sizes): a fixed part (program, model, compiled graphs), the output side
// of a window (accumulators, cross-fade slots and the written frame: about
// 32 bytes an output pixel per frame) and the networks' intermediates for
// one tile (about 720 bytes a tile pixel per frame for pssr-tiny, whose
// decoder fine stage is 32 wide; that stage dominates and the estimate
// grows with its width).
const (
	memFixed         = 256 << 20
	memPerOutPixel   = 32
	memPerTilePixel  = 720
	memFineReference = 32
)

// GCPercent is the garbage collector's target (runtime/debug.SetGCPercent)
// that the pssr command runs with unless GOGC is set. Almost all of the heap
// is pointer-free tensor data, so a collection costs little CPU; with Go's
// default of 100 the peak of a long run drifts towards twice the live set,
// at 25 it stays within about a quarter of it, whatever the video's length
// (BenchmarkPeakMemory, docs/benchmarks.md).
const GCPercent = 25

// EstimateMemory returns about how many bytes of memory a run of the host
// path takes for frames of outW x outH output pixels with cfg's networks
// and opt's window and tile sizes, for a video of frames frames (0 when
// not known; a window holds no more frames than the video). It is a
// planning estimate, on the high side.
func EstimateMemory(cfg model.Config, opt Options, outW, outH, frames int) int64 {
	tw, th := outW, outH
	if opt.Tile > 0 {
		tw, th = min(tw, opt.Tile), min(th, opt.Tile)
	}
	fine := max(cfg.AE.Width/2, 8)
	perTile := int64(memPerTilePixel) * int64(max(fine, memFineReference)) / memFineReference
	perFrame := int64(outW)*int64(outH)*memPerOutPixel + int64(tw)*int64(th)*perTile
	window := opt.WindowT
	if frames > 0 {
		window = min(window, frames)
	}
	return memFixed + int64(window)*perFrame
}

// FitMemory returns opt with the window, then the tile, made smaller until
// EstimateMemory fits budget bytes (0: no budget). Sizes the caller fixed
// (fixedWindow, fixedTile) are kept. The window shrinks to no fewer than 2
// frames (overlap at most half of it), the tile to no less than 256
// pixels. It fails, naming --max-memory, when nothing fits.
func FitMemory(cfg model.Config, opt Options, outW, outH, frames int, budget int64, fixedWindow, fixedTile bool) (Options, error) {
	if budget <= 0 {
		return opt, nil
	}
	for EstimateMemory(cfg, opt, outW, outH, frames) > budget {
		switch {
		case !fixedWindow && opt.WindowT > 2 && (frames == 0 || frames > 2):
			opt.WindowT = max(2, opt.WindowT*3/4)
			opt.OverlapT = min(opt.OverlapT, opt.WindowT/2)
		case !fixedTile && (opt.Tile == 0 || opt.Tile > 256) && max(outW, outH) > 256:
			if opt.Tile == 0 {
				opt.Tile = max(outW, outH)
			}
			opt.Tile = max(256, opt.Tile*3/4/16*16)
			opt.TileOverlap = min(opt.TileOverlap, opt.Tile/4)
		default:
			return opt, fmt.Errorf("pipeline: %dx%d output frames with --window-t %d and --tile %d need about %s, above --max-memory %s; lower --window-t or --tile, or raise --max-memory",
				outW, outH, opt.WindowT, opt.Tile, FormatBytes(EstimateMemory(cfg, opt, outW, outH, frames)), FormatBytes(budget))
		}
	}
	return opt, nil
}

// FormatBytes writes a byte count with a binary unit: "512M", "7.5G".
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.3gG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.3gM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.3gK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
