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
	"path/filepath"
	"sync"
	"time"

	"github.com/gomlx/compute"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pssr/pssr/checkpoint"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/tiling"
	"github.com/pssr/pssr/upscale"
)

// ErrModelMismatch means a job's model file does not have the SHA-256 the
// job names; the worker refuses the chunk.
var ErrModelMismatch = errors.New("the model's SHA-256 differs from the job's")

// WorkerOptions configure a Worker.
type WorkerOptions struct {
	// Name identifies the worker in chunk states and logs (default
	// HOST-PID).
	Name string
	// Concurrency is how many chunks the worker computes at once, each
	// with its own engine (default 1).
	Concurrency int
	// Backend, when set, is used instead of each job's backend spec (for
	// example "go:parallelism=1", or the path of this machine's XLA
	// plugin). Results are only bit-identical on backends that round alike.
	Backend string
	// NewBackend creates a backend from a spec (package backend's New).
	NewBackend func(spec string) (compute.Backend, error)
	// NewRuntime creates the runtime a job names (RuntimeORT, RuntimeORTInt8) over be; it
	// is called once per runtime name. Nil means the worker runs only
	// RuntimeGo jobs and hands other jobs' chunks back.
	NewRuntime func(name string, be compute.Backend) (netrun.Runtime, error)
	// CacheDir keeps the models the worker downloaded, by hash.
	CacheDir string
	// Logger receives the worker's log; nil means slog.Default().
	Logger *slog.Logger
}

// Worker pulls chunks from the stream and computes them. Create it with
// NewWorker and run it with Run.
type Worker struct {
	c   *Conn
	opt WorkerOptions
	log *slog.Logger

	mu       sync.Mutex
	backends map[string]compute.Backend
	runtimes map[string]netrun.Runtime
	models   map[string]string // model hash -> verified local file
}

// NewWorker returns a worker on c.
func NewWorker(c *Conn, opt WorkerOptions) (*Worker, error) {
	if opt.Concurrency < 1 {
		opt.Concurrency = 1
	}
	if opt.Name == "" {
		host, _ := os.Hostname()
		opt.Name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if opt.NewBackend == nil {
		return nil, errors.New("cluster: worker without a backend constructor")
	}
	if opt.CacheDir == "" {
		return nil, errors.New("cluster: worker without a model cache folder")
	}
	if err := os.MkdirAll(opt.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: model cache: %w", err)
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Worker{c: c, opt: opt, log: log.With("worker", opt.Name),
		backends: map[string]compute.Backend{}, runtimes: map[string]netrun.Runtime{}, models: map[string]string{}}, nil
}

// Name is the worker's name.
func (w *Worker) Name() string { return w.opt.Name }

// Run pulls and computes chunks until ctx is done; a chunk in progress
// then is handed back (nak) for another worker. It returns nil after ctx
// is done.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info("cluster: worker started", "concurrency", w.opt.Concurrency, "ack_wait", w.c.ackWait)
	var wg sync.WaitGroup
	for i := 0; i < w.opt.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx)
		}()
	}
	wg.Wait()
	w.mu.Lock()
	for _, be := range w.backends {
		be.Finalize()
	}
	w.backends = map[string]compute.Backend{}
	w.mu.Unlock()
	w.log.Info("cluster: worker stopped")
	return nil
}

