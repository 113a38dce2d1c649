// Package upscale runs one upscale of one video from start to finish, as
// `pssr upscale`, its batch mode and `pssr serve` do: probe the input, open
// or resume its checkpoint (package checkpoint), stream the frames through
// the pipeline into an atomically written output, and remove the checkpoint
// once the output is complete.
package upscale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/pssr/pssr/checkpoint"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/tiling"
	"github.com/pssr/pssr/video"
)

// Engine is a loaded model with its pipeline. It is not safe for
// concurrent use: give each worker its own.
type Engine struct {
	// Upscaler runs the pipeline.
	Upscaler *pipeline.Upscaler
	// Model is the loaded model.
	Model *model.Model
	// ModelPath and ModelHash name the model file and its SHA-256.
	ModelPath, ModelHash string

	rt netrun.Runtime
}

// Setup is what NewEngine builds an Engine from.
type Setup struct {
	// Model is the model file; "" is the bundled model for Options.Scale
	// (model.DefaultPathFor). Ignored when Loaded is set.
	Model string
	// Loaded is a model already in memory (training-time validation); it
	// has no file, so the Engine's ModelPath and ModelHash are empty.
	Loaded *model.Model
	// Options are the pipeline options. With Options.OnDevice and TileSet
	// false, Options.Tile becomes pipeline.DeviceTile.
	Options pipeline.Options
	// TileSet says that Options.Tile was chosen (a --tile flag, a job's
	// exact options) and is kept as it is.
	TileSet bool
	// Backend loads the model (and runs the networks when Runtime is nil);
	// nil with Loaded is the loaded model's backend.
	Backend compute.Backend
	// Runtime runs the networks, for example ONNX Runtime (see ort.Select);
	// nil is GoMLX on Backend.
	Runtime netrun.Runtime
}

// ReadAhead and WriteAhead are how many frames Run decodes ahead of the
// pipeline and queues for the encoder (video.Prefetch, video.Background):
// decoding and encoding overlap the computation, for at most that many
// extra frames in memory.
const (
	ReadAhead  = 4
	WriteAhead = 8
)

// NewEngine loads the model of s and prepares its pipeline: the one
// constructor of an Upscaler from a model file and options, used by pssr
// upscale, bench, serve, the cluster worker and training-time validation.
func NewEngine(s Setup) (*Engine, error) {
	if s.Options.OnDevice && !s.TileSet {
		s.Options.Tile = pipeline.DeviceTile
	}
	e := &Engine{Model: s.Loaded}
	if e.Model == nil {
		if s.Backend == nil {
			return nil, errors.New("upscale: a Setup with a model file needs a backend")
		}
		e.ModelPath = s.Model
		if e.ModelPath == "" {
			var err error
			if e.ModelPath, err = model.DefaultPathFor(s.Options.Scale); err != nil {
				return nil, err
			}
		}
		sum, err := checkpoint.HashFile(e.ModelPath)
		if err != nil {
			return nil, fmt.Errorf("model %q: %w", e.ModelPath, err)
		}
		e.ModelHash = sum
		if e.Model, err = model.Load(s.Backend, e.ModelPath); err != nil {
			return nil, err
		}
	}
	e.rt = s.Runtime
	if e.rt == nil {
		be := s.Backend
		if be == nil {
			be = e.Model.Backend
		}
		e.rt = netrun.GoMLX{Backend: be}
	}
	var err error
	if e.Upscaler, err = pipeline.NewWithRuntime(e.Model, s.Options, e.rt); err != nil {
		return nil, err
	}
	return e, nil
}

// Variant prepares another pipeline on the Engine's model and runtime with
// opt (other modes or fusion settings on the same loaded weights, as pssr
// bench and validation compare them). It shares the Engine's compiled
// networks (pipeline.Upscaler.WithOptions): run one of them at a time.
func (e *Engine) Variant(opt pipeline.Options) (*pipeline.Upscaler, error) {
	return e.Upscaler.WithOptions(opt)
}

// Runtime returns the runtime the Engine's networks run on.
func (e *Engine) Runtime() netrun.Runtime { return e.rt }

