package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/cluster"
	"github.com/pssr/pssr/ort"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/serve"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newServeCmd) }

// serveOptions are the flags of pssr serve.
type serveOptions struct {
	addr, data, token  string
	workers            int
	modelPath, backend string
	runtime            string
	deviceOps          string
	maxUploadMB        int64
	maxSide, maxFrames int
	maxMemory          string
	maxDuration        time.Duration
	allowRoots         []string
	checkpointEvery    time.Duration
	nats, natsAddr     string
	ackWait            time.Duration
	chunkWindows       int
	replicas           int
}

const serveExample = `  pssr serve --data /var/lib/pssr                      # http://127.0.0.1:8080
  pssr serve --addr 0.0.0.0:8080 --data DIR --token "$(openssl rand -hex 16)" --jobs 2

  # a session with curl (add -H "Authorization: Bearer $T" when --token is set):
  curl -s -F file=@testdata/sample.mp4 -F scale=4 -F codec=ffv1 http://127.0.0.1:8080/v1/jobs
  # {"id": "3f2a9c0d1e4b5a67"}
  curl -s http://127.0.0.1:8080/v1/jobs/3f2a9c0d1e4b5a67          # state, frames_done, frames_total, fps, eta_s, error
  curl -sN http://127.0.0.1:8080/v1/jobs/3f2a9c0d1e4b5a67/events  # server-sent events until the job ends
  curl -s -o sample-x4.mkv http://127.0.0.1:8080/v1/jobs/3f2a9c0d1e4b5a67/result
  curl -s -X DELETE http://127.0.0.1:8080/v1/jobs/3f2a9c0d1e4b5a67  # cancel (if unfinished) and delete
  curl -s http://127.0.0.1:8080/v1/jobs                           # every job`

