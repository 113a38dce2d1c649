// Package serve is `pssr serve`: an HTTP service (REST API under /v1, with
// progress as server-sent events) and an embedded web page over durable
// upscale jobs (package jobs), each run by package upscale with a checkpoint
// so that a restart resumes it from its last finished window.
//
// Routes:
//
//	POST   /v1/jobs              submit (multipart: file or path, and upscale options) -> 201 {"id": ...}
//	GET    /v1/jobs              list  -> {"jobs": [...]}
//	GET    /v1/jobs/{id}         one job: state, frames_done, frames_total, fps, eta_s, error, ...
//	GET    /v1/jobs/{id}/events  server-sent events, one "job" event per change, until the job ends
//	GET    /v1/jobs/{id}/result  the upscaled video (once done)
//	GET    /v1/jobs/{id}/preview?which=before|after&frame=N  one frame as PNG (the page's slider)
//	DELETE /v1/jobs/{id}         cancel and delete
//	GET    /                     the web page
//
// Errors are JSON {"error": "..."} with the matching status code. With a
// token every /v1 request needs "Authorization: Bearer TOKEN"; the page's
// static files hold no data and are served without it (the page asks for
// the token and sends it with its API calls).
package serve

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/pssr/pssr/checkpoint"
	"github.com/pssr/pssr/cluster"
	"github.com/pssr/pssr/jobs"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/upscale"
	"github.com/pssr/pssr/video"
)

//go:embed web
var webFiles embed.FS