// Job is one upscale of In to Out.
type Job struct {
	// In is a video file or a folder of frames; Out the output path.
	In, Out string
	// Output sets the codec, quality, overwrite and logger of the output;
	// the size, frame rate, rotation and streams come from In.
	Output video.WriterOptions
	// Checkpoint keeps the finished windows next to Out so that an
	// interrupted run can be resumed; off, nothing but the output's own
	// temporary file is written.
	Checkpoint bool
	// Resume continues from the checkpoint of an interrupted run of the
	// same input, model and options, when there is one. Without it, a
	// checkpoint with finished windows is an error.
	Resume bool
	// CheckpointEvery is the least time between two checkpoint commits (0:
	// after every window).
	CheckpointEvery time.Duration
	// Info is In's probe, when the caller already has it.
	Info *video.Info
	// Log receives progress messages; nil means slog.Default().
	Log *slog.Logger
	// Progress, when set, is called after every output frame with the
	// frames done and the total.
	Progress func(done, total int)
}

// Result describes a finished job.
type Result struct {
	// Frames is the number of output frames.
	Frames int
	// Resumed is the number of frames taken from a checkpoint.
	Resumed int
}

// Key returns the checkpoint key of upscaling in with this engine and the
// output settings: the input's and model's hashes and the options that
// change the output.
func (e *Engine) Key(in string, out video.WriterOptions, info *video.Info) (checkpoint.Key, error) {
	sum, err := checkpoint.HashInput(in)
	if err != nil {
		return checkpoint.Key{}, fmt.Errorf("IN %q: %w", in, err)
	}
	opts := struct {
		Pipeline pipeline.Options `json:"pipeline"`
		Codec    video.Codec      `json:"codec"`
		CRF      int              `json:"crf"`
		Width    int              `json:"width"`
		Height   int              `json:"height"`
		Frames   int              `json:"frames"`
	}{e.Upscaler.Options(), out.Codec, out.CRF, info.Width, info.Height, info.Frames}
	data, err := json.Marshal(opts)
	if err != nil {
		return checkpoint.Key{}, err
	}
	return checkpoint.Key{Input: sum, Model: e.ModelHash, Options: data}, nil
}

// Run upscales j.In into j.Out. On an error or cancellation the output is
// not written, and with j.Checkpoint the finished windows stay in the
// checkpoint for a run with j.Resume.
func (e *Engine) Run(ctx context.Context, j Job) (res Result, err error) {
	log := j.Log
	if log == nil {
		log = slog.Default()
	}
	info := j.Info
	if info == nil {
		if info, err = video.Probe(ctx, j.In); err != nil {
			return res, fmt.Errorf("IN: %w", err)
		}
	}
	wo := OutputOptions(j.Output, j.Out, info, e.Upscaler.Options().Scale, log)
	if wo.Timestamps, err = OutputTiming(ctx, info, wo.Codec, log); err != nil {
		return res, err
	}

	var (
		ck    *checkpoint.Checkpoint
		state *tiling.State
	)
	if j.Checkpoint {
		key, kerr := e.Key(j.In, wo, info)
		if kerr != nil {
			return res, kerr
		}
		ck, state, err = checkpoint.Open(ctx, j.Out, key, checkpoint.Options{
			Resume: j.Resume, Every: j.CheckpointEvery, FramesTotal: info.Frames,
			Width: wo.Width, Height: wo.Height, FrameRate: info.FrameRate, SampleBits: wo.SampleBits(), Logger: log,
		})
		if err != nil {
			return res, err
		}
		defer func() {
			if err != nil {
				ck.Close()
			}
		}()
		removeStaleOutputs(j.Out, log)
	}

	w0, err := video.Create(ctx, j.Out, wo)
	if err != nil {
		return res, err
	}
	// Encoding overlaps the computation: the pipeline emits a window's
	// frames at once, and ffmpeg encodes them while the next window runs.
	w := video.Background(w0, WriteAhead)
	defer w.Abort()
	total := info.Frames
	n := 0
	put := func(f *frame.Image) error {
		if err := w.Write(f); err != nil {
			return err
		}
		n++
		if j.Progress != nil {
			j.Progress(n, max(total, n))
		}
		return nil
	}
	if state != nil {
		for _, seg := range ck.Segments() {
			if err := copyFrames(ctx, seg, put); err != nil {
				return res, fmt.Errorf("checkpoint segment: %w", err)
			}
		}
		if n != state.Emitted {
			return res, fmt.Errorf("checkpoint %s: %w: its segments hold %d frames, %d expected", ck.Dir(), checkpoint.ErrDamaged, n, state.Emitted)
		}
		res.Resumed = n
		log.Info("upscale: resuming", "out", j.Out, "frames_done", n, "window", state.Window)
	}
	r0, err := video.Open(ctx, j.In)
	if err != nil {
		return res, fmt.Errorf("IN: %w", err)
	}
	r := video.Prefetch(r0, ReadAhead)
	defer r.Close()
	emit := put
	var rs tiling.Resumable
	if ck != nil {
		emit = func(f *frame.Image) error {
			if err := put(f); err != nil {
				return err
			}
			return ck.Write(f)
		}
		rs = tiling.Resumable{From: state, AfterWindow: ck.Commit}
	}
	if err := e.Upscaler.RunResumable(ctx, r.Next, emit, rs); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return res, fmt.Errorf("after %d frames: %w", n, err)
	}
	if n == 0 {
		return res, fmt.Errorf("IN %q: %w", j.In, video.ErrNoFrames)
	}
	if err := w.Close(); err != nil {
		return res, err
	}
	res.Frames = n
	if ck != nil {
		if err := ck.Remove(); err != nil {
			log.Warn("upscale: the output is complete but its checkpoint could not be removed", "err", err)
		}
	}
	return res, nil
}

