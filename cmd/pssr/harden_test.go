package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/testimg"
	"github.com/pssr/pssr/video"
	"github.com/pssr/pssr/weights"
)

// childTools lists this process's ffmpeg and ffprobe children still
// running (or not reaped).
func childTools(t *testing.T) []string {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := strconv.Itoa(os.Getpid())
	var out []string
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		comm := s[strings.IndexByte(s, '(')+1 : i]
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == me && (comm == "ffmpeg" || comm == "ffprobe") {
			out = append(out, comm+" "+p)
		}
	}
	return out
}

// waitForEntry polls dir until it holds an entry, and reports whether one
// appeared before the deadline.
func waitForEntry(dir string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			return true
		}
	}
	return false
}

// TestUpscaleSignals sends each stop signal to the process while upscale
// writes: the run must end with exit 130 and leave no temporary file and
// no ffmpeg child behind. SIGHUP (a closed terminal) used to kill the
// process outright.
func TestUpscaleSignals(t *testing.T) {
	needFFmpeg(t)
	modelPath := fixtureModel(t, t.TempDir())
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			// Catch the signal here too, so that one the command ignores
			// fails the test instead of killing it.
			caught := make(chan os.Signal, 1)
			signal.Notify(caught, sig)
			defer signal.Stop(caught)
			outDir := t.TempDir()
			var o, e bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run([]string{"upscale", sampleClip, filepath.Join(outDir, "out.mkv"), "--model", modelPath,
					"--codec", "ffv1", "--window-t", "1", "--overlap-t", "0", "-q"}, &o, &e)
			}()
			if !waitForEntry(outDir, 60*time.Second) {
				t.Fatal("the writer never started")
			}
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			var code int
			select {
			case code = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the run did not stop")
			}
			if code != 130 || !strings.Contains(e.String(), "interrupted") {
				t.Errorf("exit %d, stderr %q; want 130 and \"interrupted\"", code, e.String())
			}
			if names := listDir(t, outDir); len(names) != 0 {
				t.Errorf("output folder holds %v", names)
			}
			if left := childTools(t); len(left) > 0 {
				t.Errorf("ffmpeg children left: %v", left)
			}
		})
	}
}

// TestUpscaleInterruptedAtStartup cancels a run while it loads and
// compiles the bundled model, which does not watch for interrupts and
// takes seconds: the command must still exit 130 at once.
func TestUpscaleInterruptedAtStartup(t *testing.T) {
	needFFmpeg(t)
	modelPath, err := filepath.Abs(filepath.Join("..", "..", "models", "pssr-tiny-x4.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(modelPath); err != nil {
		t.Skip(err)
	}
	for _, after := range []time.Duration{0, 200 * time.Millisecond, 1500 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			outDir := t.TempDir()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cancelledAt := make(chan time.Time, 1)
			timer := time.AfterFunc(after, func() { cancelledAt <- time.Now(); cancel() })
			var o, e bytes.Buffer
			// The pure-Go runtime compiles for seconds; ONNX Runtime can
			// finish the whole clip before the latest interrupt.
			code := runContext(ctx, []string{"upscale", sampleClip, filepath.Join(outDir, "out.mkv"), "--model", modelPath, "--runtime", "go", "-q"}, &o, &e)
			finished := time.Now()
			if timer.Stop() { // the interrupt never came
				if code == 0 {
					t.Skipf("the run finished before the interrupt at %v", after)
				}
				t.Fatalf("exit %d before any interrupt, stderr %q", code, e.String())
			}
			cancelled := <-cancelledAt
			if code == 0 && cancelled.After(finished) {
				t.Skipf("the run finished %v before the interrupt at %v", cancelled.Sub(finished), after)
			}
			took := finished.Sub(cancelled)
			if code != 130 || !strings.Contains(e.String(), "interrupted") {
				t.Errorf("exit %d, stderr %q; want 130 and \"interrupted\"", code, e.String())
			}
			if took > 1500*time.Millisecond {
				t.Errorf("exit took %v after the interrupt", took)
			}
			// Only the checkpoint may stay (for --resume), never a
			// temporary or partial output.
			for _, n := range listDir(t, outDir) {
				if n != ".out.mkv.pssr-ckpt" {
					t.Errorf("output folder holds %s", n)
				}
			}
		})
	}
}