// Options configure a Server.
type Options struct {
	// Data is the folder of the database, the jobs' files and temporary
	// uploads.
	Data string
	// Token, when set, is the bearer token every API request needs.
	Token string
	// Workers is how many jobs run at once.
	Workers int
	// Model is the model file; "" picks the default model for each job's
	// scale (model.DefaultPathFor).
	Model string
	// Backend runs the networks.
	Backend compute.Backend
	// Runtime, when set, runs the networks instead of Backend (for example
	// ONNX Runtime, see ort.Select); Backend still loads the model.
	Runtime netrun.Runtime
	// Defaults are the pipeline options of a job that sets none (with the
	// backend's device-ops choice).
	Defaults pipeline.Options
	// MaxUpload is the largest request body in bytes.
	MaxUpload int64
	// MaxSide is the largest input frame side in pixels (0: no limit).
	MaxSide int
	// MaxDuration is the longest input (0: no limit).
	MaxDuration time.Duration
	// MaxFrames is the most input frames (0: no limit).
	MaxFrames int
	// MaxMemory is the memory budget in bytes of the jobs that run in this
	// process, shared by the Workers jobs that may run at once (0: no
	// budget): a job's windows, then tiles, shrink to fit its share
	// (pipeline.FitMemory on the runtime's memory model) unless the job
	// set them. Cluster jobs are fitted to the same share, on the
	// assumption that each worker has that much memory for its job.
	MaxMemory int64
	// AllowRoots are the folders whose files may be submitted by path=
	// (none: path= is refused).
	AllowRoots []string
	// CheckpointEvery is the least time between two checkpoint commits of
	// a job (0: after every window).
	CheckpointEvery time.Duration
	// Cluster, when set, runs every job on the workers of a NATS
	// JetStream cluster (pssr serve --nats) instead of in this process.
	Cluster *cluster.Coordinator
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Server is the service. Create it with New and run it with Serve.
type Server struct {
	opt     Options
	log     *slog.Logger
	jobs    *jobs.Manager
	roots   []string
	closing chan struct{}
	mux     *http.ServeMux
}

// New opens the job database under opt.Data (creating the folder), removes
// the temporary uploads of an earlier run, and starts the workers; jobs that
// were running when the server stopped resume.
func New(opt Options) (*Server, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Workers < 1 {
		opt.Workers = 1
	}
	if opt.ShutdownTimeout <= 0 {
		opt.ShutdownTimeout = 30 * time.Second
	}
	if opt.Data == "" {
		return nil, errors.New("serve: --data is empty")
	}
	s := &Server{opt: opt, log: opt.Logger, closing: make(chan struct{})}
	for _, r := range opt.AllowRoots {
		abs, err := filepath.Abs(r)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("serve: --allow-root %q: %w", r, err)
		}
		s.roots = append(s.roots, abs)
	}
	for _, d := range []string{opt.Data, s.jobsDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("serve: --data: %w", err)
		}
	}
	if ents, err := os.ReadDir(s.tmpDir()); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(s.tmpDir(), e.Name()))
		}
	}
	m, err := jobs.Open(filepath.Join(opt.Data, "pssr.db"), jobs.Options{
		Workers: opt.Workers, Work: s.work, Logger: s.log,
		OnDelete: func(j jobs.Job) {
			if err := os.RemoveAll(s.jobDir(j.ID)); err != nil {
				s.log.Warn("serve: cannot remove a deleted job's files", "job", j.ID, "err", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	s.jobs = m
	s.routes()
	return s, nil
}

func (s *Server) jobsDir() string         { return filepath.Join(s.opt.Data, "jobs") }
func (s *Server) tmpDir() string          { return filepath.Join(s.opt.Data, "tmp") }
func (s *Server) jobDir(id string) string { return filepath.Join(s.jobsDir(), id) }

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s }

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully: it stops accepting requests, ends event streams, lets running
// requests finish, stops the running jobs so that they resume on the next
// start, and closes the database. It returns nil after a graceful shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("serve: shutting down")
	close(s.closing)
	sctx, cancel := context.WithTimeout(context.Background(), s.opt.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		s.log.Warn("serve: requests still open at shutdown", "err", err)
		hs.Close()
	}
	if err := s.jobs.Shutdown(sctx); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	s.log.Info("serve: stopped; unfinished jobs resume on the next start")
	return nil
}

// routes registers the handlers.
func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", s.handleSubmit)
	mux.HandleFunc("GET /v1/jobs", s.handleList)
	mux.HandleFunc("GET /v1/jobs/{id}", s.withJob(s.handleGet))
	mux.HandleFunc("GET /v1/jobs/{id}/events", s.withJob(s.handleEvents))
	mux.HandleFunc("GET /v1/jobs/{id}/result", s.withJob(s.handleResult))
	mux.HandleFunc("GET /v1/jobs/{id}/preview", s.withJob(s.handlePreview))
	mux.HandleFunc("DELETE /v1/jobs/{id}", s.withJob(s.handleDelete))
	static, _ := fs.Sub(webFiles, "web")
	mux.Handle("GET /{$}", http.FileServerFS(static))
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux = mux
}

// ServeHTTP checks the token for the API and answers unknown routes with
// JSON errors.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api := r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/")
	if api && s.opt.Token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.opt.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pssr"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong token: send \"Authorization: Bearer TOKEN\" with the token pssr serve was started with")
			return
		}
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			r2 := r.Clone(r.Context())
			r2.Method = m
			if _, p := s.mux.Handler(r2); p != "" && m != r.Method {
				writeError(w, http.StatusMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path)
				return
			}
		}
		writeError(w, http.StatusNotFound, "no route %s %s (see GET / or the README for the API)", r.Method, r.URL.Path)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// writeError answers with a JSON error.
func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// jobView is a job as the API shows it.
type jobView struct {
	jobs.Job
	Options Settings `json:"options"`
	Result  string   `json:"result,omitempty"`
	// Chunks are a distributed job's chunks while it runs: frames, state
	// and the worker that holds each.
	Chunks []cluster.ChunkView `json:"chunks,omitempty"`
}

// view returns the API view of j (without the server's paths).
func (s *Server) view(j jobs.Job) jobView {
	p, _ := decodeParams(j.Params, s.opt.Defaults)
	v := jobView{Job: j, Options: p.Settings}
	v.Params = nil
	if j.State == jobs.Done {
		v.Result = "/v1/jobs/" + j.ID + "/result"
	}
	if s.opt.Cluster != nil && j.State == jobs.Running {
		v.Chunks = s.opt.Cluster.Chunks(j.ID)
	}
	return v
}

