package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/freqfuse"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/pipeline"
)

func init() { commands = append(commands, newExportONNXCmd) }

// exportONNXOptions are the flags of pssr export-onnx.
type exportONNXOptions struct {
	modelPath             string
	scale                 int
	frames, width, height int
	fuse                  freqfuse.Params
	ops                   pipeline.ExportOps
}

func newExportONNXCmd(a *app) *cobra.Command {
	o := &exportONNXOptions{scale: 4, frames: 4, width: 384, height: 288, fuse: pipeline.DefaultOptions().LatentParams()}
	cmd := &cobra.Command{
		Use:   "export-onnx OUT_DIR",
		Short: "Write the model's networks as ONNX files (encoder, decoder, base step, draft step, fused decoder)",
		Long: `export-onnx writes the networks of a model as ONNX models (IR 8, opset 17)
into OUT_DIR: encoder.onnx, decoder.onnx, base_step.onnx, draft_step.onnx
and fused_decoder.onnx (the latent frequency update of --fuse latent, with
--alpha, --latent-fc and --order, then one decode), from the same graph code and weights that pssr runs (the weights are
initializers). The shapes are fixed: the models take a clip of --frames
frames of --width x --height output pixels (multiples of 16; pad a clip to
them by replicating its edges, as pssr does). Scalar inputs (t, sigma,
sigma_next) are [1] tensors. The inputs and outputs are named:

  encoder     frames [T,H,W,3] in [0,1] -> z_l [1,T,H/8,W/8,C]
  decoder     latent [1,T,H/8,W/8,C], cond [T,H,W,3] -> frames [T,H,W,3]
  base_step   x_t, z_l, t, sigma, sigma_next -> x0, x_next, feature_0..
  draft_step  x_t, z_l, t, sigma, sigma_next, feature_0.. -> x0, x_next
  fused_decoder  latent_consistent, latent_sharp [1,T,H/8,W/8,C], cond -> frames

cond is the bicubic upsampling of the low-quality frames; the sampling plan
is t=699 for the base step (x_t = z_l) and 599, 499, 399 for the drafts,
sigma = t/1000. The models use standard ONNX operators (the 3x3 layers as
Conv, layer norms as LayerNormalization) unless --ort or --int8 is given.`,
		Example: "  pssr export-onnx --scale 4 --frames 4 --width 384 --height 288 onnx/",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(a, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.modelPath, "model", "", "model `FILE` (default: $PSSR_MODEL or the bundled pssr-tiny by --scale)")
	f.IntVar(&o.scale, "scale", o.scale, "scale of the default model: 2 or 4")
	f.IntVar(&o.frames, "frames", o.frames, "frames of the clip the models take")
	f.IntVar(&o.width, "width", o.width, "output width of the clip (a multiple of 16)")
	f.IntVar(&o.height, "height", o.height, "output height of the clip (a multiple of 16)")
	f.Float64Var(&o.fuse.Alpha, "alpha", o.fuse.Alpha, "fused_decoder: strength of the blended high band")
	f.Float64Var(&o.fuse.Fc, "latent-fc", o.fuse.Fc, "fused_decoder: Butterworth cut-off on the latent grid (upscale's --latent-fc)")
	f.Float64Var(&o.fuse.Fc, "fc", o.fuse.Fc, "fused_decoder: the latent cut-off (old name of --latent-fc)")
	_ = f.MarkDeprecated("fc", "use --latent-fc (the cut-off on the latent grid, as upscale names it)")
	f.IntVar(&o.fuse.Order, "order", o.fuse.Order, "fused_decoder: Butterworth order")
	f.BoolVar(&o.ops.ORT, "ort", false, "use ONNX Runtime's own operators where faster (FastGelu, MultiHeadAttention), as --runtime ort does: the models then run on ONNX Runtime only")
	f.BoolVar(&o.ops.Int8, "int8", false, "dense products in int8 (ONNX Runtime's DynamicQuantizeMatMul), as --runtime ort-int8 does; implies --ort")
	return cmd
}

func (o *exportONNXOptions) run(a *app, dir string) error {
	if o.modelPath == "" {
		var err error
		if o.modelPath, err = model.DefaultPathFor(o.scale); err != nil {
			return err
		}
	}
	be, _, err := backend.New("go", a.log)
	if err != nil {
		return err
	}
	defer be.Finalize()
	m, err := model.Load(be, o.modelPath)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	models, err := pipeline.ExportONNX(m, o.frames, o.width, o.height, o.fuse, o.ops, dir)
	if err != nil {
		return err
	}
	for _, md := range models {
		var ins []string
		for _, in := range md.Inputs {
			ins = append(ins, fmt.Sprintf("%s%v", in.Name, in.Shape.Dimensions))
		}
		fmt.Fprintf(a.stdout, "%s: %d nodes, %d initializers, %.1f KiB; inputs %s\n",
			filepath.Join(dir, md.Name+".onnx"), md.Nodes, md.Initializers, float64(len(md.Data))/1024, strings.Join(ins, " "))
	}
	return nil
}