// loop is one of the worker's pullers, with its own engines.
func (w *Worker) loop(ctx context.Context) {
	engines := map[string]*upscale.Engine{}
	for ctx.Err() == nil {
		batch, err := w.c.consumer.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() == nil {
				w.log.Debug("cluster: fetch", "err", err)
				sleep(ctx, 250*time.Millisecond)
			}
			continue
		}
		for msg := range batch.Messages() {
			w.handle(ctx, msg, engines)
		}
		if err := batch.Error(); err != nil && ctx.Err() == nil {
			w.log.Debug("cluster: fetch", "err", err)
			sleep(ctx, 250*time.Millisecond)
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// status writes chunk n of job id's state.
func (w *Worker) status(ctx context.Context, id string, n int, st ChunkStatus) error {
	st.Worker, st.Updated = w.opt.Name, time.Now().UTC()
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = w.c.chunks.Put(ctx, chunkKey(id, n), data)
	return err
}

// handle computes one chunk message and acks it once its frames are
// uploaded and its state is done.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg, engines map[string]*upscale.Engine) {
	var m chunkMsg
	if err := json.Unmarshal(msg.Data(), &m); err != nil {
		w.log.Error("cluster: a chunk message that is not JSON: dropped", "subject", msg.Subject(), "err", err)
		msg.TermWithReason("not a chunk message")
		return
	}
	attempt := 0
	if md, err := msg.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	id, n := m.Spec.ID, m.Chunk
	log := w.log.With("job", id, "chunk", n, "attempt", attempt)
	if _, err := w.c.files.GetInfo(ctx, outputObject(id, n)); err == nil {
		// Done before (by a worker that died before its ack, or a second
		// publication): nothing to compute.
		if err := w.status(ctx, id, n, ChunkStatus{State: StateDone, Attempt: attempt}); err != nil {
			log.Warn("cluster: chunk state", "err", err)
			msg.NakWithDelay(time.Second)
			return
		}
		msg.DoubleAck(ctx)
		log.Info("cluster: chunk already done, acked")
		return
	}
	if err := w.status(ctx, id, n, ChunkStatus{State: StateRunning, Attempt: attempt}); err != nil {
		log.Warn("cluster: chunk state", "err", err)
	}
	log.Info("cluster: chunk started")
	start := time.Now()

	// Tell the server the chunk is alive while it is computed.
	hbCtx, stopHB := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		t := time.NewTicker(max(w.c.ackWait/3, 50*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					log.Debug("cluster: in-progress ack", "err", err)
				}
			}
		}
	}()
	frames, err := w.compute(ctx, m, engines)
	uploaded := err == nil
	if err == nil {
		err = w.status(ctx, id, n, ChunkStatus{State: StateDone, Attempt: attempt})
	}
	stopHB()
	<-hbDone
	switch {
	case uploaded && err != nil:
		// The frames are in the store; a redelivery finds them and only
		// records the state.
		log.Warn("cluster: chunk computed, its state not recorded; handed back", "frames", frames, "err", err)
		msg.NakWithDelay(time.Second)
	case errors.Is(err, ErrModelMismatch):
		log.Error("cluster: chunk refused", "err", err)
		w.status(context.WithoutCancel(ctx), id, n, ChunkStatus{State: StateFailed, Attempt: attempt, Error: err.Error()})
		msg.TermWithReason("model hash mismatch")
	case err != nil && ctx.Err() != nil:
		log.Info("cluster: stopping: chunk handed back", "err", err)
		msg.Nak()
	case err != nil:
		log.Warn("cluster: chunk failed, handed back", "err", err)
		msg.NakWithDelay(time.Second)
	default:
		if err := msg.DoubleAck(ctx); err != nil {
			// The frames are uploaded: a redelivery finds them.
			log.Warn("cluster: ack", "err", err)
		}
		log.Info("cluster: chunk done", "frames", frames, "seconds", time.Since(start).Seconds())
	}
}