// withJob resolves the {id} of the route, answering 404 for an unknown one.
func (s *Server) withJob(h func(http.ResponseWriter, *http.Request, jobs.Job)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !jobs.ValidID(id) {
			writeError(w, http.StatusNotFound, "no job %q (IDs are 16 hex digits)", id)
			return
		}
		j, err := s.jobs.Get(id)
		if err != nil {
			writeError(w, http.StatusNotFound, "no job %q", id)
			return
		}
		h(w, r, j)
	}
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	list := s.jobs.List()
	out := make([]jobView, len(list))
	for i, j := range list {
		out[i] = s.view(j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": out})
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, j jobs.Job) {
	writeJSON(w, http.StatusOK, s.view(j))
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, j jobs.Job) {
	final, err := s.jobs.Delete(j.ID)
	if errors.Is(err, jobs.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no job %q", j.ID)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "deleting job %s: %v", j.ID, err)
		return
	}
	writeJSON(w, http.StatusOK, s.view(final))
}

// handleEvents streams the job as server-sent events: a "job" event with
// its JSON now and after every change (at most ten a second), until it
// ends; a "deleted" event if it is deleted.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, j jobs.Job) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	ch, stop := s.jobs.Subscribe(j.ID)
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return err
		}
		fl.Flush()
		return nil
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		cur, err := s.jobs.Get(j.ID)
		if err != nil {
			send("deleted", map[string]string{"id": j.ID})
			return
		}
		if send("job", s.view(cur)) != nil || cur.State.Terminal() {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			fl.Flush()
		case <-ch:
			time.Sleep(100 * time.Millisecond) // coalesce bursts of frames
		}
	}
}

// resultPath is where job id's result goes.
func (s *Server) resultPath(id string, p params) string {
	return filepath.Join(s.jobDir(id), "result"+resultExt(p.Settings.Codec))
}

func (s *Server) handleResult(w http.ResponseWriter, r *http.Request, j jobs.Job) {
	if j.State != jobs.Done {
		writeError(w, http.StatusConflict, "job %s is %s: its result is ready once it is done", j.ID, j.State)
		return
	}
	p, _ := decodeParams(j.Params, s.opt.Defaults)
	path := s.resultPath(j.ID, p)
	f, err := os.Open(path)
	if err != nil {
		writeError(w, http.StatusGone, "job %s: its result is missing: %v", j.ID, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "job %s: %v", j.ID, err)
		return
	}
	name := fmt.Sprintf("%s-x%d%s", displayStem(j.Name), p.Settings.Scale, resultExt(p.Settings.Codec))
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	http.ServeContent(w, r, name, st.ModTime(), f)
}

