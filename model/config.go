// Package model defines the networks of PS-SR in GoMLX: the autoencoder
// (8x spatial compression, decoder conditioned on the upsampled low-quality
// frame), the base latent video transformer with timestep modulation, and the
// draft transformer that keeps every k-th base block and consumes the base
// network's hidden features through fusion layers.
//
// Every network is built from dense layers, layer norms and attention on patch
// tokens (space-to-depth by Reshape/Transpose, 3x3 neighbourhoods by slices
// and concatenation), so each one runs and trains on GoMLX's pure-Go
// backend. Sizes come from Config; nothing is hard-coded.
//
// The graphs depend on the backend in two documented ways, never in their
// arithmetic: on the pure-Go backend broadcasts and reductions are MatMuls
// (bcast.go); on package onnx's recorder (backend name "onnx-export") the
// 3x3 layers are convolutions and the attention the fused attention op, which
// the exporter writes as single ONNX nodes (conv3x3, attend).
//
// The package knows nothing of schedules or sampling: package pipeline
// composes these networks with package schedule.
package model

import (
	"encoding/json"
	"fmt"
	"math"
)

// AEConfig sizes the autoencoder.
type AEConfig struct {
	// Patch is the spatial compression factor (pixels per latent side); 8.
	Patch int `json:"patch"`
	// LatentChannels is the number of latent channels.
	LatentChannels int `json:"latent_channels"`
	// Width is the token width inside encoder and decoder.
	Width int `json:"width"`
	// EncBlocks and DecBlocks count the residual 3x3-neighbourhood blocks.
	EncBlocks int `json:"enc_blocks"`
	DecBlocks int `json:"dec_blocks"`
	// FineBlocks counts the residual blocks of the decoder's fine stage (on
	// p/2 x p/2 patches); 0 means 1, so files written before the field
	// existed load unchanged. Blocks added after the first start as the
	// identity (see Decode), which lets LoadGrown deepen a trained decoder
	// without changing its output. At most MaxFineBlocks.
	FineBlocks int `json:"fine_blocks,omitempty"`
}

// MaxFineBlocks is the largest AEConfig.FineBlocks that Validate accepts.
const MaxFineBlocks = 8

// FineBlockCount is the number of fine-stage residual blocks the decoder
// has: FineBlocks, or 1 when FineBlocks is 0.
func (c AEConfig) FineBlockCount() int { return max(1, c.FineBlocks) }

// DiTConfig sizes the base latent transformer (and, through DraftConfig, the draft).
type DiTConfig struct {
	// Patch is the token patch size on the latent grid (Wan uses 2).
	Patch int `json:"patch"`
	// Width is the hidden width d.
	Width int `json:"width"`
	// Blocks is the number of transformer blocks.
	Blocks int `json:"blocks"`
	// Heads is the number of attention heads (Width must divide by it).
	Heads int `json:"heads"`
	// MLP is the hidden size of each block's feed-forward network.
	MLP int `json:"mlp"`
	// Window is the side, in tokens, of the spatial attention windows.
	Window int `json:"window"`
	// TimeDim is the size of the sinusoidal timestep embedding.
	TimeDim int `json:"time_dim"`
	// TemporalRoPE rotates the queries and keys of the temporal attention
	// by their frame offset (rotary position embedding over the frames of
	// a window), so that attention across frames knows which frame is
	// which. It adds no weights; models trained without it leave it off.
	TemporalRoPE bool `json:"temporal_rope,omitempty"`
}

// DraftConfig says which base blocks the draft keeps and how wide it is.
type DraftConfig struct {
	// KSelect keeps block i (0-based) of the base when i mod KSelect == 0.5,
	// as in the release (1.5 keeps blocks 2, 5, 8, ...). A whole number k
	// keeps blocks k-1, 2k-1, ... (every k-th block, ending on the last).
	KSelect float64 `json:"k_select"`
	// Width, Heads and MLP size the draft's blocks when they differ from
	// the base's (0: the base's dit.width, dit.heads and dit.mlp). A
	// narrower draft reads the base features (dit.width wide) through its
	// fusion layers, which project base and draft width to the draft's.
	Width int `json:"width,omitempty"`
	Heads int `json:"heads,omitempty"`
	MLP   int `json:"mlp,omitempty"`
}

// DraftDiT is the transformer config of the draft: the base's, with
// Draft.Width, Draft.Heads and Draft.MLP where they are set.
func (c Config) DraftDiT() DiTConfig {
	d := c.DiT
	if c.Draft.Width > 0 {
		d.Width = c.Draft.Width
	}
	if c.Draft.Heads > 0 {
		d.Heads = c.Draft.Heads
	}
	if c.Draft.MLP > 0 {
		d.MLP = c.Draft.MLP
	}
	return d
}

