package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pssr/pssr/checkpoint"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/tiling"
	"github.com/pssr/pssr/upscale"
	"github.com/pssr/pssr/video"
)

// CoordinatorOptions configure a Coordinator.
type CoordinatorOptions struct {
	// Backend is the backend spec the workers run (default "go").
	Backend string
	// Runtime is the runtime the workers run the networks on: RuntimeGo
	// (GoMLX on Backend, the default), RuntimeORT (ONNX Runtime) or
	// RuntimeORTInt8 (ONNX Runtime, int8 dense products). It is
	// a concrete choice, never "auto": every worker must run the same one
	// for the output to be bit-exact.
	Runtime string
	// WindowsPerChunk is the number of temporal windows in a chunk
	// (default 4).
	WindowsPerChunk int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Coordinator runs jobs on the workers. Its methods are safe for
// concurrent use.
type Coordinator struct {
	c   *Conn
	opt CoordinatorOptions
	log *slog.Logger

	mu    sync.Mutex
	views map[string]*jobView // by Job.Tag
}

// jobView is what Chunks shows of a running job.
type jobView struct {
	chunks []ChunkView
}

// ChunkView is a chunk as `pssr serve` shows it.
type ChunkView struct {
	// Index is the chunk's number.
	Index int `json:"index"`
	// Start and End are the input frames [Start, End) it reads.
	Start int `json:"start"`
	End   int `json:"end"`
	// State is queued, running, done or failed.
	State string `json:"state"`
	// Worker holds or finished the chunk.
	Worker string `json:"worker,omitempty"`
	// Attempt is the delivery the worker computes.
	Attempt int `json:"attempt,omitempty"`
}

// NewCoordinator returns a coordinator on c (as Setup returned it).
func NewCoordinator(c *Conn, opt CoordinatorOptions) *Coordinator {
	if opt.Backend == "" {
		opt.Backend = "go"
	}
	if opt.WindowsPerChunk < 1 {
		opt.WindowsPerChunk = 4
	}
	if opt.Runtime == "" {
		opt.Runtime = RuntimeGo
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Coordinator{c: c, opt: opt, log: opt.Logger, views: map[string]*jobView{}}
}

// Job is one distributed upscale of In to Out.
type Job struct {
	// Tag names the job for Chunks (serve's job ID).
	Tag string
	// In is the input video or frame folder, Out the output path.
	In, Out string
	// Info is In's probe, when the caller has it.
	Info *video.Info
	// Output sets the codec and quality of the output (as upscale.Job's).
	Output video.WriterOptions
	// ModelPath is the model file; the workers receive it through the
	// object store.
	ModelPath string
	// Options are the pipeline options.
	Options pipeline.Options
	// Progress, when set, is called with the frames of finished chunks and
	// the total.
	Progress func(done, total int)
}

// Result describes a finished distributed job.
type Result struct {
	// ID is the cluster job's ID.
	ID string
	// Frames is the number of output frames.
	Frames int
	// Chunks is the number of chunks, Published how many of them this run
	// published (the others were done or queued already).
	Chunks, Published int
}

// Chunks returns the chunks of the running job tagged tag (nil when there
// is none).
func (co *Coordinator) Chunks(tag string) []ChunkView {
	co.mu.Lock()
	defer co.mu.Unlock()
	v := co.views[tag]
	if v == nil {
		return nil
	}
	return append([]ChunkView(nil), v.chunks...)
}

// RuntimeName is the runtime the workers run the networks on ("go", "ort"
// or "ort-int8").
func (co *Coordinator) RuntimeName() string { return co.opt.Runtime }

// Run upscales j.In into j.Out on the workers and returns once the output
// is written. The job's state is kept in JetStream: when Run is
// interrupted (ctx done, or the process killed), running it again with
// the same input, model and options continues the same job.
func (co *Coordinator) Run(ctx context.Context, j Job) (res Result, err error) {
	info := j.Info
	if info == nil {
		if info, err = video.Probe(ctx, j.In); err != nil {
			return res, fmt.Errorf("cluster: IN: %w", err)
		}
	}
	log := co.log.With("tag", j.Tag)
	if co.opt.Runtime != RuntimeGo && co.opt.Runtime != RuntimeORT && co.opt.Runtime != RuntimeORTInt8 {
		return res, fmt.Errorf("cluster: runtime %q: want %q, %q or %q", co.opt.Runtime, RuntimeGo, RuntimeORT, RuntimeORTInt8)
	}
	// The output's settings and timestamps (of a variable-rate input) are
	// settled before any work, so a timing that cannot be kept fails now.
	wo := upscale.OutputOptions(j.Output, j.Out, info, j.Options.Scale, log)
	if wo.Timestamps, err = upscale.OutputTiming(ctx, info, wo.Codec, log); err != nil {
		return res, fmt.Errorf("cluster: %w", err)
	}
	spec := Spec{Options: j.Options, Backend: co.opt.Backend, Runtime: co.opt.Runtime, WindowsPerChunk: co.opt.WindowsPerChunk}
	spec.Options.OnComputed = nil
	if err := spec.Options.Validate(); err != nil {
		return res, fmt.Errorf("cluster: %w", err)
	}
	if spec.InputHash, err = checkpoint.HashInput(j.In); err != nil {
		return res, fmt.Errorf("cluster: IN: %w", err)
	}
	if spec.ModelHash, err = checkpoint.HashFile(j.ModelPath); err != nil {
		return res, fmt.Errorf("cluster: model: %w", err)
	}
	if spec.ID, err = spec.jobID(); err != nil {
		return res, err
	}
	res.ID = spec.ID
	log = log.With("job", spec.ID)
	if err := co.putModel(ctx, j.ModelPath, spec.ModelHash); err != nil {
		return res, err
	}
	if err := co.input(ctx, &spec, j.In, log); err != nil {
		return res, err
	}
	spans, chunks, err := spec.Chunks()
	if err != nil {
		return res, fmt.Errorf("cluster: %w", err)
	}
	res.Chunks = len(chunks)

	view := &jobView{chunks: make([]ChunkView, len(chunks))}
	for i, c := range chunks {
		view.chunks[i] = ChunkView{Index: i, Start: c.Frames.Start, End: c.Frames.End, State: StateQueued}
	}
	if j.Tag != "" {
		co.mu.Lock()
		co.views[j.Tag] = view
		co.mu.Unlock()
		defer func() {
			co.mu.Lock()
			delete(co.views, j.Tag)
			co.mu.Unlock()
		}()
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	wt, err := co.c.chunks.Watch(watchCtx, spec.ID+".*")
	if err != nil {
		return res, fmt.Errorf("cluster: watching the chunk states: %w", err)
	}
	defer wt.Stop()
	states := make([]ChunkStatus, len(chunks))
	update := func(e jetstream.KeyValueEntry) {
		var n int
		if _, err := fmt.Sscanf(e.Key()[len(spec.ID)+1:], "%d", &n); err != nil || n < 0 || n >= len(chunks) {
			return
		}
		var st ChunkStatus
		if json.Unmarshal(e.Value(), &st) != nil {
			return
		}
		states[n] = st
		co.mu.Lock()
		view.chunks[n].State, view.chunks[n].Worker, view.chunks[n].Attempt = st.State, st.Worker, st.Attempt
		co.mu.Unlock()
	}
	// The current states first; a nil entry ends them.
	for initial := true; initial; {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case e, ok := <-wt.Updates():
			if !ok {
				return res, errors.New("cluster: the chunk state watch ended")
			}
			if e == nil {
				initial = false
			} else {
				update(e)
			}
		}
	}
	body := func(n int) ([]byte, error) { return json.Marshal(chunkMsg{Spec: spec, Chunk: n}) }
	for i := range chunks {
		if states[i].State == StateDone {
			continue
		}
		if _, err := co.c.stream.GetLastMsgForSubject(ctx, subject(spec.ID, i)); err == nil {
			continue // queued or held by a worker
		} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return res, fmt.Errorf("cluster: looking up chunk %d: %w", i, err)
		}
		data, err := body(i)
		if err != nil {
			return res, err
		}
		ack, err := co.c.JS.PublishMsg(ctx, &nats.Msg{Subject: subject(spec.ID, i), Data: data}, jetstream.WithMsgID(chunkKey(spec.ID, i)))
		if err != nil {
			return res, fmt.Errorf("cluster: publishing chunk %d: %w", i, err)
		}
		if !ack.Duplicate {
			res.Published++
		}
	}
	log.Info("cluster: job running", "frames", spec.Frames, "windows", len(spans), "chunks", len(chunks), "published", res.Published)

	// Wait for every chunk.
	owned := func(i int) int { // frames chunk i finishes first
		end := spec.Frames
		if i+1 < len(chunks) {
			end = chunks[i+1].Frames.Start
		}
		return end - chunks[i].Frames.Start
	}
	for {
		done := 0
		for i, st := range states {
			if st.State == StateFailed {
				return res, fmt.Errorf("cluster: chunk %d failed on worker %s: %s", i, st.Worker, st.Error)
			}
			if st.State == StateDone {
				done += owned(i)
			}
		}
		if j.Progress != nil {
			j.Progress(min(done, spec.Frames), spec.Frames)
		}
		if done == spec.Frames {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case e, ok := <-wt.Updates():
			if !ok {
				return res, errors.New("cluster: the chunk state watch ended")
			}
			if e != nil {
				update(e)
			}
		}
	}
	stopWatch()
	log.Info("cluster: every chunk is done; assembling the output")
	n, err := co.assemble(ctx, spec, spans, chunks, j.Out, wo, log)
	if err != nil {
		return res, err
	}
	res.Frames = n
	return res, nil
}

// putModel uploads the model file unless the store has it.
func (co *Coordinator) putModel(ctx context.Context, path, hash string) error {
	if _, err := co.c.files.GetInfo(ctx, modelObject(hash)); err == nil {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cluster: model: %w", err)
	}
	defer f.Close()
	if _, err := co.c.files.Put(ctx, jetstream.ObjectMeta{Name: modelObject(hash)}, f); err != nil {
		return fmt.Errorf("cluster: uploading the model: %w", err)
	}
	return nil
}

// input makes sure every input frame of the job is in the object store,
// decoding and uploading them unless an earlier run did, and completes s
// with the frame count and size.
func (co *Coordinator) input(ctx context.Context, s *Spec, in string, log *slog.Logger) error {
	if e, err := co.c.jobs.Get(ctx, s.ID); err == nil {
		var stored Spec
		if json.Unmarshal(e.Value(), &stored) == nil && stored.InputReady && stored.ID == s.ID {
			*s = stored
			log.Info("cluster: job found in the store", "frames", s.Frames)
			return nil
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("cluster: job %s: %w", s.ID, err)
	}
	r, err := video.Open(ctx, in)
	if err != nil {
		return fmt.Errorf("cluster: IN: %w", err)
	}
	defer r.Close()
	var buf bytes.Buffer
	for t := 0; ; t++ {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			s.Frames = t
			break
		}
		if err != nil {
			return fmt.Errorf("cluster: IN: frame %d: %w", t, err)
		}
		if t == 0 {
			s.Width, s.Height = f.W, f.H
		}
		buf.Reset()
		rw, err := newRecordWriter(&buf)
		if err == nil {
			err = rw.write(kindFrame, t, -1, f)
		}
		if err == nil {
			err = rw.flush()
		}
		if err == nil {
			_, err = co.c.files.PutBytes(ctx, inputObject(s.ID, t), buf.Bytes())
		}
		if err != nil {
			return fmt.Errorf("cluster: uploading input frame %d: %w", t, err)
		}
	}
	if s.Frames == 0 {
		return fmt.Errorf("cluster: IN %q: %w", in, video.ErrNoFrames)
	}
	s.InputReady = true
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := co.c.jobs.Put(ctx, s.ID, data); err != nil {
		return fmt.Errorf("cluster: storing job %s: %w", s.ID, err)
	}
	log.Info("cluster: input uploaded", "frames", s.Frames)
	return nil
}

// assemble writes the output from the chunks' frames: finished frames as
// they are, shared frames cross-faded from their parts (tiling.Blend), in
// frame order, through the atomic writer (options wo: the input's audio,
// subtitles and, for a variable-rate input, timestamps) into out.
func (co *Coordinator) assemble(ctx context.Context, s Spec, spans []tiling.Span, chunks []Chunk, out string, wo video.WriterOptions, log *slog.Logger) (int, error) {
	w, err := video.Create(ctx, out, wo)
	if err != nil {
		return 0, fmt.Errorf("cluster: %w", err)
	}
	defer w.Abort()
	ready := map[int]*frame.Image{}
	parts := map[int][]tiling.Part{}
	next := 0
	for _, c := range chunks {
		obj, err := co.c.files.Get(ctx, outputObject(s.ID, c.Index))
		if err != nil {
			return 0, fmt.Errorf("cluster: the frames of chunk %d: %w", c.Index, err)
		}
		err = func() error {
			defer obj.Close()
			rr, err := newRecordReader(obj)
			if err != nil {
				return err
			}
			for {
				rec, err := rr.next()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				if rec.t < next || rec.t >= s.Frames || ready[rec.t] != nil {
					return fmt.Errorf("frame %d out of place", rec.t)
				}
				switch rec.kind {
				case kindFrame:
					ready[rec.t] = rec.img
				case kindPart:
					parts[rec.t] = append(parts[rec.t], tiling.Part{Frame: rec.t, Window: rec.win, Image: rec.img})
					if first, last := tiling.Covering(spans, rec.t); len(parts[rec.t]) == last-first {
						ps := parts[rec.t]
						sort.Slice(ps, func(a, b int) bool { return ps[a].Window < ps[b].Window })
						f, err := tiling.Blend(spans, rec.t, ps)
						if err != nil {
							return err
						}
						ready[rec.t] = f
						delete(parts, rec.t)
					}
				}
				for ready[next] != nil {
					if err := w.Write(ready[next]); err != nil {
						return err
					}
					delete(ready, next)
					next++
				}
			}
		}()
		if err != nil {
			return 0, fmt.Errorf("cluster: the frames of chunk %d: %w", c.Index, err)
		}
	}
	if next != s.Frames {
		return 0, fmt.Errorf("cluster: the chunks hold %d of %d frames", next, s.Frames)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("cluster: %w", err)
	}
	log.Info("cluster: output written", "out", out, "frames", next)
	return next, nil
}