func newServeCmd(a *app) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve --data DIR [--addr 127.0.0.1:8080] [--token T] [--jobs N]",
		Short: "Run the upscaler as an HTTP service with a web page and durable jobs",
		Long: `serve answers a REST API under /v1 and serves a web page at / (upload a clip,
choose scale and mode, watch the progress, compare before and after with a
slider, download the result).

  POST   /v1/jobs              multipart form: the video in "file" (or "path" for a
                               file under an --allow-root) and upscale options as fields
                               (scale, mode, fuse, draft-steps, alpha, fc, latent-fc, order, border,
                               window-t, overlap-t, tile, tile-overlap, codec, crf);
                               answers 201 {"id": "..."}
  GET    /v1/jobs              lists the jobs
  GET    /v1/jobs/{id}         a job: state (queued, running, done, failed, canceled),
                               frames_done, frames_total, fps, eta_s, error
  GET    /v1/jobs/{id}/events  progress as server-sent events ("job" events)
  GET    /v1/jobs/{id}/result  the result (h264/h265 .mp4, vp9 .webm, ffv1 .mkv)
  DELETE /v1/jobs/{id}         cancels the job and deletes it

Errors are JSON {"error": "..."} with the status code (400 bad form, 401 bad
token, 404 no job, 409 not done, 413 over a limit). Jobs live in a bbolt
database under --data and run --jobs at a time in submission order; each
keeps a checkpoint of its finished windows, so after a crash, kill or
restart the queued jobs stay queued and the running ones resume from their
last finished window. SIGTERM or Ctrl-C stops gracefully (exit status 0)
and leaves every unfinished job resumable.

It listens on loopback only unless --addr says otherwise. With --token,
every /v1 request needs "Authorization: Bearer TOKEN" (the page asks for
it). Uploads are streamed to disk and limited by --max-upload-mb, inputs by
--max-side, --max-duration and --max-frames; uploaded names never become
paths.`,
		Example: serveExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "`HOST:PORT` to listen on (loopback by default; port 0 picks a free one)")
	f.StringVar(&o.data, "data", "", "`DIR` of the job database, uploads and results (required)")
	f.StringVar(&o.token, "token", "", "bearer token every API request must send (default $PSSR_TOKEN)")
	f.IntVar(&o.workers, "jobs", 1, "jobs that run at once")
	f.StringVar(&o.modelPath, "model", "", "model `FILE` for every job (default: $PSSR_MODEL or the bundled model for each job's scale)")
	f.StringVar(&o.runtime, "runtime", "auto", runtimeHelp)
	f.StringVar(&o.backend, "backend", "", `compute backend: "go", "xla:/abs/plugin.so" or "auto" (default $GOMLX_BACKEND or go)`)
	f.StringVar(&o.deviceOps, "device-ops", "auto", deviceOpsHelp)
	f.Int64Var(&o.maxUploadMB, "max-upload-mb", 2048, "largest upload in MiB")
	f.IntVar(&o.maxSide, "max-side", 3840, "largest input frame side in pixels (0: no limit)")
	f.DurationVar(&o.maxDuration, "max-duration", 30*time.Minute, "longest input video (0: no limit)")
	f.IntVar(&o.maxFrames, "max-frames", 0, "most input frames (0: no limit)")
	f.StringVar(&o.maxMemory, "max-memory", "", "memory budget of the jobs, shared by the --jobs that run at once, e.g. 8G; a job's windows, then tiles, shrink to fit its share unless it sets them (0: no budget; default: half the machine's memory)")
	f.StringArrayVar(&o.allowRoots, "allow-root", nil, "`DIR` whose files may be submitted with path= (repeatable; none: path= is refused)")
	f.DurationVar(&o.checkpointEvery, "checkpoint-every", 0, "least time between two checkpoint commits of a job (0: after every window)")
	f.StringVar(&o.nats, "nats", "", "run the jobs on `pssr worker`s over NATS JetStream: a server URL (nats://host:4222) or \"embedded\" (a JetStream server in this process, on --nats-addr, its store under --data); the workers run the networks on GoMLX, or on ONNX Runtime with an explicit --runtime ort")
	f.StringVar(&o.natsAddr, "nats-addr", "127.0.0.1:4222", "`HOST:PORT` of the embedded NATS server (--nats embedded; 0.0.0.0:4222 lets other machines' workers join)")
	f.DurationVar(&o.ackWait, "ack-wait", 30*time.Second, "with --nats: how long a chunk may go without a sign of life from its worker before another worker gets it")
	f.IntVar(&o.chunkWindows, "chunk-windows", 4, "with --nats: temporal windows in one chunk of work")
	f.IntVar(&o.replicas, "replicas", 1, "with --nats: replicas of the JetStream stream, buckets and object store (3 on a nats-server cluster of 3 or more; the embedded server holds 1)")
	return cmd
}