// Config sizes every network of a PS-SR model.
type Config struct {
	Name  string      `json:"name"`
	AE    AEConfig    `json:"ae"`
	DiT   DiTConfig   `json:"dit"`
	Draft DraftConfig `json:"draft"`
}

// Tiny returns the configuration of pssr-tiny, the CPU-sized default model,
// as the shipped x4 weights have it: the three-block decoder fine stage
// (the first shipped weights had one) and a one-block draft (k_select 6,
// the base's last block; the weights before session 9 kept blocks 2 and 5,
// k_select 1.5, as pssr-tiny-x2 still does).
func Tiny() Config {
	return Config{
		Name:  "pssr-tiny",
		AE:    AEConfig{Patch: 8, LatentChannels: 16, Width: 64, EncBlocks: 2, DecBlocks: 3, FineBlocks: 3},
		DiT:   DiTConfig{Patch: 2, Width: 128, Blocks: 6, Heads: 4, MLP: 256, Window: 4, TimeDim: 64},
		Draft: DraftConfig{KSelect: 6},
	}
}

// Fixture returns a very small configuration for tests (random weights).
func Fixture() Config {
	return Config{
		Name:  "fixture",
		AE:    AEConfig{Patch: 8, LatentChannels: 4, Width: 16, EncBlocks: 1, DecBlocks: 1},
		DiT:   DiTConfig{Patch: 2, Width: 16, Blocks: 3, Heads: 2, MLP: 32, Window: 2, TimeDim: 16},
		Draft: DraftConfig{KSelect: 1.5},
	}
}

// MaxParameters bounds the parameters a config may describe (about 4 GiB
// of float32 weights), so a hostile or mistyped config fails Validate
// instead of exhausting memory while the model is built.
const MaxParameters = 1 << 30

// configLimits are the inclusive ranges of the config's sizes, far above
// pssr-small's, checked by Validate before anything is allocated.
var configLimits = []struct {
	name     string
	get      func(Config) int
	min, max int
}{
	{"ae.patch", func(c Config) int { return c.AE.Patch }, 2, 32},
	{"ae.latent_channels", func(c Config) int { return c.AE.LatentChannels }, 1, 1024},
	{"ae.width", func(c Config) int { return c.AE.Width }, 1, 4096},
	{"ae.enc_blocks", func(c Config) int { return c.AE.EncBlocks }, 0, 64},
	{"ae.dec_blocks", func(c Config) int { return c.AE.DecBlocks }, 0, 64},
	{"ae.fine_blocks", func(c Config) int { return c.AE.FineBlocks }, 0, MaxFineBlocks},
	{"dit.patch", func(c Config) int { return c.DiT.Patch }, 1, 8},
	{"dit.width", func(c Config) int { return c.DiT.Width }, 1, 8192},
	{"dit.blocks", func(c Config) int { return c.DiT.Blocks }, 1, 256},
	{"dit.heads", func(c Config) int { return c.DiT.Heads }, 1, 256},
	{"dit.mlp", func(c Config) int { return c.DiT.MLP }, 1, 65536},
	{"dit.window", func(c Config) int { return c.DiT.Window }, 1, 64},
	{"dit.time_dim", func(c Config) int { return c.DiT.TimeDim }, 2, 8192},
	{"draft.width", func(c Config) int { return c.Draft.Width }, 0, 8192},
	{"draft.heads", func(c Config) int { return c.Draft.Heads }, 0, 256},
	{"draft.mlp", func(c Config) int { return c.Draft.MLP }, 0, 65536},
}

