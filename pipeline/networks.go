package pipeline

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/freqfuse"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/schedule"
)

// Network is one of the graphs the pipeline runs, as a graph function
// that mlmodel.NewExec (or a netrun.Runtime) takes: the same function for
// every runtime and for ONNX export.
type Network struct {
	// Name is "encoder", "decoder", "base_step" or "draft_step".
	Name string
	// Fn is the graph function.
	Fn netrun.GraphFn
	// InputNames and OutputNames name its inputs and outputs (for ONNX).
	InputNames, OutputNames []string
}

// The network names.
const (
	NetEncoder   = "encoder"
	NetDecoder   = "decoder"
	NetBaseStep  = "base_step"
	NetDraftStep = "draft_step"
	// NetFusedDecoder is FusedDecoder's network.
	NetFusedDecoder = "fused_decoder"
)

// Networks returns the encoder, the decoder, the base step and the draft
// step of a model config.
//
//   - encoder: frames [T, H, W, 3] -> latent z_L [1, T, h, w, C]
//   - decoder: latent [1, T, h, w, C], cond [T, H, W, 3] -> frames [T, H, W, 3] in [0, 1]
//   - base_step: x_t, z_L [1, T, h, w, C], t, sigma, sigma_next (float32
//     scalars) -> x0, x_next, then one feature per kept block
//   - draft_step: x_t, z_L, t, sigma, sigma_next, features... -> x0, x_next
func Networks(cfg model.Config) []Network {
	nFeat := len(cfg.KeptBlocks())
	feats := make([]string, nFeat)
	for i := range feats {
		feats[i] = fmt.Sprintf("feature_%d", i)
	}
	stepIn := []string{"x_t", "z_l", "t", "sigma", "sigma_next"}
	return []Network{
		{Name: NetEncoder, InputNames: []string{"frames"}, OutputNames: []string{"z_l"},
			Fn: func(ctx *mlmodel.Scope, in []*Node) []*Node {
				z := model.Encode(ctx, cfg.AE, in[0])
				return []*Node{InsertAxes(z, 0)}
			}},
		{Name: NetDecoder, InputNames: []string{"latent", "cond"}, OutputNames: []string{"frames"},
			Fn: func(ctx *mlmodel.Scope, in []*Node) []*Node {
				return []*Node{decodeGraph(ctx, cfg.AE, in[0], in[1])}
			}},
		{Name: NetBaseStep, InputNames: stepIn, OutputNames: append([]string{"x0", "x_next"}, feats...),
			Fn: func(ctx *mlmodel.Scope, in []*Node) []*Node {
				xt, zl, t, sigma, sigmaNext := in[0], in[1], in[2], in[3], in[4]
				v, feats := model.Base(ctx, cfg, xt, zl, t)
				out := []*Node{schedule.PredictX0Graph(xt, v, sigma), schedule.StepGraph(xt, v, sigma, sigmaNext)}
				return append(out, feats...)
			}},
		{Name: NetDraftStep, InputNames: append(append([]string{}, stepIn...), feats...), OutputNames: []string{"x0", "x_next"},
			Fn: func(ctx *mlmodel.Scope, in []*Node) []*Node {
				xt, zl, t, sigma, sigmaNext := in[0], in[1], in[2], in[3], in[4]
				v := model.Draft(ctx, cfg, xt, zl, t, in[5:])
				return []*Node{schedule.PredictX0Graph(xt, v, sigma), schedule.StepGraph(xt, v, sigma, sigmaNext)}
			}},
	}
}

// FusedDecoder returns the network of the latent frequency update
// (FuseLatent): the rule of freqfuse.FuseLatentGraph with p applied to the
// base latent and the last draft latent, then one decode:
//
//   - fused_decoder: latent_consistent, latent_sharp [1, T, h, w, C], cond
//     [T, H, W, 3] -> frames [T, H, W, 3] in [0, 1]
//
// p is part of the graph (the low-pass filter is a constant of it).
func FusedDecoder(cfg model.Config, p freqfuse.Params) Network {
	return Network{Name: NetFusedDecoder, InputNames: []string{"latent_consistent", "latent_sharp", "cond"}, OutputNames: []string{"frames"},
		Fn: func(ctx *mlmodel.Scope, in []*Node) []*Node {
			return []*Node{decodeGraph(ctx, cfg.AE, freqfuse.FuseLatentGraph(in[0], in[1], p), in[2])}
		}}
}

// NetworkInputs returns the input shapes of each network (by name) for a
// padded clip of t frames of w x h output pixels (multiples of the
// model's pixel multiple).
func NetworkInputs(cfg model.Config, t, w, h int) map[string][]shapes.Shape {
	p := cfg.AE.Patch
	lat := shapes.Make(dtypes.Float32, 1, t, h/p, w/p, cfg.AE.LatentChannels)
	frames := shapes.Make(dtypes.Float32, t, h, w, 3)
	scalar := shapes.Make(dtypes.Float32)
	dit := cfg.DiT
	gh, gw := h/p/dit.Patch, w/p/dit.Patch
	GH, GW := (gh+dit.Window-1)/dit.Window*dit.Window, (gw+dit.Window-1)/dit.Window*dit.Window
	feat := shapes.Make(dtypes.Float32, t, GH, GW, dit.Width)
	step := []shapes.Shape{lat, lat, scalar, scalar, scalar}
	draft := append([]shapes.Shape{}, step...)
	for range cfg.KeptBlocks() {
		draft = append(draft, feat)
	}
	return map[string][]shapes.Shape{
		NetEncoder:      {frames},
		NetDecoder:      {lat, frames},
		NetBaseStep:     step,
		NetDraftStep:    draft,
		NetFusedDecoder: {lat, lat, frames},
	}
}
