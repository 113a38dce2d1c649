package freqfuse

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// FuseLatentGraph is the frequency-domain update applied to latents instead
// of decoded frames, so that the pipeline decodes once: consistent and sharp
// are float32 (or float64) latents [..., H, W, C] of the same shape (the
// pipeline's [1, T, h, w, C]), and every channel plane is split, with p's
// Fc and Order on the latent grid, into a Butterworth low band and the high
// rest, and recombined by the rule of the pixel update (method §5, steps
// 3-5): low_c + Alpha·(w·high_s + (1-w)·high_c), w = |high_s| /
// (|high_s| + |high_c| + 1e-6). Border, the YUV split and the clamp of the
// pixel update have no meaning on latents and are not applied.
//
// A cutoff on the latent grid stands for a cutoff p.Fc/patch on the output
// pixels (patch = the autoencoder's pixel stride): what the base result
// keeps is its coarse layout, and the draft's detail inside a latent cell
// travels in the channels and is blended by the rule.
//
// It panics (an error that Exec returns) when p is invalid, the shapes or
// dtypes differ, the rank is below 3 or the dtype is not float32/float64.
func FuseLatentGraph(consistent, sharp *graph.Node, p Params) *graph.Node {
	if err := p.Validate(); err != nil {
		panic(fmt.Errorf("freqfuse.FuseLatentGraph: %w", err))
	}
	if consistent == nil || sharp == nil {
		panic(fmt.Errorf("freqfuse.FuseLatentGraph: nil input node"))
	}
	cs, ss := consistent.Shape(), sharp.Shape()
	if !cs.Equal(ss) {
		panic(fmt.Errorf("freqfuse.FuseLatentGraph: consistent %s and sharp %s differ in shape or dtype", cs, ss))
	}
	if cs.Rank() < 3 || cs.Size() <= 0 {
		panic(fmt.Errorf("freqfuse.FuseLatentGraph: latents must be [..., H, W, C] and non-empty, got %s", cs))
	}
	if cs.DType != dtypes.Float32 && cs.DType != dtypes.Float64 {
		panic(fmt.Errorf("freqfuse.FuseLatentGraph: latents must be float32 or float64, got %s", cs.DType))
	}

	h, w, c := cs.Dim(-3), cs.Dim(-2), cs.Dim(-1)
	n := cs.Size() / (h * w * c)
	// Both latents as planes [2·N·C, H, W], one low pass for all of them.
	planes := func(x *graph.Node) *graph.Node {
		return graph.TransposeAllDims(graph.Reshape(x, n, h, w, c), 0, 3, 1, 2)
	}
	low := LowPassGraph(graph.Concatenate([]*graph.Node{planes(consistent), planes(sharp)}, 0), p)
	back := func(x *graph.Node) *graph.Node {
		return graph.Reshape(graph.TransposeAllDims(x, 0, 2, 3, 1), cs.Dimensions...)
	}
	lowC := back(graph.Slice(low, graph.AxisRange(0, n)))
	lowS := back(graph.Slice(low, graph.AxisRange(n, 2*n)))
	highC, highS := graph.Sub(consistent, lowC), graph.Sub(sharp, lowS)
	absC, absS := graph.Abs(highC), graph.Abs(highS)
	wt := graph.Div(absS, graph.AddScalar(graph.Add(absS, absC), 1e-6))
	blend := graph.Add(highC, graph.Mul(wt, graph.Sub(highS, highC)))
	return graph.Add(lowC, graph.MulScalar(blend, p.Alpha))
}
