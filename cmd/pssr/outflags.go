package main

// Helpers shared by the commands: the output-video flags and the checks and
// writer setup behind them, and flag-error formatting.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pssr/pssr/upscale"
	"github.com/pssr/pssr/video"
)

// maxCRF is the largest --crf the commands accept (the x264/x265 scale).
const maxCRF = 51

// outputCodecs are the --codec values, in the order the help lists them.
var outputCodecs = []video.Codec{video.H264, video.H265, video.VP9, video.FFV1, video.PNG}

// outputFlags are the flags of every command that writes a video: the codec,
// its quality and whether an existing output may be replaced.
//
// A command registers them on its flag set, calls check with OUT and every
// input before doing any work, and create once it knows the output size:
//
//	var of outputFlags
//	of.register(cmd.Flags())
//	...
//	if err := of.check(out, in); err != nil { return err }
//	w, err := of.create(ctx, out, info, width, height, log)
//	if err != nil { return err }
//	defer w.Abort() // removes the unfinished output on any early return
//	... w.Write(frame) ...
//	return w.Close() // Abort after a successful Close does nothing
type outputFlags struct {
	codec     string
	crf       int
	overwrite bool
	fs        *pflag.FlagSet
}

// register adds --codec, --crf and --overwrite to fs.
func (o *outputFlags) register(fs *pflag.FlagSet) {
	names := make([]string, len(outputCodecs))
	for i, c := range outputCodecs {
		names[i] = string(c)
	}
	fs.StringVar(&o.codec, "codec", "", "output `CODEC`: "+strings.Join(names, ", ")+
		" (ffv1 is lossless and needs .mkv, .mov or .avi; png writes a folder of frames); default from OUT: vp9 for .webm, png for a folder or a name without extension, else h264")
	fs.IntVar(&o.crf, "crf", 0, fmt.Sprintf("constant quality `N` for h264, h265 and vp9, 0-%d, lower is better; 0 keeps the codec default (h264 18, h265 20, vp9 30)", maxCRF))
	fs.BoolVar(&o.overwrite, "overwrite", false, "replace OUT if it already exists")
	o.fs = fs
}

// outputCodec returns the codec for out: --codec, or the default for its
// extension.
func (o *outputFlags) outputCodec(out string) video.Codec {
	if o.codec == "" {
		return video.CodecForPath(out)
	}
	return video.Codec(strings.ToLower(strings.TrimSpace(o.codec)))
}

// validate checks the flag values alone.
func (o *outputFlags) validate() error {
	if o.codec != "" {
		c := video.Codec(strings.ToLower(strings.TrimSpace(o.codec)))
		ok := false
		for _, k := range outputCodecs {
			ok = ok || c == k
		}
		if !ok {
			return fmt.Errorf("--codec %q: unknown codec (want h264, h265, vp9, ffv1 or png)", o.codec)
		}
	}
	if o.crf < 0 || o.crf > maxCRF {
		return fmt.Errorf("--crf %d is out of range (0-%d)", o.crf, maxCRF)
	}
	return nil
}

// check validates the flags and OUT before any work: OUT must be given,
// must not be any of inputs (compared as cleaned absolute paths and with
// os.SameFile, so links count), must not exist unless --overwrite (and is
// never a device, FIFO or link), must have an extension the codec can go
// into and must not be written by another running pssr (video.CheckOutput).
func (o *outputFlags) check(out string, inputs ...string) error {
	return o.checkFrames(out, 0, inputs...)
}

// checkFrames is check once the number of frames to write is known (0 when
// it is not): a single-image OUT (.png) takes one frame.
func (o *outputFlags) checkFrames(out string, frames int, inputs ...string) error {
	if err := o.validate(); err != nil {
		return err
	}
	if strings.TrimSpace(out) == "" {
		return errors.New("OUT is empty")
	}
	if err := checkNotInput(out, inputs...); err != nil {
		return err
	}
	if st, err := os.Lstat(out); err == nil && !o.overwrite && (st.IsDir() || st.Mode().IsRegular()) {
		return fmt.Errorf("OUT %q already exists (use --overwrite to replace it)", out)
	}
	err := video.CheckOutput(out, video.WriterOptions{Codec: o.outputCodec(out), CRF: o.crf, Overwrite: o.overwrite, Frames: frames})
	return o.explain(err)
}

