// Package backend picks the GoMLX backend that pssr computes on.
//
// A backend spec is one of:
//
//	go                        GoMLX's pure-Go backend (always available; SIMD
//	                          matrix products when built with GOEXPERIMENT=simd)
//	go:<options>              the Go backend with its options, e.g. go:parallelism=4
//	xla:/abs/path/plugin.so   a PJRT plugin loaded by GoMLX's XLA backend,
//	                          optionally followed by ",<option>" (e.g. ",tf32")
//	auto                      the CUDA PJRT plugin of an installed jax if one is
//	                          found and works, otherwise the Go backend
//	(empty)                   $GOMLX_BACKEND, or "go" when that is unset
//
// Plugins are never downloaded: New turns GoMLX's auto-install off.
//
// The CUDA plugin shipped in jax's PyPI wheels (jax-cuda13-pjrt or
// jax-cuda12-pjrt) needs the NVIDIA libraries of the same Python environment
// on LD_LIBRARY_PATH. The dynamic loader reads LD_LIBRARY_PATH only when a
// process starts, so New cannot set it: run pssr under scripts/gpu-env.sh
// (`scripts/gpu-env.sh pssr upscale ...`, or `. scripts/gpu-env.sh` first),
// which also sets XLA_FLAGS, PSSR_PJRT_PLUGIN and GOMLX_BACKEND. New does set
// the variables that are read when the plugin loads (GOMLX_NO_AUTO_INSTALL,
// GOPJRT_CUDA_CHECKS, the CUDA data dir in XLA_FLAGS) when they are unset.
//
// If a plugin built for a newer PJRT C API rejects go-xla's argument structs
// ("Unexpected PJRT_ExecuteOptions size"), use the "-hdr113" binary that
// scripts/build-gpu.sh builds.
package backend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/gomlx/core/graph"
)

// Environment variables New reads.
const (
	// EnvBackend is GoMLX's own backend variable, used when the spec is empty.
	EnvBackend = "GOMLX_BACKEND"
	// EnvPlugin names a PJRT plugin that the "auto" spec tries first.
	EnvPlugin = "PSSR_PJRT_PLUGIN"
)

// ErrSpec is wrapped by the error New returns for a malformed spec.
var ErrSpec = errors.New("invalid backend spec")

// options holds what New looks at outside its arguments, so tests can fake it.
type options struct {
	getenv func(string) string
	setenv func(key, value string) error
	// roots are searched (bounded depth) for jax's CUDA plugin.
	roots []string
	// python lists the Python interpreters asked for their sys.path, first
	// one found wins; empty disables asking Python.
	python []string
	// haveNvidia reports whether an NVIDIA device is present.
	haveNvidia func() bool
}

// defaultOptions reads the real environment and file system.
func defaultOptions() options {
	roots := []string{"/opt", "/usr/local", "/usr/lib", "/root"}
	if home, err := os.UserHomeDir(); err == nil && !slices.Contains(roots, home) {
		roots = append(roots, home)
	}
	python := []string{"/opt/torch/.venv/bin/python3", "python3"}
	if p := os.Getenv("PYTHON"); p != "" {
		python = []string{p}
	}
	return options{
		getenv: os.Getenv,
		setenv: os.Setenv,
		roots:  roots,
		python: python,
		haveNvidia: func() bool {
			m, _ := filepath.Glob("/dev/nvidia[0-9]*")
			return len(m) > 0
		},
	}
}

// New returns the backend named by spec (see the package documentation) and a
// one-line description of it for reports and logs. log receives notes such as
// the fallback of "auto" to the Go backend; nil discards them. An explicit
// "xla:" spec whose plugin cannot be loaded, or cannot run a tiny test graph,
// is an error: only "auto" falls back.
func New(spec string, log *slog.Logger) (compute.Backend, string, error) {
	return newBackend(spec, log, defaultOptions())
}

func newBackend(spec string, log *slog.Logger, opt options) (compute.Backend, string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	xla.EnableAutoInstall(false)
	spec = strings.TrimSpace(spec)
	source := "spec"
	if spec == "" {
		spec, source = strings.TrimSpace(opt.getenv(EnvBackend)), "$"+EnvBackend
		if spec == "" {
			spec, source = "go", "default"
		}
	}
	name, config, _ := strings.Cut(spec, ":")
	switch {
	case name == "go":
		return newGo(config, log)
	case spec == "auto":
		return newAuto(log, opt)
	case name == "xla" && config != "":
		path, _, _ := strings.Cut(config, ",")
		if !filepath.IsAbs(path) {
			return nil, "", fmt.Errorf("backend: %w %q (from %s): the xla plugin must be an absolute path to a .so file", ErrSpec, spec, source)
		}
		return newXLA(config, log, opt)
	}
	return nil, "", fmt.Errorf(`backend: %w %q (from %s): want "go", "auto" or "xla:/abs/path/plugin.so"`, ErrSpec, spec, source)
}

