package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pssr/pssr/degrade"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/progress"
	"github.com/pssr/pssr/video"
)

func init() { commands = append(commands, newDegradeCmd) }

// degradeScales are the --scale values degrade accepts: the factors PS-SR
// upscales by.
var degradeScales = []int{2, 4}

func newDegradeCmd(a *app) *cobra.Command {
	var (
		presetName string
		scale      int
		seed       uint64
		chunk      int
		of         outputFlags
	)
	var presets []string
	for _, p := range degrade.Presets() {
		presets = append(presets, string(p))
	}
	cmd := &cobra.Command{
		Use:   "degrade IN OUT --preset " + strings.Join(presets, "|"),
		Short: "Make a low-quality, downscaled video with a training degradation pipeline",
		Long: `degrade turns a high-quality video into the kind of low-quality input PS-SR is
trained on, smaller by --scale:

  bicubic       a clean antialiased bicubic downscale;
  realesrgan    Real-ESRGAN's second-order pipeline (blur, resize, noise, JPEG,
                twice, then a sinc filter), drawn anew for every frame;
  realbasicvsr  the video variant: one draw for the whole video, plus video
                compression at a low bit rate through ffmpeg.

The video is streamed in chunks of --chunk frames, so memory stays bounded.
For realbasicvsr the one draw is kept for every chunk (the noise still differs
per frame) and each chunk is compressed as its own short video. The same
--seed gives the same output. OUT keeps IN's frame rate, rotation, audio and
subtitles.`,
		Example: "  pssr degrade hq.mp4 lq.mkv --preset realbasicvsr --seed 7\n  pssr degrade hq.mp4 lq.mp4 --preset bicubic --scale 2",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, out := args[0], args[1]
			preset, err := degrade.ParsePreset(presetName)
			if err != nil {
				return fmt.Errorf("--preset %q: unknown preset (want %s)", presetName, strings.Join(presets, ", "))
			}
			okScale := false
			for _, s := range degradeScales {
				okScale = okScale || scale == s
			}
			if !okScale {
				return fmt.Errorf("--scale %d is not supported (want 2 or 4)", scale)
			}
			if chunk < 1 {
				return fmt.Errorf("--chunk %d: must be at least 1", chunk)
			}
			if err := of.check(out, in); err != nil {
				return err
			}
			ctx := cmd.Context()
			info, err := video.Probe(ctx, in)
			if err != nil {
				return err
			}
			d, err := degrade.New(preset, scale, seed)
			if err != nil {
				return err
			}
			ow, oh := d.OutputSize(info.Width, info.Height)
			if ow < 1 || oh < 1 {
				return fmt.Errorf("IN %q is %dx%d, too small for --scale %d", in, info.Width, info.Height, scale)
			}
			r, err := video.Open(ctx, in)
			if err != nil {
				return err
			}
			defer r.Close()
			w, err := of.create(ctx, out, info, ow, oh, a.log)
			if err != nil {
				return err
			}
			defer w.Abort()

			a.log.Debug("degrade", "preset", preset, "scale", scale, "seed", seed, "chunk", chunk,
				"in", fmt.Sprintf("%dx%d", info.Width, info.Height), "out", fmt.Sprintf("%dx%d", ow, oh))
			bar := progress.New(a.stderr, info.Frames, "degrade", a.quiet)
			defer bar.Finish()
			var clipParams *degrade.Params // realbasicvsr: the draw of the first chunk
			done := 0
			for k := 0; ; k++ {
				hq, err := readChunk(r, chunk)
				if err != nil {
					return fmt.Errorf("IN, frame %d: %w", done+len(hq)+1, err)
				}
				if len(hq) == 0 {
					break
				}
				var lq []*frame.Image
				switch {
				case preset == degrade.RealBasicVSR && clipParams != nil:
					lq, err = d.Apply(ctx, chunkParams(*clipParams, k), hq)
				case preset == degrade.RealBasicVSR:
					var ps []degrade.Params
					lq, ps, err = d.ClipParams(ctx, hq)
					if err == nil {
						clipParams = &ps[0]
						if b, jerr := json.Marshal(clipParams); jerr == nil {
							a.log.Debug("realbasicvsr draw", "params", string(b))
						}
					}
				default:
					lq, err = d.Clip(ctx, hq)
				}
				if err != nil {
					return fmt.Errorf("frames %d-%d: %w", done+1, done+len(hq), err)
				}
				for _, f := range lq {
					if err := w.Write(f); err != nil {
						return err
					}
				}
				done += len(hq)
				bar.Add(len(hq))
			}
			return w.Close()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&presetName, "preset", "", "degradation pipeline `PRESET`: "+strings.Join(presets, ", ")+" (required)")
	fl.IntVar(&scale, "scale", 4, "downscaling factor `N`, 2 or 4")
	fl.Uint64Var(&seed, "seed", 0, "`SEED` of the random draws; the same seed gives the same output")
	fl.IntVar(&chunk, "chunk", 16, "`N` frames held in memory and degraded at once")
	_ = cmd.MarkFlagRequired("preset")
	of.register(fl)
	return cmd
}

// readChunk reads up to n frames. It returns fewer at the end of the video
// and none after it; an error comes with the frames read before it.
func readChunk(r video.Reader, n int) ([]*frame.Image, error) {
	var out []*frame.Image
	for len(out) < n {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
	return out, nil
}

// chunkParams returns the realbasicvsr draw p for chunk k of a streamed
// video: the same draw with a noise seed of its own, since Degrader.Apply
// seeds the noise of each frame from its index within the call and every
// chunk would otherwise repeat the noise of the first. Chunk 0 keeps p.
func chunkParams(p degrade.Params, k int) degrade.Params {
	if k > 0 {
		p.NoiseSeed = rand.New(rand.NewPCG(p.NoiseSeed, uint64(k))).Uint64()
	}
	return p
}
