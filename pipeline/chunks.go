package pipeline

import (
	"context"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/netrun"
)

// FrameChunk is the most frames one run of a per-frame network (the
// encoder, the decoder and the fused decoder, which work on each frame
// alone) takes on the host path. Their intermediates are at the output
// resolution and dominate the memory of a window; running them on chunks
// of a window's frames bounds that memory by the chunk, not the window
// (EstimateMemory), and gives the same frames. Only the transformer steps,
// on the latent grid, see the whole window.
const FrameChunk = 4

// frameChunks splits t frames into runs of at most FrameChunk frames, as
// even as possible (so at most two chunk lengths are compiled): the start
// of each chunk, then t.
func frameChunks(t int) []int {
	n := (t + FrameChunk - 1) / FrameChunk
	bounds := []int{0}
	for i, t0 := 0, 0; i < n; i++ {
		t0 += (t - t0) / (n - i)
		bounds = append(bounds, t0)
	}
	return bounds
}

// encodeChunks runs the encoder f on cond [T, H, W, 3] in frame chunks and
// returns the latents [1, T, h, w, C] (the network's own output when one
// chunk is all of it).
func encodeChunks(ctx context.Context, f netrun.Func, cond *tensors.Tensor) []*tensors.Tensor {
	bounds := frameChunks(cond.Shape().Dimensions[0])
	if len(bounds) == 2 {
		return run(ctx, f, cond)
	}
	var out *tensors.Tensor // [1, T, h, w, C], filled chunk by chunk
	for i := 1; i < len(bounds); i++ {
		cc := sliceFrames(cond, 0, bounds[i-1], bounds[i])
		z := run(ctx, f, cc)[0]
		_ = cc.FinalizeAll()
		d := z.Shape().Dimensions // [1, t, h, w, C]
		if out == nil {
			dims := append([]int(nil), d...)
			dims[1] = cond.Shape().Dimensions[0]
			out = tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
		}
		per := z.Shape().Size() / d[1] // one frame's latent
		tensors.MustConstFlatData[float32](z, func(src []float32) {
			tensors.MustMutableFlatData(out, func(dst []float32) { copy(dst[bounds[i-1]*per:], src) })
		})
		_ = z.FinalizeAll()
		if err := ctx.Err(); err != nil {
			panic(err)
		}
	}
	return []*tensors.Tensor{out}
}

// decodeChunks runs the decoder f on the latents zs ([1, T, h, w, C] each)
// and cond [T, H, W, 3] in frame chunks and returns the T frames.
func decodeChunks(ctx context.Context, f netrun.Func, cond *tensors.Tensor, zs ...*tensors.Tensor) ([]*frame.Image, error) {
	bounds := frameChunks(cond.Shape().Dimensions[0])
	out := make([]*frame.Image, 0, bounds[len(bounds)-1])
	for i := 1; i < len(bounds); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0, t1 := bounds[i-1], bounds[i]
		// The chunks are host copies (the whole tensor when one chunk is
		// all of it), released after the run.
		var copies []*tensors.Tensor
		args := make([]any, 0, len(zs)+1)
		for _, x := range append(append([]*tensors.Tensor(nil), zs...), cond) {
			axis := 1 // latents [1, T, h, w, C]
			if x == cond {
				axis = 0
			}
			c := sliceFrames(x, axis, t0, t1)
			if c != x {
				copies = append(copies, c)
			}
			args = append(args, c)
		}
		y := run(ctx, f, args...)[0]
		out = append(out, TensorToFrames(y)...)
		_ = y.FinalizeAll()
		for _, c := range copies {
			_ = c.FinalizeAll()
		}
	}
	return out, nil
}

// sliceFrames returns frames [t0, t1) of x along axis (x itself when that
// is all of it): a host copy.
func sliceFrames(x *tensors.Tensor, axis, t0, t1 int) *tensors.Tensor {
	d := x.Shape().Dimensions
	if t0 == 0 && t1 == d[axis] {
		return x
	}
	outer, inner := 1, 1
	for _, v := range d[:axis] {
		outer *= v
	}
	for _, v := range d[axis+1:] {
		inner *= v
	}
	nd := append([]int(nil), d...)
	nd[axis] = t1 - t0
	out := tensors.FromShape(shapes.Make(dtypes.Float32, nd...))
	tensors.MustConstFlatData[float32](x, func(src []float32) {
		tensors.MustMutableFlatData(out, func(dst []float32) {
			n := (t1 - t0) * inner
			for o := 0; o < outer; o++ {
				base := o * d[axis] * inner
				copy(dst[o*n:(o+1)*n], src[base+t0*inner:base+t1*inner])
			}
		})
	})
	return out
}
