package pipeline

import (
	"fmt"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pssr/pssr/frame"
)

// FramesToTensor stacks frames of one size into a tensor [T, H, W, 3].
func FramesToTensor(frames []*frame.Image) *tensors.Tensor {
	w, h := frames[0].W, frames[0].H
	data := make([]float32, 0, len(frames)*w*h*3)
	for _, f := range frames {
		if f.W != w || f.H != h {
			panic(fmt.Sprintf("pipeline: frame %dx%d in a %dx%d clip", f.W, f.H, w, h))
		}
		data = append(data, f.Pix...)
	}
	return tensors.FromFlatDataAndDimensions(data, len(frames), h, w, 3)
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