// TestUpscaleOutputChecks checks OUT before any work: an extension no
// video goes into, a .png OUT for several frames, a device or FIFO with
// --overwrite, and another live writer of the same OUT. --model names a
// missing file, so a run that got as far as the model would fail with a
// model error instead.
func TestUpscaleOutputChecks(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.mkv")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	busyDir := t.TempDir()
	busyTmp := filepath.Join(busyDir, fmt.Sprintf(".out.mkv.tmp-pid%d-1.mkv", os.Getpid()))
	if err := os.WriteFile(busyTmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, out string
		want      []string
	}{
		{"gif", filepath.Join(dir, "o.gif"), []string{".gif", "--codec or OUT extension"}},
		{"jpg", filepath.Join(dir, "o.jpg"), []string{".jpg"}},
		{"y4m", filepath.Join(dir, "o.y4m"), []string{".y4m"}},
		{"wav", filepath.Join(dir, "o.wav"), []string{".wav"}},
		{"png for 8 frames", filepath.Join(dir, "o.png"), []string{"one frame", "8", "folder"}},
		{"dev null", "/dev/null", []string{"character device", "not replaced"}},
		{"fifo", fifo, []string{"FIFO", "not replaced"}},
		{"another writer", filepath.Join(busyDir, "out.mkv"), []string{"another process", strconv.Itoa(os.Getpid())}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cliFails(t, []string{"upscale", sampleClip, tc.out, "--overwrite", "--model", filepath.Join(dir, "missing.safetensors"), "-q"}, tc.want)
		})
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", st, err)
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"fifo.mkv"}) {
		t.Errorf("folder holds %v", names)
	}
}

