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
	"github.com/pssr/pssr/metrics/lpips"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/upscale"
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

// validate measures PSNR-Y (4-pixel border crop) and, with metric, LPIPS on
// the held-out frames: autoencoder reconstruction for the autoencoder
// stage, the base-only pipeline for the base stage and the full PS-SR
// pipeline for the draft stage, which also reports the base alone.
func validate(ctx context.Context, m *model.Model, cfg Config, v *validation, metric *lpips.Metric) (ValRecord, error) {
	opt := pipeline.DefaultOptions()
	opt.Scale, opt.Tile, opt.WindowT, opt.OverlapT = cfg.Scale, 0, len(v.lq), 0
	e, err := upscale.NewEngine(upscale.Setup{Loaded: m, Options: opt, TileSet: true})
	if err != nil {
		return ValRecord{}, err
	}
	var rec ValRecord
	switch cfg.Stage {
	case StageAutoencoder:
		rec.What = "autoencoder reconstruction"
		exec, err := mlmodel.NewExec(m.Backend, m.Store, func(ctx *mlmodel.Scope, hq, lq *Node) *Node {
			return pipeline.ClampGraph(model.Decode(ctx, m.Config.AE, model.Encode(ctx, m.Config.AE, hq), lq))
		})
		if err != nil {
			return ValRecord{}, err
		}
		up := make([]*frame.Image, len(v.lq))
		for i, f := range v.lq {
			up[i] = e.Upscaler.Resize(f)
		}
		out, err := exec.Exec(pipeline.FramesToTensor(v.hq), pipeline.FramesToTensor(up))
		if err != nil {
			return ValRecord{}, err
		}
		if rec.PSNR, rec.LPIPS, err = score(v.hq, pipeline.TensorToFrames(out[0]), metric); err != nil {
			return ValRecord{}, err
		}
	default:
		run := func(mode pipeline.Mode) (psnr, lp float64, err error) {
			o := opt
			o.Mode = mode
			u, err := e.Variant(o)
			if err != nil {
				return 0, 0, err
			}
			pred, err := u.UpscaleClip(ctx, v.lq)
			if err != nil {
				return 0, 0, err
			}
			return score(v.hq, pred, metric)
		}
		if cfg.Stage == StageBase {
			rec.What = "base step"
			rec.PSNR, rec.LPIPS, err = run(pipeline.ModeBase)
		} else {
			rec.What = "base + 3 draft steps + fuse"
			if rec.PSNR, rec.LPIPS, err = run(pipeline.ModePSSR); err == nil {
				rec.BasePSNR, rec.BaseLPIPS, err = run(pipeline.ModeBase)
			}
		}
		if err != nil {
			return ValRecord{}, err
		}
	}
	var sumBic float64
	for i := range v.hq {
		bic := frame.Resize(v.lq[i], v.hq[i].W, v.hq[i].H, frame.Bicubic).Clamp()
		pb, err := metrics.PSNR(v.hq[i], bic, metrics.SpaceY, 4)
		if err != nil {
			return ValRecord{}, err
		}
		sumBic += pb
	}
	rec.PSNRBicubic = sumBic / float64(len(v.hq))
	return rec, nil
}

// score is the mean PSNR-Y (4-pixel border, capped at 100 dB) and, with
// metric, the mean LPIPS of pred against hq.
func score(hq, pred []*frame.Image, metric *lpips.Metric) (psnr, lp float64, err error) {
	for i := range hq {
		p, err := metrics.PSNR(hq[i], pred[i], metrics.SpaceY, 4)
		if err != nil {
			return 0, 0, err
		}
		psnr += math.Min(p, 100)
		if metric != nil {
			d, err := metric.Distance(hq[i].Pix, pred[i].Pix, hq[i].W, hq[i].H)
			if err != nil {
				return 0, 0, err
			}
			lp += d
		}
	}
	n := float64(len(hq))
	return psnr / n, lp / n, nil
}
