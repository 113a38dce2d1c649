package backend

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
)

// fakeEnv is an in-memory environment.
type fakeEnv map[string]string

func (e fakeEnv) get(k string) string   { return e[k] }
func (e fakeEnv) set(k, v string) error { e[k] = v; return nil }
func (e fakeEnv) opts(roots ...string) options {
	return options{getenv: e.get, setenv: e.set, roots: roots, haveNvidia: func() bool { return true }}
}

// writeFile creates path (and its directories) with the given content.
func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNewGo(t *testing.T) {
	b, desc, err := New("go", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if !strings.HasPrefix(desc, "go (") {
		t.Errorf("description %q", desc)
	}
	out, err := graph.ExecOnce(b, func(x *graph.Node) *graph.Node { return graph.ReduceAllSum(graph.Mul(x, x)) }, []float32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Value().(float32); got != 14 {
		t.Errorf("sum of squares = %v, want 14", got)
	}
}

func TestSpecs(t *testing.T) {
	dir := t.TempDir()
	garbage := writeFile(t, filepath.Join(dir, "garbage.so"), "not an ELF file")
	tests := []struct {
		name     string
		spec     string
		env      fakeEnv
		wantDesc string // prefix of the description on success
		wantErr  error  // nil: success expected unless wantMsg is set
		wantMsg  string
	}{
		{name: "go", spec: "go", wantDesc: "go ("},
		{name: "go with options", spec: "go:ops_sequential", wantDesc: "go:ops_sequential ("},
		{name: "empty defaults to go", spec: "", wantDesc: "go ("},
		{name: "empty uses GOMLX_BACKEND", spec: "  ", env: fakeEnv{EnvBackend: "go"}, wantDesc: "go ("},
		{name: "bad GOMLX_BACKEND", spec: "", env: fakeEnv{EnvBackend: "tpu"}, wantErr: ErrSpec, wantMsg: "$GOMLX_BACKEND"},
		{name: "unknown name", spec: "gpu", wantErr: ErrSpec, wantMsg: `"gpu"`},
		{name: "xla without plugin", spec: "xla:", wantErr: ErrSpec},
		{name: "xla relative plugin", spec: "xla:plugins/x.so", wantErr: ErrSpec, wantMsg: "absolute"},
		{name: "xla missing plugin", spec: "xla:/nonexistent.so", wantErr: fs.ErrNotExist, wantMsg: "/nonexistent.so: no such file"},
		{name: "xla directory", spec: "xla:" + dir, wantMsg: "is a directory"},
		{name: "xla broken plugin", spec: "xla:" + garbage, wantMsg: "loading PJRT plugin " + garbage + " failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env
			if env == nil {
				env = fakeEnv{}
			}
			b, desc, err := newBackend(tc.spec, nil, env.opts())
			if tc.wantErr == nil && tc.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer b.Finalize()
				if !strings.HasPrefix(desc, tc.wantDesc) {
					t.Errorf("description %q, want prefix %q", desc, tc.wantDesc)
				}
				return
			}
			if err == nil {
				b.Finalize()
				t.Fatalf("got backend %q, want an error", desc)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q does not match %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q lacks %q", err, tc.wantMsg)
			}
		})
	}
}

