package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pssr/pssr/freqfuse"
	"github.com/pssr/pssr/progress"
	"github.com/pssr/pssr/video"
)

func init() { commands = append(commands, newFuseCmd) }

func newFuseCmd(a *app) *cobra.Command {
	p := freqfuse.DefaultParams()
	var of outputFlags
	cmd := &cobra.Command{
		Use:   "fuse CONSISTENT SHARP OUT",
		Short: "Apply the frequency-domain update alone to two videos of the same size",
		Long: `fuse runs PS-SR's frequency-domain update on two existing videos, frame by
frame: OUT keeps the low luma frequencies, the chroma and a thin border of
CONSISTENT (the base model's one-step result) and blends in the high-frequency
detail of SHARP (the draft model's multi-step result). Both videos must have the
same frame size and number of frames. OUT takes CONSISTENT's frame rate,
rotation, audio and subtitles.`,
		Example: "  pssr fuse base.mp4 draft.mp4 fused.mp4\n  pssr fuse --alpha 0.8 --fc 0.25 base.mkv draft.mkv fused.mkv --codec ffv1",
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			consistent, sharp, out := args[0], args[1], args[2]
			if err := validateFuseParams(p); err != nil {
				return err
			}
			if err := of.check(out, consistent, sharp); err != nil {
				return err
			}
			ctx := cmd.Context()
			ci, err := video.Probe(ctx, consistent)
			if err != nil {
				return fmt.Errorf("CONSISTENT: %w", err)
			}
			si, err := video.Probe(ctx, sharp)
			if err != nil {
				return fmt.Errorf("SHARP: %w", err)
			}
			if ci.Width != si.Width || ci.Height != si.Height {
				return fmt.Errorf("frame sizes differ: CONSISTENT %q is %dx%d, SHARP %q is %dx%d",
					consistent, ci.Width, ci.Height, sharp, si.Width, si.Height)
			}
			if ci.Frames != si.Frames {
				return fmt.Errorf("frame counts differ: CONSISTENT %q has %d frames, SHARP %q has %d",
					consistent, ci.Frames, sharp, si.Frames)
			}
			if ci.FrameRate != si.FrameRate {
				a.log.Warn("frame rates differ; OUT takes CONSISTENT's", "consistent", ci.FrameRate.String(), "sharp", si.FrameRate.String())
			}
			if ci.Rotation != si.Rotation {
				a.log.Warn("rotations differ; OUT takes CONSISTENT's", "consistent", ci.Rotation, "sharp", si.Rotation)
			}
			fuser, err := freqfuse.New(p)
			if err != nil {
				return err
			}

			cr, err := video.Open(ctx, consistent)
			if err != nil {
				return fmt.Errorf("CONSISTENT: %w", err)
			}
			defer cr.Close()
			sr, err := video.Open(ctx, sharp)
			if err != nil {
				return fmt.Errorf("SHARP: %w", err)
			}
			defer sr.Close()
			w, err := of.create(ctx, out, ci, ci.Width, ci.Height, a.log)
			if err != nil {
				return err
			}
			defer w.Abort()

			a.log.Debug("fuse", "alpha", p.Alpha, "fc", p.Fc, "order", p.Order, "border", p.Border,
				"size", fmt.Sprintf("%dx%d", ci.Width, ci.Height), "frames", ci.Frames)
			bar := progress.New(a.stderr, ci.Frames, "fuse", a.quiet)
			defer bar.Finish()
			for n := 0; ; n++ {
				c, errC := cr.Next()
				s, errS := sr.Next()
				switch {
				case errC != nil && !errors.Is(errC, io.EOF):
					return fmt.Errorf("CONSISTENT, frame %d: %w", n+1, errC)
				case errS != nil && !errors.Is(errS, io.EOF):
					return fmt.Errorf("SHARP, frame %d: %w", n+1, errS)
				case errC != nil && errS != nil:
					return w.Close()
				case errC != nil:
					return fmt.Errorf("frame counts differ: CONSISTENT %q ended after %d frames, SHARP %q has more", consistent, n, sharp)
				case errS != nil:
					return fmt.Errorf("frame counts differ: SHARP %q ended after %d frames, CONSISTENT %q has more", sharp, n, consistent)
				}
				f, err := fuser.Fuse(c, s)
				if err != nil {
					return fmt.Errorf("frame %d: %w", n+1, err)
				}
				if err := w.Write(f); err != nil {
					return err
				}
				bar.Add(1)
			}
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&p.Alpha, "alpha", p.Alpha, "strength `A` of the blended high-frequency band, 0 to 2 (0 keeps only CONSISTENT's low band)")
	fl.Float64Var(&p.Fc, "fc", p.Fc, "Butterworth cut-off `F` in normalised frequency (the spectrum spans -0.5..0.5), in (0, 0.7072]")
	fl.IntVar(&p.Order, "order", p.Order, "Butterworth filter order `N`, 1 to 8")
	fl.IntVar(&p.Border, "border", p.Border, "border width `N` in pixels copied unchanged from CONSISTENT, 0 or more")
	of.register(fl)
	return cmd
}

// validateFuseParams checks p and names the flag of the first setting out of
// range. Each setting is checked alone, on top of the defaults, so the
// ranges stay those of freqfuse.Params.Validate.
func validateFuseParams(p freqfuse.Params) error {
	checks := []struct {
		flag string
		set  func(*freqfuse.Params)
	}{
		{"--alpha", func(q *freqfuse.Params) { q.Alpha = p.Alpha }},
		{"--fc", func(q *freqfuse.Params) { q.Fc = p.Fc }},
		{"--order", func(q *freqfuse.Params) { q.Order = p.Order }},
		{"--border", func(q *freqfuse.Params) { q.Border = p.Border }},
	}
	for _, c := range checks {
		q := freqfuse.DefaultParams()
		c.set(&q)
		if err := q.Validate(); err != nil {
			return fmt.Errorf("%s: %w", c.flag, err)
		}
	}
	return p.Validate()
}