// TestUpscaleSinglePNG upscales one PNG image into o.png: OUT must be a
// PNG image 4x the size, not a video stream named .png.
func TestUpscaleSinglePNG(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	modelPath := fixtureModel(t, dir)
	in := filepath.Join(dir, "f001.png")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=32x24", "-frames:v", "1", in)
	out := filepath.Join(dir, "o.png")
	if code, _, stderr := cli(t, "upscale", in, out, "--model", modelPath, "-q"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := png.Decode(f)
	if err != nil {
		t.Fatalf("o.png is not a PNG image: %v", err)
	}
	if m.Bounds() != image.Rect(0, 0, 128, 96) {
		t.Errorf("o.png is %v, want 128x96", m.Bounds())
	}
}

// TestUpscalePixelLimit gives upscale a decompression bomb: a frame
// folder holding a 20000x20000 PNG of about 50 KB, made here (Go's PNG
// decoder reads it; ffmpeg refuses such sizes itself). It must be refused
// from its header with an error naming --max-pixels, before any frame is
// decoded.
func TestUpscalePixelLimit(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	frames := filepath.Join(dir, "frames")
	if err := os.Mkdir(frames, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := testimg.WriteBomb(filepath.Join(frames, "bomb.png"), 20000, 20000); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.Mkdir(big, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := testimg.WriteBomb(filepath.Join(big, "big.png"), 8000, 8000); err != nil {
		t.Fatal(err)
	}
	modelPath := fixtureModel(t, dir)
	outDir := t.TempDir()
	start := time.Now()
	// Beyond any frame pssr (and ffmpeg) can hold.
	cliFails(t, []string{"upscale", frames, filepath.Join(outDir, "out"), "--model", modelPath, "-q"},
		[]string{"frames", "20000x20000", "decompression bomb"})
	// Beyond --max-pixels.
	cliFails(t, []string{"upscale", big, filepath.Join(outDir, "out"), "--model", modelPath, "-q"},
		[]string{"big", "8000x8000", "--max-pixels"})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("refusing took %v", d)
	}
	cliFails(t, []string{"upscale", sampleClip, filepath.Join(outDir, "out.mkv"), "--model", modelPath, "--max-pixels", "1000", "-q"},
		[]string{"104x60", "--max-pixels 1000"})
	if names := listDir(t, outDir); len(names) != 0 {
		t.Errorf("output folder holds %v", names)
	}
}

// TestUpscaleNaNModel runs a model whose weights are all NaN: the run must
// fail saying so instead of writing a black video.
func TestUpscaleNaNModel(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	f, err := weights.Load(fixtureModel(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Tensors {
		for j := range f.Tensors[i].Data {
			f.Tensors[i].Data[j] = float32(math.NaN())
		}
	}
	nan := filepath.Join(dir, "nan.safetensors")
	if err := weights.Save(nan, f); err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	cliFails(t, []string{"upscale", sampleClip, filepath.Join(outDir, "out.mkv"), "--model", nan, "--codec", "ffv1",
		"--mode", "base", "--window-t", "2", "--overlap-t", "0", "-q"},
		[]string{"NaN", "frame 1"})
	if names := listDir(t, outDir); len(names) != 0 {
		t.Errorf("output folder holds %v", names)
	}
}

// TestConcurrentWriterLoses finishes OUT from elsewhere while a command's
// writer runs: its Close must fail naming --overwrite (not a Go field),
// and leave the other OUT as it is.
func TestConcurrentWriterLoses(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	var of outputFlags
	w, err := of.create(t.Context(), out, &video.Info{Path: filepath.Join(dir, "in"), Folder: true, FrameRate: video.Rational{Num: 25, Den: 1}, Frames: 1}, 8, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Write(frame.New(8, 8)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(out, 0o755); err != nil { // the other run won
		t.Fatal(err)
	}
	err = w.Close()
	if err == nil || !strings.Contains(err.Error(), "--overwrite") || strings.Contains(err.Error(), "set Overwrite") {
		t.Errorf("Close: %v, want an error naming --overwrite", err)
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"out"}) {
		t.Errorf("folder holds %v", names)
	}
}

// TestUpscaleHostileModel passes files that are no model as --model: each
// must fail at once with an error naming --model and the problem, without
// reading the file whole.
func TestUpscaleHostileModel(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	big := filepath.Join(dir, "big.mp4")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("\x00\x00\x00\x20ftypisom"))
	if err := f.Truncate(4 << 30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct{ name, path, want string }{
		{"dev zero", "/dev/zero", "not a regular file"},
		{"4 GiB video", big, "implausible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			cliFails(t, []string{"upscale", sampleClip, filepath.Join(t.TempDir(), "out.mkv"), "--model", tc.path, "-q"},
				[]string{"--model", tc.path, tc.want})
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("refusing took %v", d)
			}
		})
	}
}

// TestUpscaleMaxMemory checks --max-memory: a budget nothing fits and a
// malformed one are refused before any work (the model file given does
// not matter: only its header is read), and a budget that needs smaller
// windows gives them, with the same output frame count.
func TestUpscaleMaxMemory(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	modelPath := fixtureModel(t, dir)
	outDir := t.TempDir()
	cliFails(t, []string{"upscale", sampleClip, filepath.Join(outDir, "out.mkv"), "--model", modelPath, "--max-memory", "100M", "-q"},
		[]string{"--max-memory 100M", "need about", "--window-t"})
	cliFails(t, []string{"upscale", sampleClip, filepath.Join(outDir, "out.mkv"), "--model", modelPath, "--max-memory", "lots", "-q"},
		[]string{"--max-memory", "lots", "8G"})
	if names := listDir(t, outDir); len(names) != 0 {
		t.Errorf("output folder holds %v", names)
	}
	out := filepath.Join(outDir, "fit.mkv")
	// The pure-Go runtime's memory model (ONNX Runtime's, when installed,
	// starts above this budget).
	code, _, stderr := cli(t, "upscale", sampleClip, out, "--model", modelPath, "--mode", "base", "--codec", "ffv1", "--max-memory", "300M", "--runtime", "go", "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "memory budget") || !strings.Contains(stderr, "window_t=") {
		t.Errorf("no word of the smaller windows: %s", stderr)
	}
	if info, _ := readAll(t, out); info.Frames != 8 {
		t.Errorf("%d frames out, want 8", info.Frames)
	}
}

// TestUpscaleAlphaWarns upscales PNG frames with transparency: the run
// must say that the alpha channel is dropped.
func TestUpscaleAlphaWarns(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	modelPath := fixtureModel(t, dir)
	frames := filepath.Join(dir, "frames")
	if err := os.Mkdir(frames, 0o755); err != nil {
		t.Fatal(err)
	}
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=32x24", "-frames:v", "2", "-pix_fmt", "rgba", filepath.Join(frames, "%03d.png"))
	code, _, stderr := cli(t, "upscale", frames, filepath.Join(dir, "out"), "--model", modelPath, "--mode", "base", "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "alpha channel") || !strings.Contains(stderr, "dropped") {
		t.Errorf("no warning about the dropped alpha channel: %s", stderr)
	}
}
