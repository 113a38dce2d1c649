package pipeline

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/frame"
)

// FramesToTensor stacks frames of one size into a tensor [T, H, W, 3]
// (one copy of the samples).
func FramesToTensor(frames []*frame.Image) *tensors.Tensor {
	w, h := frames[0].W, frames[0].H
	t := tensors.FromShape(shapes.Make(dtypes.Float32, len(frames), h, w, 3))
	tensors.MustMutableFlatData(t, func(flat []float32) {
		n := w * h * 3
		for i, f := range frames {
			if f.W != w || f.H != h {
				panic(fmt.Sprintf("pipeline: frame %dx%d in a %dx%d clip", f.W, f.H, w, h))
			}
			copy(flat[i*n:(i+1)*n], f.Pix)
		}
	})
	return t
}

// TensorToFrames splits a tensor [T, H, W, 3] into frames.
func TensorToFrames(t *tensors.Tensor) []*frame.Image {
	d := t.Shape().Dimensions
	n, h, w := d[0], d[1], d[2]
	data := tensors.MustCopyFlatData[float32](t)
	out := make([]*frame.Image, n)
	for i := range out {
		out[i] = &frame.Image{W: w, H: h, Pix: data[i*w*h*3 : (i+1)*w*h*3 : (i+1)*w*h*3]}
	}
	return out
}
