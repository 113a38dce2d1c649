package trainer

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/pssr/pssr/metrics/lpips"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/schedule"
)

// lpipsFrames is the number of frames of a batch the LPIPS term scores.
const lpipsFrames = 4

// stepGraphs are the compiled training graphs of a run.
//
// gen updates the stage's network and returns the loss, its terms (names)
// and, for adversarial draft training, the generated frames. disc, set only
// for adversarial draft training, updates the discriminator from the batch's
// ground truth [B, T, H, W, 3] and the generated frames and returns its
// hinge loss.
type stepGraphs struct {
	gen, disc *mlmodel.Exec
	names     []string
}

// flowInputs are the extra inputs of a base-stage step: the noise and the
// coefficients of x_t = a*z_HQ + b*noise + c*z_L at timestep t (sigma).
// The one-step entry of the pipeline is a=0, b=0, c=1, t=699; a point of
// the conditional flow is a=1-sigma, b=sigma, c=0.
type flowInputs struct {
	a, b, c, t, sigma float32
}

// entryFlow is the pipeline's one-step entry: x_t = z_L at t=699.
func entryFlow() flowInputs {
	return flowInputs{c: 1, t: float32(schedule.BaseTimestep), sigma: float32(schedule.Sigma(schedule.BaseTimestep))}
}