// run starts the service and blocks until SIGINT or SIGTERM.
func (o *serveOptions) run(cmd *cobra.Command, a *app) error {
	if o.data == "" {
		return errors.New("--data is required: the folder of the job database and files")
	}
	if !cmd.Flags().Changed("token") {
		o.token = os.Getenv("PSSR_TOKEN")
	}
	if o.workers < 1 {
		return fmt.Errorf("--jobs %d: want at least 1", o.workers)
	}
	if o.maxUploadMB < 1 {
		return fmt.Errorf("--max-upload-mb %d: want at least 1", o.maxUploadMB)
	}
	if o.modelPath != "" {
		if _, err := os.Stat(o.modelPath); err != nil {
			return fmt.Errorf("--model: %w", err)
		}
	}
	be, desc, err := backend.New(o.backend, a.log)
	if err != nil {
		return fmt.Errorf("--backend: %w", err)
	}
	defer be.Finalize()
	def := pipeline.DefaultOptions()
	if def.OnDevice, err = parseDeviceOps(o.deviceOps, be); err != nil {
		return err
	}
	if def.OnDevice {
		def.Tile = pipeline.DeviceTile
	}
	rt, err := selectRuntime(a.log, o.runtime, be)
	if err != nil {
		return fmt.Errorf("--runtime: %w", err)
	}
	budget := defaultMemoryBudget()
	if o.maxMemory != "" {
		if budget, err = parseBytes("--max-memory", o.maxMemory); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	if host, _, _ := net.SplitHostPort(o.addr); o.token == "" {
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			a.log.Warn("serve: listening beyond loopback without --token: anyone who can reach the port can submit jobs", "addr", o.addr)
		}
	}
	var coord *cluster.Coordinator
	if o.nats != "" {
		stop, c, err := o.startCluster(cmd.Context(), a)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
		coord = c
	}
	s, err := serve.New(serve.Options{
		Data: o.data, Token: o.token, Workers: o.workers, Model: o.modelPath, Backend: be, Runtime: rt, Defaults: def,
		MaxUpload: o.maxUploadMB << 20, MaxSide: o.maxSide, MaxDuration: o.maxDuration, MaxFrames: o.maxFrames, MaxMemory: budget,
		AllowRoots: o.allowRoots, CheckpointEvery: o.checkpointEvery, Cluster: coord, Logger: a.log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	url := "http://" + ln.Addr().String()
	a.log.Info("serve: listening", "url", url, "data", o.data, "jobs", o.workers, "backend", desc, "runtime", rt.Name(), "token", o.token != "")
	fmt.Fprintf(a.stderr, "pssr serve: listening on %s\n", url)
	return s.Serve(cmd.Context(), ln)
}

// startCluster connects to --nats (starting the embedded server first for
// "embedded"), sets up the stream and buckets and returns the coordinator
// and a function that disconnects (and stops the embedded server).
func (o *serveOptions) startCluster(ctx context.Context, a *app) (func(), *cluster.Coordinator, error) {
	if o.chunkWindows < 1 {
		return nil, nil, fmt.Errorf("--chunk-windows %d: want at least 1", o.chunkWindows)
	}
	if o.replicas < 1 || (o.nats == "embedded" && o.replicas != 1) {
		return nil, nil, fmt.Errorf("--replicas %d: want at least 1, and 1 with --nats embedded (a single server)", o.replicas)
	}
	url := o.nats
	var emb *cluster.Embedded
	if o.nats == "embedded" {
		var err error
		if emb, err = cluster.StartEmbedded(o.natsAddr, filepath.Join(o.data, "nats")); err != nil {
			return nil, nil, fmt.Errorf("--nats embedded: %w", err)
		}
		url = emb.URL()
		a.log.Info("serve: embedded NATS JetStream server", "url", url, "store", filepath.Join(o.data, "nats"))
		fmt.Fprintf(a.stderr, "pssr serve: NATS on %s\n", url)
	}
	stop := func() {
		if emb != nil {
			emb.Shutdown()
		}
	}
	nc, err := cluster.Dial(url, "pssr-serve", a.log)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("--nats: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := cluster.Setup(sctx, nc, cluster.Config{AckWait: o.ackWait, Replicas: o.replicas})
	if err != nil {
		nc.Close()
		stop()
		return nil, nil, fmt.Errorf("--nats %s: %w", o.nats, err)
	}
	spec := o.backend
	if spec == "" {
		if spec = os.Getenv(backend.EnvBackend); spec == "" {
			spec = "go"
		}
	}
	// The workers must all run one runtime: "auto" would resolve on this
	// machine, so only an explicit --runtime ort (or ort-int8) sends jobs
	// to ONNX Runtime.
	rt := cluster.RuntimeGo
	if o.runtime == ort.RuntimeORT || o.runtime == ort.RuntimeORTInt8 {
		rt = o.runtime
	}
	a.log.Info("serve: cluster jobs", "backend", spec, "runtime", rt)
	coord := cluster.NewCoordinator(conn, cluster.CoordinatorOptions{Backend: spec, Runtime: rt, WindowsPerChunk: o.chunkWindows, Logger: a.log})
	return func() { nc.Drain(); nc.Close(); stop() }, coord, nil
}
