package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/cluster"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/ort"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newWorkerCmd) }

// workerOptions are the flags of pssr worker.
type workerOptions struct {
	nats, name, backend, cache string
	concurrency, ortThreads    int
}

func newWorkerCmd(a *app) *cobra.Command {
	o := &workerOptions{}
	cmd := &cobra.Command{
		Use:   "worker --nats URL [--concurrency N]",
		Short: "Compute chunks of the jobs of a pssr serve --nats, pulled from NATS JetStream",
		Long: `worker joins the cluster of a pssr serve started with --nats: it pulls chunks
(runs of whole temporal windows) from the work-queue stream, computes them
with the same pipeline as pssr upscale, uploads its frames losslessly to the
JetStream object store and acks a chunk only once they are uploaded; while
it works it tells the server the chunk is alive, so a killed worker's chunk
goes to another worker after the server's --ack-wait.

The model, the options, the backend and the runtime (GoMLX or ONNX Runtime)
come from each job: the model is
downloaded from the object store into --cache and refused when its SHA-256
is not the job's. SIGTERM or Ctrl-C hands the chunks in progress back and
stops.`,
		Example: `  pssr serve --data DIR --nats embedded --nats-addr 0.0.0.0:4222   # on the coordinator
  pssr worker --nats nats://coordinator:4222 --concurrency 2       # on each worker machine`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.nats == "" {
				return errors.New("--nats is required: the URL of the NATS server (nats://host:4222)")
			}
			if o.concurrency < 1 {
				return fmt.Errorf("--concurrency %d: want at least 1", o.concurrency)
			}
			if o.cache == "" {
				dir, err := os.UserCacheDir()
				if err != nil {
					return fmt.Errorf("--cache: %w", err)
				}
				o.cache = filepath.Join(dir, "pssr", "models")
			}
			nc, err := cluster.Dial(o.nats, "pssr-worker", a.log)
			if err != nil {
				return err
			}
			defer nc.Close()
			conn, err := cluster.Join(cmd.Context(), nc, a.log)
			if err != nil {
				if cmd.Context().Err() != nil {
					return nil
				}
				return err
			}
			w, err := cluster.NewWorker(conn, cluster.WorkerOptions{
				Name: o.name, Concurrency: o.concurrency, Backend: o.backend, CacheDir: o.cache, Logger: a.log,
				NewBackend: func(spec string) (compute.Backend, error) {
					be, desc, err := backend.New(spec, a.log)
					if err == nil {
						a.log.Info("worker: backend", "backend", desc)
					}
					return be, err
				},
				NewRuntime: func(name string, be compute.Backend) (netrun.Runtime, error) {
					rt, _, err := ort.Select(name, be, ort.Options{Threads: o.ortThreads})
					if err == nil && strings.HasPrefix(rt.Name(), ort.RuntimeORT) {
						a.log.Info("worker: runtime", "runtime", rt.Name(), "onnxruntime", ort.Version())
					}
					return rt, err
				},
			})
			if err != nil {
				return err
			}
			return w.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.nats, "nats", "", "`URL` of the NATS server of the cluster (required)")
	f.IntVar(&o.concurrency, "concurrency", 1, "chunks computed at once, each with its own engine")
	f.StringVar(&o.name, "name", "", "the worker's name in logs and job status (default HOST-PID)")
	f.StringVar(&o.backend, "backend", "", `compute backend instead of the job's ("go:parallelism=1", "xla:/abs/plugin.so"); outputs are bit-exact only on backends that round alike`)
	f.IntVar(&o.ortThreads, "ort-threads", 0, "ONNX Runtime's intra-op threads for jobs on the ort runtime (0: one per physical core)")
	f.StringVar(&o.cache, "cache", "", "`DIR` of downloaded models (default the user cache folder's pssr/models)")
	return cmd
}
