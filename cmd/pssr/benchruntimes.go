package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/bench"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/netrun"
	"github.com/pssr/pssr/ort"
	"github.com/pssr/pssr/rtbench"
)

func init() { commands = append(commands, newBenchRuntimesCmd) }

// benchRuntimesOptions are the flags of pssr bench-runtimes.
type benchRuntimesOptions struct {
	modelPath, jsonPath   string
	scale                 int
	frames, width, height int
	minTime               time.Duration
	minReps               int
	networks              []string
	int8                  bool
	ortProfile            string
}

func newBenchRuntimesCmd(a *app) *cobra.Command {
	o := &benchRuntimesOptions{scale: 4, frames: 4, width: 384, height: 288, minTime: 2 * time.Second, minReps: 3}
	cmd := &cobra.Command{
		Use:   "bench-runtimes",
		Short: "Time the pure-Go runtime and ONNX Runtime side by side: MatMul GFLOP/s and each network",
		Long: `bench-runtimes measures the two CPU runtimes of pssr on this machine: GoMLX's
pure-Go backend and ONNX Runtime (loaded as --runtime ort loads it). It times
[M, K] x [K, N] matrix products on both (GFLOP/s) and then the model's
networks (encoder, decoder, base step, draft step, and fused_decoder: the
default latent update and one decode) on a random clip of
--frames frames of --width x --height output pixels, exported to ONNX from
the same graph functions and weights. Each case runs once untimed (the
compile) and then at least --min-reps times and --min-time; the median is
reported, with the largest difference of ONNX Runtime's output from Go's.
This is the measurement behind --runtime auto (docs/benchmarks.md).`,
		Example: "  pssr bench-runtimes --json docs/bench-runtimes.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.modelPath, "model", "", "model `FILE` (default: $PSSR_MODEL or the bundled pssr-tiny by --scale)")
	f.IntVar(&o.scale, "scale", o.scale, "scale of the default model: 2 or 4")
	f.IntVar(&o.frames, "frames", o.frames, "frames of the clip the networks run on")
	f.IntVar(&o.width, "width", o.width, "output width of the clip (a multiple of 16)")
	f.IntVar(&o.height, "height", o.height, "output height of the clip (a multiple of 16)")
	f.DurationVar(&o.minTime, "min-time", o.minTime, "least time timing each case")
	f.IntVar(&o.minReps, "min-reps", o.minReps, "least timed runs of each case")
	f.StringSliceVar(&o.networks, "networks", nil, "networks to time (default all: encoder,decoder,base_step,draft_step,fused_decoder)")
	f.BoolVar(&o.int8, "int8", false, "also time ONNX Runtime with int8 dense products (--runtime ort-int8)")
	f.StringVar(&o.ortProfile, "ort-profile", "", "write ONNX Runtime's per-node profile of each network to `PREFIX`<timestamp>.json")
	f.StringVar(&o.jsonPath, "json", "", "write the report as JSON to `FILE`")
	return cmd
}

func (o *benchRuntimesOptions) run(cmd *cobra.Command, a *app) error {
	if o.frames < 1 || o.width < 16 || o.height < 16 || o.width%16 != 0 || o.height%16 != 0 {
		return fmt.Errorf("--frames %d, --width %d, --height %d: want at least one frame and sides that are multiples of 16", o.frames, o.width, o.height)
	}
	if o.modelPath == "" {
		var err error
		if o.modelPath, err = model.DefaultPathFor(o.scale); err != nil {
			return err
		}
	}
	be, _, err := backend.New("go", a.log)
	if err != nil {
		return err
	}
	defer be.Finalize()
	ortOpt := ort.Options{Profile: o.ortProfile}
	ortRT, _, err := ort.Select(ort.RuntimeORT, be, ortOpt)
	if err != nil {
		return fmt.Errorf("bench-runtimes needs ONNX Runtime: %w", err)
	}
	m, err := model.Load(be, o.modelPath)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	a.log.Info("bench-runtimes", "model", o.modelPath, "onnxruntime", ort.Version(),
		"clip", fmt.Sprintf("%dx%dx%d", o.frames, o.width, o.height))
	rts := []netrun.Runtime{netrun.GoMLX{Backend: be}, ortRT}
	if o.int8 {
		int8RT, _, err := ort.Select(ort.RuntimeORTInt8, be, ortOpt)
		if err != nil {
			return err
		}
		rts = append(rts, int8RT)
	}
	rep, err := rtbench.Run(cmd.Context(), m, m.Config.Name, rts,
		rtbench.Options{MatMuls: rtbench.DefaultMatMuls, Frames: o.frames, Width: o.width, Height: o.height,
			MinTime: o.minTime, MinReps: o.minReps, Networks: o.networks}, bench.DescribeMachine())
	if err != nil {
		return err
	}
	rep.ORTVersion = ort.Version()
	writeRuntimeTable(a, rep)
	if o.jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	return nil
}

func writeRuntimeTable(a *app, rep *rtbench.Report) {
	fmt.Fprintf(a.stdout, "machine: %s; %s; ONNX Runtime %s\n", rep.Machine, rep.GoVersion, rep.ORTVersion)
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "matmul\truntime\tms\tGFLOP/s")
	for _, r := range rep.MatMul {
		fmt.Fprintf(tw, "%dx%dx%d\t%s\t%.2f\t%.1f\n", r.M, r.K, r.N, r.Runtime, r.Seconds*1e3, r.GFLOPS)
	}
	tw.Flush()
	fmt.Fprintf(a.stdout, "networks on %s frames x width x height (model %s):\n", rep.Clip, rep.Model)
	tw = tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "network\truntime\tms\tmatmul GFLOP\tGFLOP/s\tmax |diff|\tspeed-up")
	base := map[string]float64{} // each network's seconds on the first runtime
	for _, r := range rep.Networks {
		sp := ""
		if r.Runtime == rep.Runtimes[0] {
			base[r.Network] = r.Seconds
		} else if b := base[r.Network]; b > 0 {
			sp = fmt.Sprintf("%.2fx", b/r.Seconds)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.2f\t%.1f\t%.2g\t%s\n", r.Network, r.Runtime, r.Seconds*1e3,
			float64(r.MatMulFLOPs)/1e9, r.GFLOPS, r.MaxAbsDiff, sp)
	}
	tw.Flush()
}
