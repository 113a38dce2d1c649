package trainer

import (
	"context"
	"fmt"
	"image"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/dataset"
	"github.com/pssr/pssr/degrade"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/metrics"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/pipeline"
)

// valFrames is the number of held-out frames validation runs on.
const valFrames = 4

// validation holds the held-out ground truth and its degradation.
type validation struct {
	hq, lq []*frame.Image
}

// loadValidation reads the first held-out frames (from --val or the split's
// first validation frame folder), crops them to a multiple of the scale and
// degrades them with the bicubic preset.
func loadValidation(ctx context.Context, cfg Config, split dataset.Split) (*validation, error) {
	var paths []string
	if cfg.Val != "" {
		p, err := dataset.LoadFrames(cfg.Val)
		if err != nil {
			return nil, fmt.Errorf("trainer: --val: %w", err)
		}
		paths = p
	} else {
		for _, it := range split.Val {
			if it.Kind == dataset.KindFrames {
				paths = it.Paths
				break
			}
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("trainer: no validation frames (give --val DIR or a frame folder in --data)")
	}
	var v validation
	for _, p := range paths[:min(valFrames, len(paths))] {
		f, err := frame.Load(p)
		if err != nil {
			return nil, err
		}
		w, h := f.W/16*16, f.H/16*16
		v.hq = append(v.hq, f.Crop(image.Rect(0, 0, w, h)))
	}
	d, err := degrade.New(degrade.Bicubic, cfg.Scale, 0)
	if err != nil {
		return nil, err
	}
	if v.lq, err = d.Clip(ctx, v.hq); err != nil {
		return nil, err
	}
	return &v, nil
}

// validate measures PSNR-Y (4-pixel border crop) on the held-out frames:
// autoencoder reconstruction for the autoencoder stage, the base-only
// pipeline for the base stage and the full PS-SR pipeline for the draft.
func validate(ctx context.Context, m *model.Model, cfg Config, v *validation) (ValRecord, error) {
	var pred []*frame.Image
	var what string
	opt := pipeline.DefaultOptions()
	opt.Scale, opt.Tile, opt.WindowT, opt.OverlapT = cfg.Scale, 0, len(v.lq), 0
	switch cfg.Stage {
	case StageAutoencoder:
		what = "autoencoder reconstruction"
		exec, err := mlmodel.NewExec(m.Backend, m.Store, func(ctx *mlmodel.Scope, hq, lq *Node) *Node {
			return pipeline.ClampGraph(model.Decode(ctx, m.Config.AE, model.Encode(ctx, m.Config.AE, hq), lq))
		})
		if err != nil {
			return ValRecord{}, err
		}
		u, err := pipeline.New(m, opt)
		if err != nil {
			return ValRecord{}, err
		}
		up := make([]*frame.Image, len(v.lq))
		for i, f := range v.lq {
			up[i] = u.Resize(f)
		}
		out, err := exec.Exec(pipeline.FramesToTensor(v.hq), pipeline.FramesToTensor(up))
		if err != nil {
			return ValRecord{}, err
		}
		pred = pipeline.TensorToFrames(out[0])
	default:
		opt.Mode = pipeline.ModeBase
		what = "base step"
		if cfg.Stage == StageDraft {
			opt.Mode, what = pipeline.ModePSSR, "base + 3 draft steps + fuse"
		}
		u, err := pipeline.New(m, opt)
		if err != nil {
			return ValRecord{}, err
		}
		if pred, err = u.UpscaleClip(ctx, v.lq); err != nil {
			return ValRecord{}, err
		}
	}
	var sum, sumBic float64
	for i := range v.hq {
		p, err := metrics.PSNR(v.hq[i], pred[i], metrics.SpaceY, 4)
		if err != nil {
			return ValRecord{}, err
		}
		bic := frame.Resize(v.lq[i], v.hq[i].W, v.hq[i].H, frame.Bicubic).Clamp()
		pb, err := metrics.PSNR(v.hq[i], bic, metrics.SpaceY, 4)
		if err != nil {
			return ValRecord{}, err
		}
		sum += math.Min(p, 100)
		sumBic += pb
	}
	n := float64(len(v.hq))
	return ValRecord{PSNR: sum / n, PSNRBicubic: sumBic / n, What: what}, nil
}