// displayStem returns a file name's stem reduced to safe characters, for
// download names.
func displayStem(name string) string {
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	b := []rune{}
	for _, c := range stem {
		if c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	if len(b) == 0 || len(b) > 100 {
		return "video"
	}
	return string(b)
}

// work runs one job (the jobs.WorkFunc): it resolves its options, loads the
// model, checks the input against the limits and upscales it with a
// checkpoint, resuming an earlier run's.
func (s *Server) work(ctx context.Context, j jobs.Job, report jobs.Progress) error {
	p, err := decodeParams(j.Params, s.opt.Defaults)
	if err != nil {
		return fmt.Errorf("job options: %w", err)
	}
	opt, err := p.Settings.pipeline(s.opt.Defaults)
	if err != nil {
		return err
	}
	out := s.resultPath(j.ID, p)
	if s.opt.Cluster != nil {
		return s.workCluster(ctx, j, p, opt, out, report)
	}
	_, errOut := os.Stat(out)
	_, errCk := os.Stat(checkpoint.DirFor(out))
	if errOut == nil && errCk != nil {
		return nil // finished just before a crash
	}
	info, err := video.Probe(ctx, p.Input)
	if err != nil {
		return fmt.Errorf("the input is not a video pssr can read: %w", err)
	}
	if err := s.checkLimits(info); err != nil {
		return err
	}
	report(0, info.Frames)
	if opt, err = s.fitMemory(opt, p.Settings, info, s.opt.Model, s.runtimeName()); err != nil {
		return err
	}
	e, err := upscale.NewEngine(upscale.Setup{Model: s.opt.Model, Options: opt, TileSet: true, Backend: s.opt.Backend, Runtime: s.opt.Runtime})
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	log := s.log.With("job", j.ID)
	_, err = e.Run(ctx, upscale.Job{
		In: p.Input, Out: out, Info: info,
		Output:     video.WriterOptions{Codec: video.Codec(p.Settings.Codec), CRF: p.Settings.CRF, Logger: log},
		Checkpoint: true, Resume: true, CheckpointEvery: s.opt.CheckpointEvery,
		Log: log, Progress: report,
	})
	if err != nil && ctx.Err() == nil {
		// A failed job will not be resumed: drop its checkpoint.
		os.RemoveAll(checkpoint.DirFor(out))
	}
	return err
}

// runtimeName names the runtime of the jobs run in this process.
func (s *Server) runtimeName() string {
	if s.opt.Runtime != nil {
		return s.opt.Runtime.Name()
	}
	return "go"
}

// fitMemory fits opt's windows and tiles to this job's share of MaxMemory
// for info's frames on the runtime rt, keeping the sizes the job set (set
// differs from the defaults there). modelPath "" is the default model of
// opt's scale; only its header is read.
func (s *Server) fitMemory(opt pipeline.Options, set Settings, info *video.Info, modelPath, rt string) (pipeline.Options, error) {
	if s.opt.MaxMemory <= 0 || opt.OnDevice {
		return opt, nil
	}
	if modelPath == "" {
		var err error
		if modelPath, err = model.DefaultPathFor(opt.Scale); err != nil {
			return opt, err
		}
	}
	cfg, err := model.ReadConfig(modelPath)
	if err != nil {
		return opt, fmt.Errorf("model: %w", err)
	}
	d := defaultSettings(s.opt.Defaults)
	budget := s.opt.MaxMemory / int64(max(1, s.opt.Workers))
	fitted, err := pipeline.FitMemory(rt, cfg, opt, info.Width*opt.Scale, info.Height*opt.Scale, info.Frames, budget,
		set.WindowT != d.WindowT, set.Tile != d.Tile)
	if err != nil {
		return opt, fmt.Errorf("memory: %w", err)
	}
	if fitted.WindowT != opt.WindowT || fitted.Tile != opt.Tile {
		s.log.Info("serve: smaller windows and tiles to fit the memory budget", "window_t", fitted.WindowT,
			"tile", fitted.Tile, "budget", pipeline.FormatBytes(budget))
	}
	return fitted, nil
}

// workCluster runs job j on the cluster's workers. Its state lives in
// JetStream, so after a restart the same job continues where it stood.
func (s *Server) workCluster(ctx context.Context, j jobs.Job, p params, opt pipeline.Options, out string, report jobs.Progress) error {
	if _, err := os.Stat(out); err == nil {
		return nil // finished just before a crash
	}
	info, err := video.Probe(ctx, p.Input)
	if err != nil {
		return fmt.Errorf("the input is not a video pssr can read: %w", err)
	}
	if err := s.checkLimits(info); err != nil {
		return err
	}
	report(0, info.Frames)
	modelPath := s.opt.Model
	if modelPath == "" {
		if modelPath, err = model.DefaultPathFor(opt.Scale); err != nil {
			return err
		}
	}
	if opt, err = s.fitMemory(opt, p.Settings, info, modelPath, s.opt.Cluster.RuntimeName()); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	log := s.log.With("job", j.ID)
	res, err := s.opt.Cluster.Run(ctx, cluster.Job{
		Tag: j.ID, In: p.Input, Out: out, Info: info, ModelPath: modelPath, Options: opt,
		Output:   video.WriterOptions{Codec: video.Codec(p.Settings.Codec), CRF: p.Settings.CRF, Logger: log},
		Progress: report,
	})
	if err == nil {
		log.Info("serve: distributed job done", "cluster_job", res.ID, "frames", res.Frames, "chunks", res.Chunks, "published", res.Published)
	}
	return err
}

// checkLimits fails for an input beyond the frame size, duration or frame
// count limits.
func (s *Server) checkLimits(info *video.Info) error {
	o := s.opt
	switch {
	case o.MaxSide > 0 && (info.Width > o.MaxSide || info.Height > o.MaxSide):
		return fmt.Errorf("the video is %dx%d, larger than the limit of %d pixels a side (--max-side)", info.Width, info.Height, o.MaxSide)
	case o.MaxDuration > 0 && info.Duration > o.MaxDuration.Seconds():
		return fmt.Errorf("the video lasts %.1fs, longer than the limit of %s (--max-duration)", info.Duration, o.MaxDuration)
	case o.MaxFrames > 0 && info.Frames > o.MaxFrames:
		return fmt.Errorf("the video has %d frames, more than the limit of %d (--max-frames)", info.Frames, o.MaxFrames)
	}
	return nil
}