func TestAutoFallsBack(t *testing.T) {
	root := t.TempDir()
	broken := writeFile(t, filepath.Join(root, "venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"), "junk")
	tests := []struct {
		name       string
		env        fakeEnv
		roots      []string
		haveNvidia bool
		wantReason string
	}{
		{name: "nothing installed", env: fakeEnv{}, roots: []string{t.TempDir()}, haveNvidia: true, wantReason: "no PJRT plugin found"},
		{name: "PSSR_PJRT_PLUGIN missing", env: fakeEnv{EnvPlugin: "/nonexistent/xla_cuda_plugin.so"}, haveNvidia: true, wantReason: "no such file"},
		{name: "plugin does not load", env: fakeEnv{}, roots: []string{root}, haveNvidia: true, wantReason: "loading PJRT plugin " + broken},
		{name: "no GPU", env: fakeEnv{}, roots: []string{root}, haveNvidia: false, wantReason: "no NVIDIA device"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			opt := tc.env.opts(tc.roots...)
			opt.haveNvidia = func() bool { return tc.haveNvidia }
			b, desc, err := newBackend("auto", log, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Finalize()
			if !strings.HasPrefix(desc, "go (") || !strings.Contains(desc, tc.wantReason) {
				t.Errorf("description %q, want the go backend and %q", desc, tc.wantReason)
			}
			if !strings.Contains(logs.String(), "level=INFO") || !strings.Contains(logs.String(), "falls back to the pure-Go backend") {
				t.Errorf("log lacks the fallback note:\n%s", logs.String())
			}
			if err := smokeTest(b); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestFindPlugins(t *testing.T) {
	root := t.TempDir()
	const so = "xla_cuda_plugin.so"
	c12 := writeFile(t, filepath.Join(root, "a/.venv/lib/python3.11/site-packages/jax_plugins/xla_cuda12", so), "")
	c13 := writeFile(t, filepath.Join(root, "b/lib/python3.12/site-packages/jax_plugins/xla_cuda13", so), "")
	dist := writeFile(t, filepath.Join(root, "c/dist-packages/jax_plugins/xla_cuda13", so), "")
	writeFile(t, filepath.Join(root, "d/.git/site-packages/jax_plugins/xla_cuda13", so), "")            // skipped dir
	writeFile(t, filepath.Join(root, "1/2/3/4/5/6/7/8/9/site-packages/jax_plugins/xla_cuda13", so), "") // too deep
	got := findPlugins(options{roots: []string{root}})
	want := []string{c13, dist, c12}
	for i := range want {
		want[i], _ = filepath.EvalSymlinks(want[i])
	}
	if !slices.Equal(got, want) {
		t.Errorf("found %q, want %q", got, want)
	}
}

func TestPrepareEnv(t *testing.T) {
	site := filepath.Join(t.TempDir(), "lib/python3.12/site-packages")
	plugin := writeFile(t, filepath.Join(site, "jax_plugins/xla_cuda13/xla_cuda_plugin.so"), "")
	writeFile(t, filepath.Join(site, "nvidia/cu13/lib/libcudart.so.13"), "")
	writeFile(t, filepath.Join(site, "nvidia/cudnn/lib/libcudnn.so.9"), "")
	tests := []struct {
		name    string
		env     fakeEnv
		want    fakeEnv
		wantLog string
	}{
		{
			name: "fresh environment",
			env:  fakeEnv{},
			want: fakeEnv{"GOMLX_NO_AUTO_INSTALL": "1", "GOPJRT_CUDA_CHECKS": "0",
				"XLA_FLAGS": "--xla_gpu_cuda_data_dir=" + filepath.Join(site, "nvidia/cu13")},
			wantLog: "scripts/gpu-env.sh",
		},
		{
			name: "set by gpu-env.sh",
			env: fakeEnv{"GOMLX_NO_AUTO_INSTALL": "1", "GOPJRT_CUDA_CHECKS": "1", "XLA_FLAGS": "--xla_gpu_cuda_data_dir=/x",
				"LD_LIBRARY_PATH": filepath.Join(site, "nvidia/cu13/lib") + ":/usr/lib"},
			want: fakeEnv{"GOMLX_NO_AUTO_INSTALL": "1", "GOPJRT_CUDA_CHECKS": "1", "XLA_FLAGS": "--xla_gpu_cuda_data_dir=/x",
				"LD_LIBRARY_PATH": filepath.Join(site, "nvidia/cu13/lib") + ":/usr/lib"},
		},
		{
			name: "other XLA flags kept",
			env:  fakeEnv{"XLA_FLAGS": "--xla_dump_to=/tmp/d"},
			want: fakeEnv{"GOMLX_NO_AUTO_INSTALL": "1", "GOPJRT_CUDA_CHECKS": "0",
				"XLA_FLAGS": "--xla_gpu_cuda_data_dir=" + filepath.Join(site, "nvidia/cu13") + " --xla_dump_to=/tmp/d"},
			wantLog: "LD_LIBRARY_PATH lacks",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			prepareEnv(plugin, slog.New(slog.NewTextHandler(&logs, nil)), tc.env.opts())
			for k, v := range tc.want {
				if tc.env[k] != v {
					t.Errorf("%s = %q, want %q", k, tc.env[k], v)
				}
			}
			if len(tc.env) != len(tc.want) {
				t.Errorf("environment %v, want %v", tc.env, tc.want)
			}
			if (tc.wantLog == "") != (logs.Len() == 0) || !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log %q, want %q", logs.String(), tc.wantLog)
			}
		})
	}
}

// TestRealPlugin runs only where a PJRT plugin is available, e.g. on a GPU
// machine under scripts/gpu-env.sh (which sets PSSR_PJRT_PLUGIN).
func TestRealPlugin(t *testing.T) {
	plugin := os.Getenv(EnvPlugin)
	if plugin == "" {
		t.Skip("PSSR_PJRT_PLUGIN not set")
	}
	for _, spec := range []string{"xla:" + plugin, "auto"} {
		b, desc, err := New(spec, slog.New(slog.NewTextHandler(os.Stderr, nil)))
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		t.Logf("%s: %s", spec, desc)
		if b.Name() != "xla" {
			t.Errorf("%s: backend %q, want xla", spec, b.Name())
		}
		b.Finalize()
	}
}
