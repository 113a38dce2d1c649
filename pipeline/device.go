package pipeline

import (
	"context"
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/freqfuse"
)

// The device path: with Options.OnDevice the low-quality frames go to the
// backend as they are, and the bicubic resize, the padding, the decoding,
// the frequency update and the crop all run inside compiled graphs. Only
// the small input and the finished frames cross between host and device,
// which is what a GPU needs; on the pure-Go backend the host path is faster.

// deviceExecs holds the graphs of the device path.
type deviceExecs struct {
	prep *mlmodel.Exec // lq [T, h, w, 3] -> cond [T, H', W', 3] (resized, clamped, padded)
	// finish decodes one latent or fuses two, crops to the output size and
	// clamps; keyed by the number of latents and the output width and height.
	finish map[[3]int]*mlmodel.Exec
}

// onDevice reports whether a clip of output size w x h takes the device path.
func (u *Upscaler) onDevice(w, h int) bool {
	if !u.opt.OnDevice {
		return false
	}
	if u.opt.Tile != 0 && (w > u.opt.Tile || h > u.opt.Tile) {
		return false
	}
	return u.fuseMode() != FusePerStep
}

// resizeAxisGraph resamples axis 0 of x [n, rest...] to dst samples with
// the taps of frame.Taps, extended to pad samples by repeating the last
// output sample's taps (edge replication after the resize).
func resizeAxisGraph(x *Node, dst, pad int, k frame.Kernel) *Node {
	d := x.Shape().Dimensions
	src := d[0]
	idx, w, n := frame.Taps(src, dst, k)
	for p := dst; p < pad; p++ {
		idx = append(idx, idx[(dst-1)*n:dst*n]...)
		w = append(w, w[(dst-1)*n:dst*n]...)
	}
	rest := 1
	for _, v := range d[1:] {
		rest *= v
	}
	g := x.Graph()
	flat := Reshape(x, src, rest)
	ind := Const(g, tensors.FromFlatDataAndDimensions(idx, pad*n, 1))
	taps := Reshape(Gather(flat, ind), pad, n, rest)
	wt := Const(g, tensors.FromFlatDataAndDimensions(w, pad, n, 1))
	out := ReduceSum(Mul(taps, wt), 1)
	return Reshape(out, append([]int{pad}, d[1:]...)...)
}

// PrepareGraph is Upscaler.Resize followed by edge-replicating padding, as
// a graph: it upsamples lq [T, h, w, 3] by scale with the bicubic taps of
// frame.Resize (rows, then columns), clamps to [0, 1] and pads the result
// to [T, ph, pw, 3] by repeating the last row and column.
func PrepareGraph(lq *Node, scale, pw, ph int) *Node {
	d := lq.Shape().Dimensions
	h, w := d[1], d[2]
	if pw < w*scale || ph < h*scale {
		panic(fmt.Sprintf("pipeline: padded size %dx%d smaller than the output %dx%d", pw, ph, w*scale, h*scale))
	}
	x := TransposeAllDims(lq, 2, 0, 1, 3) // [w, T, h, 3]
	x = resizeAxisGraph(x, w*scale, pw, frame.Bicubic)
	x = TransposeAllDims(x, 2, 1, 0, 3) // [h, T, pw, 3]
	x = resizeAxisGraph(x, h*scale, ph, frame.Bicubic)
	x = TransposeAllDims(x, 1, 0, 2, 3) // [T, ph, pw, 3]
	return ClampGraph(x)
}

// newDeviceExecs compiles nothing yet: graphs compile on first use.
func (u *Upscaler) newDeviceExecs() error {
	scale := u.opt.Scale
	var err error
	u.dev.prep, err = mlmodel.NewExec(u.m.Backend, u.m.Store, func(ctx *mlmodel.Scope, lq *Node) *Node {
		d := lq.Shape().Dimensions
		w, h := d[2]*scale, d[1]*scale
		return PrepareGraph(lq, scale, u.padded(w), u.padded(h))
	})
	u.dev.finish = map[[3]int]*mlmodel.Exec{}
	return err
}

// finishExec returns the graph that turns n latents (1, or 2 to fuse) into
// output frames of size w x h.
func (u *Upscaler) finishExec(n, w, h int) (*mlmodel.Exec, error) {
	key := [3]int{n, w, h}
	if e, ok := u.dev.finish[key]; ok {
		return e, nil
	}
	cfg := u.m.Config.AE
	params := u.opt.FuseParams
	crop := func(y *Node) *Node {
		if y.Shape().Dimensions[1] == h && y.Shape().Dimensions[2] == w {
			return y
		}
		return Slice(y, AxisRange(), AxisRange(0, h), AxisRange(0, w), AxisRange())
	}
	var e *mlmodel.Exec
	var err error
	if n == 1 {
		e, err = mlmodel.NewExec(u.m.Backend, u.m.Store, func(ctx *mlmodel.Scope, z5, cond *Node) *Node {
			return crop(decodeGraph(ctx, cfg, z5, cond))
		})
	} else if u.fuseMode() == FuseLatent {
		e, err = mlmodel.NewExec(u.m.Backend, u.m.Store, func(ctx *mlmodel.Scope, zc, zs, cond *Node) *Node {
			return crop(decodeGraph(ctx, cfg, freqfuse.FuseLatentGraph(zc, zs, u.opt.LatentParams()), cond))
		})
	} else {
		e, err = mlmodel.NewExec(u.m.Backend, u.m.Store, func(ctx *mlmodel.Scope, zc, zs, cond *Node) *Node {
			consistent := decodeGraph(ctx, cfg, zc, cond)
			sharp := decodeGraph(ctx, cfg, zs, cond)
			return crop(freqfuse.FuseGraph(consistent, sharp, params))
		})
	}
	if err != nil {
		return nil, err
	}
	u.dev.finish[key] = e
	return e, nil
}

// restoreLQ runs the whole pipeline for a clip of low-quality frames on the
// device: resize and pad, encode, sample, decode, fuse and crop in graphs.
func (u *Upscaler) restoreLQ(ctx context.Context, lq []*frame.Image) (out []*frame.Image, err error) {
	if len(lq) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pipeline: %v", r)
		}
	}()
	if err := checkClip(lq); err != nil {
		return nil, err
	}
	w, h := lq[0].W*u.opt.Scale, lq[0].H*u.opt.Scale
	var owned []*tensors.Tensor
	defer func() {
		for _, t := range owned {
			_ = t.FinalizeAll()
		}
	}()
	in := FramesToTensor(lq)
	owned = append(owned, in)
	cond := u.dev.prep.MustExec(in)[0]
	owned = append(owned, cond)
	zs, err := u.latents(ctx, cond, &owned, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fin, err := u.finishExec(len(zs), w, h)
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, 3)
	for _, z := range zs {
		args = append(args, z)
	}
	y := fin.MustExec(append(args, cond)...)[0]
	defer y.FinalizeAll()
	return TensorToFrames(y), nil
}