// OutputTiming returns the timestamps that the output of info keeps (for
// video.WriterOptions.Timestamps): those of a
// variable-rate video (video.ProbeTiming), nil for a constant-rate one,
// whose output is written at its exact rate, and for a frame folder. A PNG
// output has no timestamps: a variable rate is only warned about there.
// A variable-rate input whose timestamps do not match its frame count is
// refused rather than given another timing.
func OutputTiming(ctx context.Context, info *video.Info, codec video.Codec, log *slog.Logger) (*video.Timing, error) {
	if info.Folder {
		return nil, nil
	}
	tm, err := video.ProbeTiming(ctx, info)
	if err != nil {
		return nil, fmt.Errorf("IN: %w", err)
	}
	if !tm.VFR {
		return nil, nil
	}
	if codec == video.PNG {
		log.Warn("IN has a variable frame rate; PNG frames carry no timestamps, its timing is not kept", "in", info.Path)
		return nil, nil
	}
	if len(tm.PTS) != info.Frames {
		return nil, fmt.Errorf("IN %q: %w: it has a variable frame rate, but %d timestamped packets for %d frames, so its timing cannot be kept",
			info.Path, video.ErrUnsupported, len(tm.PTS), info.Frames)
	}
	log.Info("IN has a variable frame rate; the output keeps its timestamps", "in", info.Path, "frames", info.Frames)
	return tm, nil
}

// OutputOptions completes the output settings wo of upscaling the video
// described by info by scale into out: the codec (from out's name when
// unset), the size, frame rate, rotation, frame count and bit depth, and
// the input whose audio and subtitles are copied; log when wo has no logger.
func OutputOptions(wo video.WriterOptions, out string, info *video.Info, scale int, log *slog.Logger) video.WriterOptions {
	if wo.Codec == "" {
		wo.Codec = video.CodecForPath(out)
	}
	wo.Width, wo.Height = info.Width*scale, info.Height*scale
	wo.FrameRate, wo.Rotation = info.FrameRate, info.Rotation
	wo.Frames, wo.BitDepth = info.Frames, info.BitDepth
	wo.StreamsFrom = ""
	if !info.Folder {
		wo.StreamsFrom = info.Path
	}
	if wo.Logger == nil {
		wo.Logger = log
	}
	return wo
}

// copyFrames passes every frame of the video at path to put.
func copyFrames(ctx context.Context, path string, put func(*frame.Image) error) error {
	r, err := video.Open(ctx, path)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := put(f); err != nil {
			return err
		}
	}
}

// removeStaleOutputs removes the temporary outputs that a killed run on out
// left next to it (".NAME.tmp-*"). The caller holds out's checkpoint lock,
// so no live run writes them.
func removeStaleOutputs(out string, log *slog.Logger) {
	dir, base := filepath.Split(filepath.Clean(out))
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "."+base+".tmp-") {
			p := filepath.Join(dir, e.Name())
			if err := os.RemoveAll(p); err == nil {
				log.Info("upscale: removed the temporary output of an interrupted run", "path", p)
			}
		}
	}
}
