// Command pssr upscales videos with PS-SR (pseudo-single-step diffusion video
// super-resolution), trains its networks, and measures quality and speed.
//
// Each subcommand lives in its own file and only parses flags; the work is
// done by the packages of this module.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pssr/pssr/pipeline"
)

// app holds what every command shares: output streams, the logger and the
// global flags.
type app struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	logLevel       string
	quiet          bool
	cpuProfile     string
	stopProfile    func() error // set while --cpu-profile records
}

// newRootCmd builds the command tree.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "pssr",
		Short: "PS-SR video super-resolution: one base diffusion step, cheap draft steps, frequency fusion",
		Long: `pssr upscales low-quality video x2 or x4 with PS-SR: a base latent transformer
takes one denoising step from the low-quality latent, a small draft network fed
with the base network's features takes the remaining steps, and a
frequency-domain update keeps the base result's low frequencies while taking
high-frequency detail from the draft.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(a.logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: lvl}))
			if a.cpuProfile != "" {
				stop, err := startCPUProfile(a.cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpu-profile: %w", err)
				}
				a.stopProfile = stop
			}
			return nil
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().BoolVarP(&a.quiet, "quiet", "q", false, "no progress bar")
	root.PersistentFlags().StringVar(&a.cpuProfile, "cpu-profile", "", "write a Go CPU profile of the command to `FILE` (go tool pprof; time inside ONNX Runtime shows as cgo calls)")
	for _, c := range commands {
		root.AddCommand(c(a))
	}
	return root
}

// startCPUProfile records a CPU profile into path (written to a temporary
// file, renamed into place by the returned stop).
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			os.Remove(f.Name())
			return err
		}
		return os.Rename(f.Name(), path)
	}, nil
}

// commands lists the constructors of the subcommands, one per file.
var commands = []func(*app) *cobra.Command{}

func main() {
	// A process-wide setting, made here only: a lower GC target than Go's
	// default keeps the peak memory of a long video near its live set.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(pipeline.GCPercent)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI with args and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	// SIGHUP (the terminal closed) stops a run like Ctrl-C and SIGTERM: the
	// temporary output is removed and ffmpeg is stopped.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

// runContext is run under ctx: cancelling ctx interrupts the command as
// SIGINT does (tests cancel it mid-run).
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, log: slog.New(slog.NewTextHandler(stderr, nil))}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if a.stopProfile != nil {
		if perr := a.stopProfile(); perr != nil && err == nil {
			err = fmt.Errorf("--cpu-profile: %w", perr)
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "pssr: interrupted")
			return 130
		}
		fmt.Fprintf(stderr, "pssr: %v\n", err)
		return 1
	}
	return 0
}