// explain adds the flag to change to an output error of the video
// package.
func (o *outputFlags) explain(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, video.ErrExists) && !o.overwrite && errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w (use --overwrite to replace it)", err)
	case errors.Is(err, video.ErrUnsupported):
		return fmt.Errorf("%w (choose another --codec or OUT extension)", err)
	}
	return err
}

// create checks OUT against in (see check) and starts the output video:
// w x h frames at in's frame rate and display rotation, with the audio and
// subtitle streams of in copied (a frame folder has none), and the codec,
// quality and overwrite flags. The writer writes to a hidden temporary file
// next to OUT, renamed into place by Close; the caller must Abort it on any
// error (defer w.Abort() right away, it does nothing after a successful
// Close). Cancelling ctx removes the temporary file too.
func (o *outputFlags) create(ctx context.Context, out string, in *video.Info, w, h int, log *slog.Logger) (video.Writer, error) {
	if err := o.checkFrames(out, in.Frames, in.Path); err != nil {
		return nil, err
	}
	opt := o.writerOptions(out, log)
	opt.Width, opt.Height = w, h
	opt.FrameRate, opt.Rotation = in.FrameRate, in.Rotation
	opt.Frames, opt.BitDepth = in.Frames, in.BitDepth
	if in.BitDepth > 8 && opt.SampleBits() <= 8 {
		opt.Logger.Warn(fmt.Sprintf("IN has %d-bit samples; the %s output keeps 8 (use --codec h265, vp9, ffv1 or png to keep more)", in.BitDepth, opt.Codec))
	}
	if !in.Folder {
		opt.StreamsFrom = in.Path
	}
	// A variable-rate input's frames keep their timestamps.
	var err error
	if opt.Timestamps, err = upscale.OutputTiming(ctx, in, opt.Codec, opt.Logger); err != nil {
		return nil, err
	}
	wr, err := video.Create(ctx, out, opt)
	if err != nil {
		return nil, o.explain(err)
	}
	return explainedWriter{wr, o}, nil
}

// writerOptions returns the codec, quality, overwrite and logger settings
// of the flags for out (warning about a --crf that does nothing).
func (o *outputFlags) writerOptions(out string, log *slog.Logger) video.WriterOptions {
	if log == nil {
		log = slog.Default()
	}
	codec := o.outputCodec(out)
	if o.fs != nil && o.fs.Changed("crf") {
		switch {
		case codec == video.FFV1 || codec == video.PNG:
			log.Warn("--crf is ignored: the output codec is lossless", "codec", codec)
		case o.crf == 0:
			log.Warn("--crf 0 keeps the codec's default quality; use --codec ffv1 for lossless output", "codec", codec)
		}
	}
	return video.WriterOptions{Codec: codec, CRF: o.crf, Overwrite: o.overwrite, Logger: log}
}

// explainedWriter is a video.Writer whose Close errors name the flag to
// change: another run that finished OUT first makes Close fail with
// video.ErrExists, which --overwrite allows.
type explainedWriter struct {
	video.Writer
	o *outputFlags
}

// Close finishes the output (video.Writer.Close) and explains its error.
func (w explainedWriter) Close() error { return w.o.explain(w.Writer.Close()) }

// checkNotInput fails when out names the same file or folder as one of
// inputs.
func checkNotInput(out string, inputs ...string) error {
	for _, in := range inputs {
		if in != "" && samePath(out, in) {
			return fmt.Errorf("output %q is the input %q: %w", out, in, video.ErrSameFile)
		}
	}
	return nil
}

// samePath reports whether a and b name the same file: equal cleaned absolute
// paths, or os.SameFile when both exist (hard and symbolic links).
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	ba, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == ba {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// checkOutputDir fails unless the folder that path would be written to
// exists, so a report path with a typo fails before a long run.
func checkOutputDir(flag, path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s %q: output folder: %w", flag, path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %q: %q is not a folder", flag, path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s %q is a folder", flag, path)
	}
	return nil
}