// compute runs chunk m and uploads its frames; it returns the number of
// finished frames.
func (w *Worker) compute(ctx context.Context, m chunkMsg, engines map[string]*upscale.Engine) (int, error) {
	s := m.Spec
	spans, chunks, err := s.Chunks()
	if err != nil {
		return 0, err
	}
	if m.Chunk < 0 || m.Chunk >= len(chunks) {
		return 0, fmt.Errorf("chunk %d of %d", m.Chunk, len(chunks))
	}
	ch := chunks[m.Chunk]
	e, err := w.engine(ctx, s, engines)
	if err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(w.opt.CacheDir, "chunk-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	rw, err := newRecordWriter(tmp)
	if err != nil {
		return 0, err
	}
	t := ch.Frames.Start
	next := func() (*frame.Image, error) {
		if t >= ch.Frames.End {
			return nil, io.EOF
		}
		data, err := w.c.files.GetBytes(ctx, inputObject(s.ID, t))
		if err != nil {
			return nil, fmt.Errorf("input frame %d: %w", t, err)
		}
		rr, err := newRecordReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("input frame %d: %w", t, err)
		}
		rec, err := rr.next()
		if err != nil {
			return nil, fmt.Errorf("input frame %d: %w", t, err)
		}
		t++
		return rec.img, nil
	}
	finished := 0
	err = tiling.ProcessWindows(ctx, spans, ch.First, ch.Last, next, e.Upscaler.UpscaleClip, s.Options.Scale,
		func(i int, f *frame.Image) error {
			finished++
			return rw.write(kindFrame, i, -1, f)
		},
		func(p tiling.Part) error { return rw.write(kindPart, p.Frame, p.Window, p.Image) })
	if err != nil {
		return 0, err
	}
	if err := rw.flush(); err != nil {
		return 0, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if _, err := w.c.files.Put(ctx, jetstream.ObjectMeta{Name: outputObject(s.ID, m.Chunk)}, tmp); err != nil {
		return 0, fmt.Errorf("uploading the frames: %w", err)
	}
	return finished, nil
}

// engine returns the puller's engine for s, loading the model (downloaded
// and checked against s.ModelHash) on the job's backend the first time.
func (w *Worker) engine(ctx context.Context, s Spec, engines map[string]*upscale.Engine) (*upscale.Engine, error) {
	opts, err := json.Marshal(s.Options)
	if err != nil {
		return nil, err
	}
	key := s.ModelHash + "|" + s.Backend + "|" + s.Runtime + "|" + string(opts)
	if e, ok := engines[key]; ok {
		return e, nil
	}
	path, err := w.model(ctx, s.ModelHash)
	if err != nil {
		return nil, err
	}
	be, err := w.backend(s.Backend)
	if err != nil {
		return nil, err
	}
	rt, err := w.runtime(s.Runtime, be)
	if err != nil {
		return nil, err
	}
	e, err := upscale.NewEngine(upscale.Setup{Model: path, Options: s.Options, TileSet: true, Backend: be, Runtime: rt})
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if e.ModelHash != s.ModelHash {
		return nil, fmt.Errorf("%w: %s is %s, the job wants %s", ErrModelMismatch, path, e.ModelHash, s.ModelHash)
	}
	engines[key] = e
	return e, nil
}

// backend returns the process's backend for spec (or WorkerOptions.Backend).
func (w *Worker) backend(spec string) (compute.Backend, error) {
	if w.opt.Backend != "" {
		spec = w.opt.Backend
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if be, ok := w.backends[spec]; ok {
		return be, nil
	}
	be, err := w.opt.NewBackend(spec)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", spec, err)
	}
	w.backends[spec] = be
	return be, nil
}

// runtime returns the process's runtime name over be: nil (GoMLX on be)
// for RuntimeGo, else the one NewRuntime made.
func (w *Worker) runtime(name string, be compute.Backend) (netrun.Runtime, error) {
	if name == "" || name == RuntimeGo {
		return nil, nil
	}
	if w.opt.NewRuntime == nil {
		return nil, fmt.Errorf("runtime %q: this worker runs only %q", name, RuntimeGo)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if rt, ok := w.runtimes[name]; ok {
		return rt, nil
	}
	rt, err := w.opt.NewRuntime(name, be)
	if err != nil {
		return nil, fmt.Errorf("runtime %q: %w", name, err)
	}
	if rt.Name() != name {
		return nil, fmt.Errorf("runtime %q: got %q", name, rt.Name())
	}
	w.runtimes[name] = rt
	return rt, nil
}

// model returns a local file of the model with SHA-256 hash: the cached
// copy, or one downloaded from the object store. A file whose hash differs
// is refused (ErrModelMismatch) and not kept.
func (w *Worker) model(ctx context.Context, hash string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.models[hash]; ok {
		return p, nil
	}
	path := filepath.Join(w.opt.CacheDir, hash+".safetensors")
	if got, err := checkpoint.HashFile(path); err == nil && got == hash {
		w.models[hash] = path
		return path, nil
	}
	tmp, err := os.CreateTemp(w.opt.CacheDir, ".model-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	err = w.c.files.GetFile(ctx, modelObject(hash), tmp.Name())
	tmp.Close()
	if err != nil {
		return "", fmt.Errorf("downloading model %s: %w", hash, err)
	}
	got, err := checkpoint.HashFile(tmp.Name())
	if err != nil {
		return "", err
	}
	if got != hash {
		return "", fmt.Errorf("%w: the stored model/%s has SHA-256 %s", ErrModelMismatch, hash, got)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	w.log.Info("cluster: model downloaded", "sha256", hash, "path", path)
	w.models[hash] = path
	return path, nil
}