// newGo creates the pure-Go backend and checks that it runs a graph.
//
// Unless the config names an execution mode, ops run sequentially (each op
// still uses every core inside). GoMLX v0.26's parallel op scheduler could
// deadlock on the transformer graphs of package model; on v0.28.6 it still
// stalls them: 12 base training steps of pssr-tiny took 30 s with
// ops_sequential and had not finished after 4 minutes with ops_parallel
// (2-core Zen 5).
func newGo(config string, log *slog.Logger) (compute.Backend, string, error) {
	full := config
	if !strings.Contains(config, "ops_") {
		full = strings.TrimPrefix(config+",ops_sequential", ",")
	}
	b, err := gobackend.New(full)
	if err != nil {
		return nil, "", fmt.Errorf("backend: go backend: %w", err)
	}
	if err := smokeTest(b); err != nil {
		b.Finalize()
		return nil, "", fmt.Errorf("backend: go backend cannot run a test graph: %w", err)
	}
	desc := "go (" + b.Description() + ")"
	if config != "" {
		desc = "go:" + config + " (" + b.Description() + ")"
	}
	if !SIMD {
		log.Warn("this pssr was built without GOEXPERIMENT=simd: the Go backend's matrix products run about 10x slower (rebuild with GOEXPERIMENT=simd go build)")
	}
	return b, desc, nil
}

// newXLA loads a PJRT plugin given as "/abs/path.so[,option...]".
func newXLA(config string, log *slog.Logger, opt options) (compute.Backend, string, error) {
	path, _, _ := strings.Cut(config, ",")
	st, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, "", fmt.Errorf("backend: PJRT plugin %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, "", fmt.Errorf("backend: PJRT plugin %s is a directory, not a .so file", path)
	}
	prepareEnv(path, log, opt)
	b, err := loadXLA(config)
	if err != nil {
		return nil, "", fmt.Errorf("backend: loading PJRT plugin %s failed (for jax's CUDA plugin, run under scripts/gpu-env.sh): %w", path, err)
	}
	if err := smokeTest(b); err != nil {
		b.Finalize()
		hint := ""
		if strings.Contains(err.Error(), "Unexpected PJRT_") {
			hint = " (the plugin expects a newer PJRT C API: use the -hdr113 binary from scripts/build-gpu.sh)"
		}
		return nil, "", fmt.Errorf("backend: PJRT plugin %s loaded but cannot run a test graph%s: %w", path, hint, err)
	}
	desc := fmt.Sprintf("xla:%s (%d device(s), device 0: %s)", config, b.NumDevices(), b.DeviceDescription(0))
	return b, desc, nil
}

// loadXLA calls GoMLX's XLA backend, turning panics into errors.
func loadXLA(config string) (b compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return xla.New(config)
}

// newAuto tries PSSR_PJRT_PLUGIN and the plugins found on disk, in order, and
// falls back to the Go backend.
func newAuto(log *slog.Logger, opt options) (compute.Backend, string, error) {
	var reasons []string
	try := func(p string) (compute.Backend, string, bool) {
		if isCUDA(p) && opt.haveNvidia != nil && !opt.haveNvidia() {
			reasons = append(reasons, p+": no NVIDIA device (/dev/nvidia*)")
			return nil, "", false
		}
		b, desc, err := newXLA(p, log, opt)
		if err != nil {
			reasons = append(reasons, err.Error())
			return nil, "", false
		}
		log.Info("backend: auto picked a PJRT plugin", "plugin", p)
		return b, desc, true
	}
	env := strings.TrimSpace(opt.getenv(EnvPlugin))
	if env != "" {
		if abs, err := filepath.Abs(env); err == nil {
			env = abs
		}
		if b, desc, ok := try(env); ok {
			return b, desc, nil
		}
	}
	for _, p := range findPlugins(opt) {
		if p == env {
			continue
		}
		if b, desc, ok := try(p); ok {
			return b, desc, nil
		}
	}
	why := "no PJRT plugin found (set " + EnvPlugin + " or install jax-cuda13-pjrt)"
	if len(reasons) > 0 {
		why = strings.Join(reasons, "; ")
	}
	log.Info("backend: auto falls back to the pure-Go backend", "reason", why)
	b, desc, err := newGo("", log)
	if err != nil {
		return nil, "", err
	}
	return b, desc + " [auto: " + why + "]", nil
}

// isCUDA guesses from its path whether a plugin is a CUDA one.
func isCUDA(path string) bool {
	return strings.Contains(strings.ToLower(path), "cuda")
}

// pluginSubpaths are where jax's CUDA plugins sit under a site-packages
// directory, preferred first.
var pluginSubpaths = []string{
	"jax_plugins/xla_cuda13/xla_cuda_plugin.so",
	"jax_plugins/xla_cuda12/xla_cuda_plugin.so",
}

// findPlugins returns the jax CUDA plugins found, cuda13 before cuda12, the
// Python interpreter's own environment first. Paths are resolved and unique.
func findPlugins(opt options) []string {
	var found []string
	add := func(p string) {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if !slices.Contains(found, p) {
			found = append(found, p)
		}
	}
	checkSite := func(dir string) {
		for _, sub := range pluginSubpaths {
			add(filepath.Join(dir, sub))
		}
	}
	for _, dir := range pythonPath(opt.python) {
		checkSite(dir)
	}
	var walked []string
	for _, root := range opt.roots {
		walkSites(root, 8, func(dir string) { walked = append(walked, dir) })
	}
	// Within the walk, prefer cuda13 anywhere over cuda12 anywhere.
	for _, sub := range pluginSubpaths {
		for _, dir := range walked {
			add(filepath.Join(dir, sub))
		}
	}
	return found
}

