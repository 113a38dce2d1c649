package pipeline

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pssr/pssr/freqfuse"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/onnx"
)

// ExportONNX writes the model's networks (the four of Networks, then
// FusedDecoder with fp, the update of --fuse latent) as ONNX models with
// fixed shapes, for a clip of t frames of w x h output pixels (multiples
// of the pixel multiple), into dir as <network>.onnx, from the same graph
// functions and weights the pipeline runs. Scalar inputs (t, sigma,
// sigma_next) are [1] tensors. It returns the models written.
//
// With the zero ExportOps the models use standard ONNX operators only.
func ExportONNX(m *model.Model, t, w, h int, fp freqfuse.Params, ops ExportOps, dir string) ([]*onnx.Model, error) {
	mult := m.Config.PixelMultiple()
	if t < 1 || w < mult || h < mult || w%mult != 0 || h%mult != 0 {
		return nil, fmt.Errorf("pipeline: export of %d frames of %dx%d: want at least one frame and sides that are positive multiples of %d", t, w, h, mult)
	}
	if err := fp.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline: export: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pipeline: export: %w", err)
	}
	ins := NetworkInputs(m.Config, t, w, h)
	meta := map[string]string{
		"pssr.model":         m.Config.Name,
		"pssr.clip":          fmt.Sprintf("%d frames of %dx%d output pixels", t, w, h),
		"pssr.shapes":        "fixed",
		"pssr.fused_decoder": fmt.Sprintf("latent frequency update alpha %g, fc %g, order %d", fp.Alpha, fp.Fc, fp.Order),
		"pssr.operators":     ops.String(),
	}
	for k, v := range m.Metadata {
		meta["pssr.metadata."+k] = v
	}
	var out []*onnx.Model
	for _, n := range append(Networks(m.Config), FusedDecoder(m.Config, fp)) {
		md, err := onnx.Export(m.Store, onnx.Spec{Name: n.Name, Fn: n.Fn, Inputs: ins[n.Name],
			InputNames: n.InputNames, OutputNames: n.OutputNames, Metadata: meta, ORTOps: ops.ORT, Int8: ops.Int8})
		if err != nil {
			return nil, err
		}
		if err := md.WriteFile(filepath.Join(dir, n.Name+".onnx")); err != nil {
			return nil, err
		}
		out = append(out, md)
	}
	return out, nil
}

// ExportOps choose the operators of exported models beyond standard ONNX.
type ExportOps struct {
	// ORT lets the models use ONNX Runtime's own operators where they are
	// faster (FastGelu, MultiHeadAttention: onnx.Spec.ORTOps), as
	// --runtime ort runs them; such models run on ONNX Runtime only.
	ORT bool
	// Int8 writes the dense products in int8 (onnx.Spec.Int8, as
	// --runtime ort-int8 runs them); it implies ORT.
	Int8 bool
}

// String names the operator set: "standard", "onnxruntime" or
// "onnxruntime-int8".
func (o ExportOps) String() string {
	switch {
	case o.Int8:
		return "onnxruntime-int8"
	case o.ORT:
		return "onnxruntime"
	}
	return "standard"
}