// Validate checks every size: each within its range (ae.fine_blocks 0
// means 1), the autoencoder patch even, the heads dividing the width, the
// time embedding even, a draft that keeps at least one block, and the
// whole model within MaxParameters.
func (c Config) Validate() error {
	for _, l := range configLimits {
		if v := l.get(c); v < l.min || v > l.max {
			return fmt.Errorf("model config: %s must be in %d..%d, got %d", l.name, l.min, l.max, v)
		}
	}
	if c.AE.Patch%2 != 0 {
		return fmt.Errorf("model config: ae.patch %d must be even (the decoder's fine stage works on half patches)", c.AE.Patch)
	}
	if k := c.Draft.KSelect; math.IsNaN(k) || k <= 0 || k > float64(c.DiT.Blocks) {
		return fmt.Errorf("model config: draft.k_select must be in (0, dit.blocks %d], got %g", c.DiT.Blocks, k)
	}
	if c.DiT.Width%c.DiT.Heads != 0 {
		return fmt.Errorf("model config: dit.width %d not divisible by dit.heads %d", c.DiT.Width, c.DiT.Heads)
	}
	if d := c.DraftDiT(); d.Width%d.Heads != 0 {
		return fmt.Errorf("model config: the draft's width %d not divisible by its heads %d (draft.width, draft.heads)", d.Width, d.Heads)
	}
	if c.DiT.TimeDim%2 != 0 {
		return fmt.Errorf("model config: dit.time_dim %d must be even", c.DiT.TimeDim)
	}
	if len(c.KeptBlocks()) == 0 {
		return fmt.Errorf("model config: draft.k_select %g keeps no block of %d", c.Draft.KSelect, c.DiT.Blocks)
	}
	if n := c.approxParameters(); n > MaxParameters {
		return fmt.Errorf("model config: about %.3g parameters (ae.width %d, dit.width %d, dit.blocks %d, dit.mlp %d), above the limit of %d",
			n, c.AE.Width, c.DiT.Width, c.DiT.Blocks, c.DiT.MLP, MaxParameters)
	}
	return nil
}

// approxParameters counts the weights of the large dense layers, a lower
// bound of the parameter count, in float64 so that no size overflows.
func (c Config) approxParameters() float64 {
	w, fw := float64(c.AE.Width), float64(max(c.AE.Width/2, 8))
	p2 := float64(c.AE.Patch * c.AE.Patch)
	lc := float64(c.AE.LatentChannels)
	ae := 3*p2*w + w*lc + (lc+3*p2)*w + // encoder in/out, decoder in
		10*w*w*float64(c.AE.EncBlocks+c.AE.DecBlocks) + 10*fw*fw*float64(c.AE.FineBlockCount())
	d, mlp := float64(c.DiT.Width), float64(c.DiT.MLP)
	// Per block: attention (q, k, v, o) in space and time, nine modulation
	// layers, the feed-forward network.
	block := 17*d*d + 2*d*mlp
	kept := float64(len(c.KeptBlocks()))
	dd := c.DraftDiT()
	dw, dmlp := float64(dd.Width), float64(dd.MLP)
	draftBlock := 17*dw*dw + 2*dw*dmlp + (dw+d)*dw // with its fusion layer
	return ae + block*float64(c.DiT.Blocks) + draftBlock*kept
}

// KeptBlocks returns the 0-based indices of the base blocks that the draft
// keeps, and whose entering hidden states the base hands over as features.
func (c Config) KeptBlocks() []int {
	var kept []int
	k := c.Draft.KSelect
	if k <= 0 {
		return nil
	}
	for i := 0; i < c.DiT.Blocks; i++ {
		m := math.Mod(float64(i), k)
		if k == math.Trunc(k) {
			if int(m) == int(k)-1 {
				kept = append(kept, i)
			}
		} else if math.Abs(m-0.5) < 1e-9 {
			kept = append(kept, i)
		}
	}
	return kept
}

// PixelMultiple is the multiple that frame sides must have before encoding:
// the autoencoder patch times the transformer patch (16 for pssr-tiny).
func (c Config) PixelMultiple() int { return c.AE.Patch * c.DiT.Patch }

// JSON returns the config as JSON.
func (c Config) JSON() json.RawMessage {
	b, _ := json.Marshal(c)
	return b
}

// ParseConfig decodes and validates a JSON config.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("model config: %w", err)
	}
	return c, c.Validate()
}

// Small returns a larger configuration for GPU training (pssr-small).
func Small() Config {
	return Config{
		Name:  "pssr-small",
		AE:    AEConfig{Patch: 8, LatentChannels: 16, Width: 128, EncBlocks: 3, DecBlocks: 4},
		DiT:   DiTConfig{Patch: 2, Width: 256, Blocks: 12, Heads: 8, MLP: 768, Window: 4, TimeDim: 128},
		Draft: DraftConfig{KSelect: 1.5},
	}
}

// Named returns a configuration by name: tiny, small or fixture.
func Named(name string) (Config, error) {
	switch name {
	case "tiny", "pssr-tiny":
		return Tiny(), nil
	case "small", "pssr-small":
		return Small(), nil
	case "fixture":
		return Fixture(), nil
	}
	return Config{}, fmt.Errorf("model: unknown size %q (want tiny or small)", name)
}
