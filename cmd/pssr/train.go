package main

import (
	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/degrade"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/trainer"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newTrainCmd) }

func newTrainCmd(a *app) *cobra.Command {
	var (
		c            trainer.Config
		preset, size string
		backendSpec  string
		seed         uint64
	)
	cmd := &cobra.Command{
		Use:   "train autoencoder|base|draft --data DIR --out DIR [flags]",
		Short: "Train the autoencoder, the base network or the draft network",
		Long: `Train one stage of a PS-SR model. Run the stages in order, each starting
from the previous stage's model (--init OUT_OF_PREVIOUS/model.safetensors):

  pssr train autoencoder --data D --photos P --out runs/ae
  pssr train base  --data D --photos P --init runs/ae/model.safetensors   --out runs/base
  pssr train draft --data D --photos P --init runs/base/model.safetensors --out runs/draft

Clips come from the frame folders and videos in --data and from pseudo-videos
of the photographs in --photos (pans, zooms, sub-pixel jitter), degraded on
the fly; held-out frames never enter training. Each run writes a checkpoint
every --checkpoint-every steps (and on Ctrl-C), model.safetensors,
loss.jsonl, loss.png and val.jsonl (validation PSNR-Y) to --out.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"autoencoder", "base", "draft"},
		RunE: func(cmd *cobra.Command, args []string) error {
			stage, err := trainer.ParseStage(args[0])
			if err != nil {
				return err
			}
			def := trainer.DefaultConfig(stage)
			fs := cmd.Flags()
			c.Stage = stage
			if !fs.Changed("frames") {
				c.Frames = def.Frames
			}
			if !fs.Changed("batch") {
				c.Batch = def.Batch
			}
			if c.Preset, err = degrade.ParsePreset(preset); err != nil {
				return err
			}
			if c.Model, err = model.Named(size); err != nil {
				return err
			}
			c.Seed = seed
			be, desc, err := backend.New(backendSpec, a.log)
			if err != nil {
				return err
			}
			defer be.Finalize()
			a.log.Info("backend", "backend", desc)
			return trainer.Run(cmd.Context(), be, c, a.log)
		},
	}
	def := trainer.DefaultConfig(trainer.StageBase)
	f := cmd.Flags()
	f.StringVar(&c.Data, "data", "", "folder of frame folders and video files (split into train and validation by a fixed rule)")
	f.StringVar(&c.Photos, "photos", "", "folder of photographs for pseudo-videos (optional)")
	f.StringVar(&c.Val, "val", "", "folder of validation frames (default: the held-out frames of the split)")
	f.StringVar(&c.Out, "out", "", "output folder (checkpoint, model, logs, loss curve)")
	f.StringVar(&c.Init, "init", "", "model to start from (the previous stage's model.safetensors)")
	f.StringVar(&size, "size", "tiny", "network sizes of a fresh model (autoencoder stage): tiny or small")
	f.IntVar(&c.Steps, "steps", def.Steps, "optimizer steps")
	f.IntVar(&c.Batch, "batch", def.Batch, "clips per step (default 8 for autoencoder, 4 otherwise)")
	f.IntVar(&c.Frames, "frames", def.Frames, "frames per clip (default 1 for autoencoder, 4 otherwise)")
	f.IntVar(&c.Crop, "crop", def.Crop, "ground-truth crop side in pixels")
	f.Float64Var(&c.LR, "lr", def.LR, "peak learning rate (warm-up, cosine decay)")
	f.Uint64Var(&seed, "seed", def.Seed, "seed for weights and batches")
	f.IntVar(&c.Scale, "scale", def.Scale, "degradation scale factor: 2 or 4")
	f.StringVar(&preset, "preset", string(def.Preset), "degradation: bicubic, realesrgan or realbasicvsr")
	f.IntVar(&c.CheckpointEvery, "checkpoint-every", def.CheckpointEvery, "steps between checkpoints")
	f.IntVar(&c.ValEvery, "val-every", def.ValEvery, "steps between validations")
	f.IntVar(&c.LogEvery, "log-every", def.LogEvery, "steps between loss log lines")
	f.BoolVar(&c.Resume, "resume", false, "continue exactly from --out/checkpoint.safetensors")
	f.Float64Var(&c.PixelWeight, "pixel-weight", def.PixelWeight, "weight of the decoded pixel loss (base, draft)")
	f.Float64Var(&c.LatentWeight, "latent-weight", def.LatentWeight, "weight of the latent MSE term (base, draft)")
	f.Float64Var(&c.SharpWeight, "sharp-weight", def.SharpWeight, "weight of the Laplacian sharpness loss (base, draft)")
	f.Float64Var(&c.DetailWeight, "detail-weight", def.DetailWeight, "weight of the detail loss: the gap between the mean |Laplacian| of output and ground truth (base, draft; 0: off)")
	f.Float64Var(&c.TemporalWeight, "temporal-weight", 0, "weight of the temporal term: L1 between the frame-to-frame changes of the decoded output and of the ground truth in a clip, a flicker penalty (base, draft; 0: off)")
	f.BoolVar(&c.KeepDraft, "keep-draft", false, "draft stage: continue the --init model's trained draft instead of copying it from the base")
	f.IntVar(&c.DraftWidth, "draft-width", 0, "rebuild the --init model's draft with blocks this wide (a new width starts the draft afresh: use --distill-weight; 0: keep)")
	f.IntVar(&c.DraftHeads, "draft-heads", 0, "rebuild the --init model's draft with this many attention heads (0: keep)")
	f.IntVar(&c.DraftMLP, "draft-mlp", 0, "rebuild the --init model's draft with this feed-forward size (0: keep)")
	f.Float64Var(&c.DistillWeight, "distill-weight", 0, "draft stage: weight of the latent MSE to the --init model's own draft (the teacher) at every draft step; with the pixel, sharp, detail, LPIPS and adversarial weights 0 nothing is decoded")
	f.Float64Var(&c.DraftKSelect, "k-select", 0, "rebuild the --init model's draft to keep the base blocks this k_select picks (e.g. 6 keeps block 5 of 6; with --keep-draft shared blocks keep their weights; 0: keep)")
	f.IntVar(&c.FineBlocks, "fine-blocks", 0, "grow the --init model's decoder fine stage to N residual blocks (new blocks start as the identity; 0: keep)")
	f.StringSliceVar(&c.Trainable, "trainable", nil, "variable scopes to train instead of the stage's network, e.g. ae/dec (decoder fine-tuning on the base's predictions)")
	f.Float64Var(&c.VideoWeight, "video-weight", 0, "share of clips drawn from real video (0: every source equally likely)")
	f.DurationVar(&c.MaxTime, "max-time", 0, "bound the wall time (e.g. 10m), compilation and validations included: a fresh run validates its starting weights first, and the step count is lowered after 20 steps so the schedule completes")
	f.IntVar(&c.PhotoDownscale, "photo-downscale", 0, "shrink photographs by this factor before crops (0: 2; 1 for photos already downscaled)")
	f.Float64Var(&c.LPIPSWeight, "lpips-weight", 0, "weight of the LPIPS term (base: on the predicted x0; draft: on the last step's output; 0: off)")
	f.StringVar(&c.LPIPSPath, "lpips", "", "LPIPS weights file (default models/perceptual/lpips-squeeze-v0.1.safetensors, found like the default model)")
	f.Float64Var(&c.FlowShare, "flow-share", 0, "base stage: share of steps trained on the conditional flow (noised ground-truth latents at random timesteps) instead of the one-step entry x_t = z_L")
	f.Float64Var(&c.AdvWeight, "adv-weight", 0, "draft stage: weight of the adversarial hinge term of a patch discriminator trained alongside (0: no discriminator)")
	f.Float64Var(&c.FMWeight, "fm-weight", def.FMWeight, "draft stage with --adv-weight: weight of the discriminator feature-matching term")
	f.BoolVar(&c.TemporalRoPE, "temporal-rope", false, "turn on rotary frame positions in the temporal attention of the model being trained (no new weights)")
	f.StringVar(&backendSpec, "backend", "", `compute backend: "go", "xla:/abs/plugin.so" or "auto" (default $GOMLX_BACKEND or go)`)
	return cmd
}
