package pipeline

import (
	"fmt"

	"github.com/pssr/pssr/model"
)

// Memory models of the host path, per runtime, measured with pssr-tiny
// (peak RSS of pssr upscale against --window-t and --tile): a fixed part
// (program, model, compiled graphs or sessions), the output side of a
// window (accumulators, cross-fade slots and the written frame: 32 bytes an
// output pixel per frame), what the window holds per frame of a tile (the
// resized frames, latents, the encoder's and the transformer steps'
// intermediates) and the decoder's intermediates, per frame of a decoder
// chunk (FrameChunk frames at most) of a tile. pssr-tiny's decoder fine
// stage is 32 wide; that part grows with the width.
//
// Measured (session 7: GC target 10, balanced tiles; 1280x720 x4 output,
// mode pssr; window 8 / tile 768, 16 / 768 and 16 / 384): pure Go 1.17,
// 1.56 and 0.70 GB, estimated 1.30, 1.80 and 0.92; ONNX Runtime (sessions
// without arena, two malloc arenas, the 3x3 layers as convolutions) 1.41,
// 2.32 and 1.03 GB, estimated 1.79, 2.51 and 1.21. (Session 6, GC target
// 25 and ORT without convolutions: pure Go 1.64, 2.57 and 0.97 GB, ORT 3.15,
// 4.84 and 1.77.) Session 8 (the latent update by default, one decode, and
// upscale's write queue of 8 frames; docs/results/memory/calibration-s8.txt):
// pure Go 1.18, 1.47 and 0.65 GB, ONNX Runtime 1.27, 2.25 and 0.96: the
// estimates stay on the high side.
type memoryModel struct {
	fixed, perOutPixel, perTilePixel, perDecodePixel int64
}

var (
	memGo  = memoryModel{fixed: 128 << 20, perOutPixel: 32, perTilePixel: 60, perDecodePixel: 300}
	memORT = memoryModel{fixed: 256 << 20, perOutPixel: 32, perTilePixel: 110, perDecodePixel: 360}
)

// memFineReference is the decoder fine-stage width the decoder's cost was
// measured at.
const memFineReference = 32

// memoryFor returns the memory model of a runtime by its netrun name ("ort"
// and "ort-int8" for ONNX Runtime; any other, "go" and the GoMLX backends,
// the pure-Go one).
func memoryFor(runtime string) memoryModel {
	if runtime == "ort" || runtime == "ort-int8" {
		return memORT
	}
	return memGo
}

// GCPercent is the garbage collector's target (runtime/debug.SetGCPercent)
// that the pssr command runs with unless GOGC is set. Almost all of the heap
// is pointer-free tensor data, so a collection costs little CPU; with Go's
// default of 100 the peak of a long run drifts towards twice the live set,
// at 10 it stays within about a tenth of it, whatever the video's length.
// Measured (BenchmarkPeakMemory, docs/benchmarks.md): 30 and 300 frames
// peak at 214 and 243 MiB with 10, 279 and 347 with 25, in the same time;
// 5 saves nothing more at 300 frames and is 14% slower.
const GCPercent = 10

// EstimateMemory returns about how many bytes of memory a run of the host
// path on runtime (a netrun.Runtime's Name: "go", "ort", ...) takes for
// frames of outW x outH output pixels with cfg's networks and opt's window
// and tile sizes, for a video of frames frames (0 when not known; a window
// holds no more frames than the video). It is a planning estimate, on the
// high side.
func EstimateMemory(runtime string, cfg model.Config, opt Options, outW, outH, frames int) int64 {
	mm := memoryFor(runtime)
	tw, th := outW, outH
	if opt.Tile > 0 {
		tw, th = min(tw, opt.Tile), min(th, opt.Tile)
	}
	fine := max(cfg.AE.Width/2, 8)
	perDecode := mm.perDecodePixel * int64(max(fine, memFineReference)) / memFineReference
	window := opt.WindowT
	if frames > 0 {
		window = min(window, frames)
	}
	tile := int64(tw) * int64(th)
	return mm.fixed + int64(window)*(int64(outW)*int64(outH)*mm.perOutPixel+tile*mm.perTilePixel) +
		int64(min(window, FrameChunk))*tile*perDecode
}

// FitMemory returns opt with the window, then the tile, made smaller until
// EstimateMemory on runtime fits budget bytes (0: no budget). Sizes the
// caller fixed (fixedWindow, fixedTile) are kept. The window shrinks to no fewer than 2
// frames (overlap at most half of it), the tile to no less than 256
// pixels. It fails, naming --max-memory, when nothing fits.
func FitMemory(runtime string, cfg model.Config, opt Options, outW, outH, frames int, budget int64, fixedWindow, fixedTile bool) (Options, error) {
	if budget <= 0 {
		return opt, nil
	}
	for EstimateMemory(runtime, cfg, opt, outW, outH, frames) > budget {
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
				outW, outH, opt.WindowT, opt.Tile, FormatBytes(EstimateMemory(runtime, cfg, opt, outW, outH, frames)), FormatBytes(budget))
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