// pythonPath asks the first interpreter that runs for its sys.path, without
// importing jax.
func pythonPath(interpreters []string) []string {
	for _, py := range interpreters {
		exe, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, exe, "-c", "import sys\nfor p in sys.path:\n    print(p)").Output()
		cancel()
		if err != nil {
			continue
		}
		var dirs []string
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			if d := strings.TrimSpace(sc.Text()); filepath.IsAbs(d) {
				dirs = append(dirs, d)
			}
		}
		return dirs
	}
	return nil
}

// skipDirs are never descended into while looking for site-packages.
var skipDirs = map[string]bool{
	".git": true, ".cache": true, "node_modules": true, "__pycache__": true,
	"proc": true, "sys": true, "dev": true, "firmware": true, "modules": true,
}

// walkSites calls fn for every site-packages or dist-packages directory under
// root, at most depth levels down, without descending into them.
func walkSites(root string, depth int, fn func(dir string)) {
	root = filepath.Clean(root)
	base := strings.Count(root, string(filepath.Separator))
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil // unreadable entries and files are skipped
		}
		name := d.Name()
		switch {
		case name == "site-packages" || name == "dist-packages":
			fn(p)
			return filepath.SkipDir
		case strings.HasPrefix(name, "python") && strings.HasPrefix(filepath.Base(filepath.Dir(p)), "lib"):
			// lib/pythonX.Y: only its site-packages matter, not the standard library.
			for _, sub := range []string{"site-packages", "dist-packages"} {
				if st, err := os.Stat(filepath.Join(p, sub)); err == nil && st.IsDir() {
					fn(filepath.Join(p, sub))
				}
			}
			return filepath.SkipDir
		case p != root && skipDirs[name]:
			return filepath.SkipDir
		case strings.HasSuffix(p, "/go/pkg"):
			return filepath.SkipDir // the Go module cache
		case strings.Count(p, string(filepath.Separator))-base >= depth:
			return filepath.SkipDir
		}
		return nil
	})
}

// prepareEnv sets, when unset, the variables read while a PJRT plugin loads:
// no auto-install, no go-xla CUDA layout check (it does not fit a venv), and
// for a plugin inside a Python environment the CUDA data dir (ptxas,
// libdevice) in XLA_FLAGS. It warns when LD_LIBRARY_PATH lacks the
// environment's NVIDIA libraries, which only scripts/gpu-env.sh can fix.
func prepareEnv(plugin string, log *slog.Logger, opt options) {
	setDefault := func(k, v string) {
		if opt.getenv(k) == "" {
			if err := opt.setenv(k, v); err != nil {
				log.Warn("backend: cannot set environment", "var", k, "err", err)
			}
		}
	}
	setDefault(xla.NoAutoInstallEnv, "1")
	if !isCUDA(plugin) {
		return
	}
	setDefault("GOPJRT_CUDA_CHECKS", "0")
	site := filepath.Dir(filepath.Dir(filepath.Dir(plugin))) // .../site-packages
	libs, _ := filepath.Glob(filepath.Join(site, "nvidia", "*", "lib"))
	if len(libs) == 0 {
		return // not a pip layout: nothing more we know how to set
	}
	if flags := opt.getenv("XLA_FLAGS"); !strings.Contains(flags, "--xla_gpu_cuda_data_dir") {
		for _, sub := range []string{"cu13", "cuda_nvcc"} {
			dir := filepath.Join(site, "nvidia", sub)
			if st, err := os.Stat(dir); err == nil && st.IsDir() {
				_ = opt.setenv("XLA_FLAGS", strings.TrimSpace("--xla_gpu_cuda_data_dir="+dir+" "+flags))
				break
			}
		}
	}
	ldPath := filepath.SplitList(opt.getenv("LD_LIBRARY_PATH"))
	for _, l := range libs {
		if slices.Contains(ldPath, l) {
			return
		}
	}
	log.Warn("backend: LD_LIBRARY_PATH lacks the NVIDIA libraries next to the plugin; if loading fails, run under scripts/gpu-env.sh",
		"plugin", plugin, "libs", filepath.Join(site, "nvidia", "*", "lib"))
}

// smokeTest runs 2x+1 on three values and checks the result.
func smokeTest(b compute.Backend) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	out, err := graph.ExecOnce(b, func(x *graph.Node) *graph.Node {
		return graph.AddScalar(graph.MulScalar(x, 2), 1)
	}, []float32{1, 2, 3})
	if err != nil {
		return err
	}
	defer out.FinalizeAll()
	got, ok := out.Value().([]float32)
	if !ok || !slices.Equal(got, []float32{3, 5, 7}) {
		return fmt.Errorf("2x+1 of [1 2 3] gave %v", out.Value())
	}
	return nil
}