// buildStep builds the training graphs of cfg's stage.
// teacher, when set, is the config of the frozen draft under
// model.ScopeTeacher that the draft stage distils from.
func buildStep(be compute.Backend, m *model.Model, cfg Config, lp *lpips.Weights, teacher *model.Config) (*stepGraphs, error) {
	mc := m.Config
	s := &stepGraphs{}
	opt := optimizer.Adam().Done()
	var err error
	s.gen, err = mlmodel.NewExec(be, m.Store, func(scope *mlmodel.Scope, in []*Node) []*Node {
		hq, lq := in[0], in[1]
		var loss *Node
		var terms lossTerms
		var extra []*Node
		switch cfg.Stage {
		case StageAutoencoder:
			loss, terms = autoencoderLoss(scope, mc, hq, lq)
		case StageBase:
			loss, terms = baseLoss(scope, mc, cfg, lp, hq, lq, in[2], in[3:8])
		default:
			var fake *Node
			loss, terms, fake = draftLoss(scope, mc, cfg, lp, teacher, hq, lq)
			if fake != nil {
				extra = append(extra, fake)
			}
		}
		s.names = terms.names
		opt.UpdateGraph(scope, hq.Graph(), loss)
		return append(append([]*Node{loss}, terms.nodes...), extra...)
	})
	if err != nil {
		return nil, err
	}
	if cfg.Stage == StageDraft && cfg.AdvWeight > 0 {
		dopt := optimizer.Adam().Scope("AdamDisc").Done()
		s.disc, err = mlmodel.NewExec(be, m.Store, func(scope *mlmodel.Scope, hq, fake *Node) *Node {
			real := frames4(hq)
			lr, _ := model.Discriminator(scope, real)
			lf, _ := model.Discriminator(scope, fake)
			loss := Add(model.MeanAll(hinge(OneMinus(lr))), model.MeanAll(hinge(OnePlus(lf))))
			dopt.UpdateGraph(scope, real.Graph(), loss)
			return loss
		})
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// autoencoderLoss is the autoencoder stage's loss: the reconstruction of the
// ground truth (pixel L1 and image gradients), the round trip of the
// low-quality frame (z_L = E(x_L) is what the base network starts from) and
// a small latent norm penalty. hq and lq are [B, T, H, W, 3].
func autoencoderLoss(scope *mlmodel.Scope, mc model.Config, hq, lq *Node) (*Node, lossTerms) {
	hq4, lq4 := frames4(hq), frames4(lq)
	z := model.Encode(scope, mc.AE, hq4)
	y := model.Decode(scope, mc.AE, z, lq4)
	pix := l1(y, hq4)
	grad := gradientLoss(y, hq4)
	zl := model.Encode(scope, mc.AE, lq4)
	lqr := l1(model.Decode(scope, mc.AE, zl, lq4), lq4)
	reg := MulScalar(Add(model.MeanAll(Square(z)), model.MeanAll(Square(zl))), 1e-4)
	var t lossTerms
	t.add("pixel", pix)
	t.add("gradient", grad)
	t.add("lq_recon", lqr)
	return Add(Add(Add(pix, grad), MulScalar(lqr, 0.5)), reg), t
}

// latents encodes the ground truth and the low-quality clip [B, T, H, W, 3]
// with the frozen encoder: z_HQ and z_L, [B, T, h, w, C].
func latents(scope *mlmodel.Scope, mc model.Config, hq, lq *Node) (zh5, zl5 *Node) {
	d := hq.Shape().Dimensions
	b, t := d[0], d[1]
	zh := StopGradient(model.Encode(scope, mc.AE, frames4(hq)))
	zl := StopGradient(model.Encode(scope, mc.AE, frames4(lq)))
	ld := zl.Shape().Dimensions
	return Reshape(zh, b, t, ld[1], ld[2], ld[3]), Reshape(zl, b, t, ld[1], ld[2], ld[3])
}

// frames4 merges the batch and time axes: [B, T, H, W, C] -> [B*T, H, W, C].
func frames4(x *Node) *Node {
	d := x.Shape().Dimensions
	return Reshape(x, d[0]*d[1], d[2], d[3], d[4])
}

// reconTerms scores a predicted clean latent x0 [B, T, h, w, C] against the
// ground truth: latent MSE, and on its decoding (conditioned on the
// upsampled low-quality frames) pixel L1, Laplacian sharpness, detail,
// temporal consistency and, with withLPIPS, LPIPS on a few frames. It returns the weighted sum, the
// terms and the decoded frames [B*T, H, W, 3].
func reconTerms(scope *mlmodel.Scope, mc model.Config, cfg Config, lp *lpips.Weights, x0, zh5, hq, lq *Node, withLPIPS bool) (*Node, lossTerms, *Node) {
	hq4, lq4 := frames4(hq), frames4(lq)
	y := model.Decode(scope, mc.AE, frames4(x0), lq4)
	var t lossTerms
	lat, pix, sharp := mse(x0, zh5), l1(y, hq4), sharpnessLoss(y, hq4)
	t.add("latent", lat)
	t.add("pixel", pix)
	t.add("sharp", sharp)
	total := Add(Add(MulScalar(lat, cfg.LatentWeight), MulScalar(pix, cfg.PixelWeight)), MulScalar(sharp, cfg.SharpWeight))
	if cfg.DetailWeight > 0 {
		detail := detailLoss(y, hq4)
		t.add("detail", detail)
		total = Add(total, MulScalar(detail, cfg.DetailWeight))
	}
	if cfg.TemporalWeight > 0 {
		tl := temporalLoss(y, hq4, hq.Shape().Dimensions[1])
		t.add("temporal", tl)
		total = Add(total, MulScalar(tl, cfg.TemporalWeight))
	}
	if withLPIPS && lp != nil && cfg.LPIPSWeight > 0 {
		lpl := lpipsTerm(lp, hq4, clamp01(y))
		t.add("lpips", lpl)
		total = Add(total, MulScalar(lpl, cfg.LPIPSWeight))
	}
	return total, t, y
}

// lpipsTerm is the mean LPIPS of lpipsFrames evenly spaced frames of pred
// against hq, both [N, H, W, 3] in [0, 1].
func lpipsTerm(lp *lpips.Weights, hq, pred *Node) *Node {
	return model.MeanAll(lp.Distance(pickFrames(hq, lpipsFrames), pickFrames(pred, lpipsFrames)))
}

// clamp01 clamps to [0, 1], as the pipeline does with its output.
func clamp01(x *Node) *Node { return ClipScalar(x, 0, 1) }

// baseLoss is the base stage's loss. The base network sees x_t =
// a*z_HQ + b*noise + c*z_L at timestep t, conditioned on z_L: the pipeline's
// one-step entry (x_t = z_L at t=699) or a point of the conditional flow
// from z_HQ to noise (x_t = (1-sigma)*z_HQ + sigma*noise), so it learns a
// real conditional flow and later steps have work to do. coef holds the
// scalars a, b, c, t and sigma.
func baseLoss(scope *mlmodel.Scope, mc model.Config, cfg Config, lp *lpips.Weights, hq, lq, noise *Node, coef []*Node) (*Node, lossTerms) {
	zh5, zl5 := latents(scope, mc, hq, lq)
	a, b, c, t, sigma := coef[0], coef[1], coef[2], coef[3], coef[4]
	xt := Add(Add(Mul(zh5, a), Mul(noise, b)), Mul(zl5, c))
	v, _ := model.Base(scope, mc, xt, zl5, t)
	x0 := schedule.PredictX0Graph(xt, v, sigma)
	total, terms, _ := reconTerms(scope, mc, cfg, lp, x0, zh5, hq, lq, true)
	return total, terms
}

// draftLoss is the draft stage's loss: the draft is unrolled from the frozen
// base step's x_next through the draft timesteps, the trajectory it meets in
// the pipeline (no gradient between steps). Every step's x0 is scored by
// latent, pixel and sharpness terms (averaged over the steps) and, with a
// teacher, by the distillation term (latent MSE to the frozen teacher
// draft's x0 at the same x_t); the last step's, which the pipeline outputs,
// also by LPIPS and, with AdvWeight, by the patch discriminator (hinge
// generator loss and feature matching), the terms that reward detail
// beyond the conditional mean. Without pixel-domain terms nothing is
// decoded. fake is the last step's decoded frames when adversarial
// training is on (for the discriminator update), else nil.
func draftLoss(scope *mlmodel.Scope, mc model.Config, cfg Config, lp *lpips.Weights, teacher *model.Config, hq, lq *Node) (*Node, lossTerms, *Node) {
	g := hq.Graph()
	zh5, zl5 := latents(scope, mc, hq, lq)
	steps := schedule.DefaultPlan().Steps()
	sig := func(v float64) *Node { return Const(g, float32(v)) }
	base := steps[0]
	v, feats := model.Base(scope, mc, zl5, zl5, Const(g, float32(base.T)))
	for i := range feats {
		feats[i] = StopGradient(feats[i])
	}
	xt := StopGradient(schedule.StepGraph(zl5, v, sig(base.Sigma), sig(base.SigmaNext)))
	withLPIPS := lp != nil && cfg.LPIPSWeight > 0
	decodes := cfg.PixelWeight > 0 || cfg.SharpWeight > 0 || cfg.DetailWeight > 0 || cfg.TemporalWeight > 0 || withLPIPS || cfg.AdvWeight > 0
	var total *Node
	var sum lossTerms
	var last, lastDec *Node // the last step's x0 and, when decoded, its frames
	drafts := steps[1:]
	_, _, _ = schedule.Walk(drafts, xt, func(s schedule.PlanStep, xt *Node) (*Node, *Node, error) {
		ts := Const(g, float32(s.T))
		vd := model.Draft(scope, mc, xt, zl5, ts, feats)
		x0 := schedule.PredictX0Graph(xt, vd, sig(s.Sigma))
		var l *Node
		var t lossTerms
		if decodes {
			l, t, lastDec = reconTerms(scope, mc, cfg, lp, x0, zh5, hq, lq, false)
		} else {
			lat := mse(x0, zh5)
			t.add("latent", lat)
			l = MulScalar(lat, cfg.LatentWeight)
		}
		if teacher != nil {
			vt := model.Draft(scope.At(model.ScopeTeacher), *teacher, xt, zl5, ts, feats)
			x0t := StopGradient(schedule.PredictX0Graph(xt, vt, sig(s.Sigma)))
			d := mse(x0, x0t)
			t.add("distill", d)
			l = Add(l, MulScalar(d, cfg.DistillWeight))
		}
		if total == nil {
			total, sum = l, t
		} else {
			total = Add(total, l)
			for k := range t.nodes {
				sum.nodes[k] = Add(sum.nodes[k], t.nodes[k])
			}
		}
		last = x0
		return x0, StopGradient(schedule.StepGraph(xt, vd, sig(s.Sigma), sig(s.SigmaNext))), nil
	})
	k := float64(len(drafts))
	total = DivScalar(total, k)
	for i := range sum.nodes {
		sum.nodes[i] = DivScalar(sum.nodes[i], k)
	}
	if !withLPIPS && cfg.AdvWeight <= 0 {
		return total, sum, nil
	}
	if lastDec == nil {
		lastDec = model.Decode(scope, mc.AE, frames4(last), frames4(lq))
	}
	fake := clamp01(lastDec)
	hq4 := frames4(hq)
	if withLPIPS {
		lpl := lpipsTerm(lp, hq4, fake)
		sum.add("lpips", lpl)
		total = Add(total, MulScalar(lpl, cfg.LPIPSWeight))
	}
	if cfg.AdvWeight <= 0 {
		return total, sum, nil
	}
	lf, ff := model.Discriminator(scope, fake)
	_, fr := model.Discriminator(scope, hq4)
	adv := Neg(model.MeanAll(lf))
	var fm *Node
	for i := range ff {
		d := l1(ff[i], StopGradient(fr[i]))
		if fm == nil {
			fm = d
		} else {
			fm = Add(fm, d)
		}
	}
	fm = DivScalar(fm, float64(len(ff)))
	sum.add("adv", adv)
	sum.add("feature_match", fm)
	total = Add(total, Add(MulScalar(adv, cfg.AdvWeight), MulScalar(fm, cfg.FMWeight)))
	return total, sum, StopGradient(fake)
}
