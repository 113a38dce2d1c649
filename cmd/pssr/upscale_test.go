package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/video"
	"github.com/pssr/pssr/weights"
)

// The upscale tests run the CLI in-process on the bundled sample clip
// (testdata/sample.mp4: 104x60, 8 real frames at 25 fps, with an AAC sine
// track) and on its frames as a PNG folder, with a model of
// model.Fixture() sizes and random weights written to a temporary file: a
// test fixture, not a trained model.
//
// A freshly initialised model has zero-initialised velocity heads and a
// zero-initialised decoder output layer, so whatever its random weights it
// returns the bicubic upsampling of its input exactly. The end-to-end tests
// use that to check the content of every output frame, not only its shape.

var sampleClip = filepath.Join("..", "..", "testdata", "sample.mp4")

// fixtureModel writes a random-weight model.Fixture() model (a test
// fixture) into dir and returns its path.
func fixtureModel(t *testing.T, dir string) string {
	t.Helper()
	be, _, err := backend.New("go", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Finalize()
	m, err := model.New(be, model.Fixture(), 5)
	if err != nil {
		t.Fatal(err)
	}
	m.Metadata["note"] = "test fixture: random weights, not a trained model"
	path := filepath.Join(dir, "fixture.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// mismatchedModel writes a copy of the model file at src with one tensor's
// first dimension grown by one, and returns the copy's path and the name of
// that tensor.
func mismatchedModel(t *testing.T, src, dir string) (path, tensor string) {
	t.Helper()
	f, err := weights.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Tensors {
		tn := &f.Tensors[i]
		if strings.HasPrefix(tn.Name, model.ScopeBase+"/") && len(tn.Shape) == 2 {
			tn.Shape = []int{tn.Shape[0] + 1, tn.Shape[1]}
			tn.Data = make([]float32, tn.Shape[0]*tn.Shape[1])
			tensor = tn.Name
			break
		}
	}
	if tensor == "" {
		t.Fatal("the fixture has no rank-2 base tensor")
	}
	path = filepath.Join(dir, "mismatched.safetensors")
	if err := weights.Save(path, f); err != nil {
		t.Fatal(err)
	}
	return path, tensor
}

// bicubic returns frames upsampled by scale as the pipeline does before its
// networks: what an identity model outputs.
func bicubic(frames []*frame.Image, scale int) []*frame.Image {
	out := make([]*frame.Image, len(frames))
	for i, f := range frames {
		out[i] = frame.Resize(f, f.W*scale, f.H*scale, frame.Bicubic).Clamp()
	}
	return out
}

func TestUpscale(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	modelPath := fixtureModel(t, dir)
	// The sample's frames as a folder (the 416x240 originals would cost
	// 16 times the pixels at x4).
	framesDir := filepath.Join(dir, "frames")
	if err := os.Mkdir(framesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ffmpeg(t, "-i", sampleClip, filepath.Join(framesDir, "%03d.png"))
	tests := []struct {
		name      string
		in        string
		out       string // name of OUT in an empty folder
		args      []string
		scale     int
		wantCodec string
		wantAudio bool
	}{
		{"x4 to ffv1 mkv", sampleClip, "x4.mkv", []string{"--codec", "ffv1"}, 4, "ffv1", true},
		// 208x120 output in overlapping 64-pixel tiles.
		{"x2 in tiles to ffv1 mkv", sampleClip, "x2.mkv", []string{"--codec", "ffv1", "--scale", "2", "--tile", "64", "--tile-overlap", "16"}, 2, "ffv1", true},
		{"x4 to png folder", sampleClip, "x4", nil, 4, "png", false},
		{"frame folder x2 to png folder", framesDir, "frames-x2", []string{"--scale", "2", "--codec", "png"}, 2, "png", false},
		{"per-step fusion", sampleClip, "per-step.mkv", []string{"--codec", "ffv1", "--fuse", "per-step"}, 4, "ffv1", true},
		// Windows of 3 frames overlapping by 1 also exercise the cross-fade.
		// Resize, fusion and crop inside the graphs, windows cross-faded.
		{"device ops in windows", sampleClip, "device.mkv", []string{"--codec", "ffv1", "--device-ops", "device", "--window-t", "3", "--overlap-t", "1"}, 4, "ffv1", true},
		{"one draft step in windows", sampleClip, "draft1.mkv", []string{"--codec", "ffv1", "--draft-steps", "1", "--window-t", "3", "--overlap-t", "1"}, 4, "ffv1", true},
		{"decoder mode", sampleClip, "decoder.mkv", []string{"--codec", "ffv1", "--mode", "decoder"}, 4, "ffv1", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outDir := t.TempDir()
			out := filepath.Join(outDir, tc.out)
			args := append([]string{"upscale", tc.in, out, "--model", modelPath, "-q"}, tc.args...)
			code, stdout, stderr := cli(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if names := listDir(t, outDir); !slices.Equal(names, []string{tc.out}) {
				t.Errorf("output folder holds %v, want only %s", names, tc.out)
			}
			inInfo, err := video.Probe(t.Context(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := video.Probe(t.Context(), out)
			if err != nil {
				t.Fatal(err)
			}
			if got.Width != inInfo.Width*tc.scale || got.Height != inInfo.Height*tc.scale {
				t.Errorf("output %dx%d, want %dx%d", got.Width, got.Height, inInfo.Width*tc.scale, inInfo.Height*tc.scale)
			}
			if got.Frames != 8 || inInfo.Frames != 8 {
				t.Errorf("output has %d frames, input %d; want 8 and 8", got.Frames, inInfo.Frames)
			}
			if want := (video.Rational{Num: 25, Den: 1}); got.FrameRate != want || inInfo.FrameRate != want {
				t.Errorf("output frame rate %s, input %s; want %s", got.FrameRate, inInfo.FrameRate, want)
			}
			if got.Codec != tc.wantCodec {
				t.Errorf("output codec %q, want %q", got.Codec, tc.wantCodec)
			}
			if tc.wantAudio && !slices.Equal(got.AudioCodecs, []string{"aac"}) {
				t.Errorf("output audio %v, want the input's aac stream copied", got.AudioCodecs)
			}
			if !tc.wantAudio && got.HasAudio {
				t.Errorf("output has audio %v", got.AudioCodecs)
			}
			_, lq := readAll(t, tc.in)
			_, sr := readAll(t, out)
			if d := fixture.MaxDiff(t, bicubic(lq, tc.scale), sr); d > 1.0/255+1e-6 {
				t.Errorf("a fresh model's output differs from the bicubic upsampling by %v (> 1/255)", d)
			}
		})
	}
}

func TestUpscaleErrors(t *testing.T) {
	needFFmpeg(t)
	inputs := t.TempDir()
	modelPath := fixtureModel(t, inputs)
	badModel, badTensor := mismatchedModel(t, modelPath, inputs)

	sample, err := filepath.Abs(sampleClip)
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(inputs, "missing.mp4")
	corrupt := filepath.Join(inputs, "corrupt.mp4")
	junk := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range junk {
		junk[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(corrupt, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	// A YUV4MPEG2 header without frames: a video stream with no frames.
	noFrames := filepath.Join(inputs, "no-frames.y4m")
	if err := os.WriteFile(noFrames, []byte("YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	emptyDir := filepath.Join(inputs, "empty")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	audioOnly := filepath.Join(inputs, "audio.m4a")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=d=0.2", audioOnly)
	emptyPath := t.TempDir()

	tests := []struct {
		name string
		// args follow "upscale"; "OUT" becomes out.mkv in an empty folder
		// and "IN" the sample clip, copied into that folder when inOut is
		// set (OUT equal to IN).
		args  []string
		noFix bool              // no --model
		env   map[string]string // set for the case
		chdir bool              // run in an empty working folder
		inOut bool
		want  []string
	}{
		{name: "scale 3", args: []string{"IN", "OUT", "--scale", "3"}, want: []string{"unsupported scale 3", "--scale must be 2 or 4"}},
		{name: "draft steps -1", args: []string{"IN", "OUT", "--draft-steps", "-1"}, want: []string{"--draft-steps", "-1 out of range"}},
		{name: "alpha 5", args: []string{"IN", "OUT", "--alpha", "5"}, want: []string{"alpha must be in [0, 2]", "got 5"}},
		{name: "window 0", args: []string{"IN", "OUT", "--window-t", "0"}, want: []string{"--window-t 0 out of range"}},
		{name: "overlap equals window", args: []string{"IN", "OUT", "--window-t", "4", "--overlap-t", "4"}, want: []string{"--overlap-t 4", "[0, --window-t)"}},
		{name: "overlap above window", args: []string{"IN", "OUT", "--window-t", "4", "--overlap-t", "9"}, want: []string{"--overlap-t 9", "[0, --window-t)"}},
		{name: "device ops", args: []string{"IN", "OUT", "--device-ops", "gpu"}, want: []string{"--device-ops", "gpu", "auto, device or host"}},
		{name: "tile 8", args: []string{"IN", "OUT", "--tile", "8"}, want: []string{"--tile 8 out of range"}},
		{name: "OUT is IN", args: []string{"IN", "IN", "--overwrite"}, inOut: true, want: []string{"is the input", "in.mp4"}},
		{name: "missing input", args: []string{missing, "OUT"}, want: []string{"missing.mp4", "no such file"}},
		{name: "corrupt input", args: []string{corrupt, "OUT"}, want: []string{"corrupt.mp4", "not a readable video"}},
		{name: "zero-frame video", args: []string{noFrames, "OUT"}, want: []string{"no-frames.y4m", "no video frames", "has no frames"}},
		{name: "empty frame folder", args: []string{emptyDir, "OUT"}, want: []string{"empty", "no video frames", "holds no .png"}},
		{name: "audio only", args: []string{audioOnly, "OUT"}, want: []string{"audio.m4a", "no video stream"}},
		{name: "missing model file", args: []string{"IN", "OUT", "--model", "/nonexistent"}, noFix: true, want: []string{"--model", "/nonexistent", "no such file"}},
		{name: "mismatched model file", args: []string{"IN", "OUT", "--model", badModel}, noFix: true, want: []string{"--model", "mismatched.safetensors", badTensor, "shape"}},
		{name: "PSSR_MODEL missing", args: []string{"IN", "OUT"}, noFix: true,
			env: map[string]string{"PSSR_MODEL": filepath.Join(inputs, "gone.safetensors")}, want: []string{"$PSSR_MODEL", "gone.safetensors", "no such file"}},
		{name: "no default model", args: []string{"IN", "OUT"}, noFix: true, env: map[string]string{"PSSR_MODEL": ""}, chdir: true,
			want: []string{"no default model is installed", "--model FILE"}},
		{name: "ffmpeg not installed", args: []string{"IN", "OUT"}, env: map[string]string{"PATH": emptyPath}, want: []string{"ffmpeg", "not found"}},
	}
	before := listDir(t, inputs)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			outDir := t.TempDir()
			in := sample
			var wantLeft []string
			if tc.inOut {
				in = filepath.Join(outDir, "in.mp4")
				b, err := os.ReadFile(sample)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(in, b, 0o644); err != nil {
					t.Fatal(err)
				}
				wantLeft = []string{"in.mp4"}
			}
			if tc.chdir {
				t.Chdir(t.TempDir())
				if p, err := model.DefaultPath(); err == nil {
					t.Skipf("a default model is installed where the lookup reaches: %s", p)
				}
			}
			args := []string{"upscale"}
			for _, a := range tc.args {
				switch a {
				case "IN":
					a = in
				case "OUT":
					a = filepath.Join(outDir, "out.mkv")
				}
				args = append(args, a)
			}
			if !tc.noFix {
				args = append(args, "--model", modelPath)
			}
			cliFails(t, append(args, "-q"), tc.want)
			if names := listDir(t, outDir); !slices.Equal(names, wantLeft) {
				t.Errorf("output folder holds %v after the failure, want %v", names, wantLeft)
			}
			if tc.inOut {
				a, _ := os.ReadFile(sample)
				b, _ := os.ReadFile(in)
				if !bytes.Equal(a, b) {
					t.Errorf("the input was changed")
				}
			}
			if names := listDir(t, inputs); !slices.Equal(names, before) {
				t.Errorf("input folder changed: %v, was %v", names, before)
			}
		})
	}
}

// TestUpscaleInterrupted cancels runs mid-way, the way SIGINT does: once the
// writer has started and once frames have been written (windows of one frame
// make the run emit frames long before its end). Nothing may be left at OUT
// or next to it but the checkpoint, and --resume must then finish the run
// and remove it.
func TestUpscaleInterrupted(t *testing.T) {
	needFFmpeg(t)
	modelPath := fixtureModel(t, t.TempDir())
	tests := []struct {
		name string
		out  string
		// ready reports whether to cancel, given the output folder's one
		// entry (the writer's temporary file or folder).
		ready func(fi os.FileInfo, path string) bool
	}{
		{"ffv1 when the writer starts", "out.mkv", func(os.FileInfo, string) bool { return true }},
		{"ffv1 after frames", "out.mkv", func(fi os.FileInfo, _ string) bool { return fi.Size() > 0 }},
		{"png folder after frames", "out", func(fi os.FileInfo, path string) bool {
			ents, _ := os.ReadDir(path)
			return fi.IsDir() && len(ents) > 0
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outDir := t.TempDir()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cancelled := make(chan struct{})
			stopWatch := make(chan struct{})
			go func() {
				tick := time.NewTicker(2 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stopWatch:
						return
					case <-tick.C:
					}
					ents, _ := os.ReadDir(outDir)
					for _, e := range ents {
						if strings.HasSuffix(e.Name(), ".pssr-ckpt") {
							continue
						}
						p := filepath.Join(outDir, e.Name())
						if fi, err := os.Stat(p); err == nil && tc.ready(fi, p) {
							cancel()
							close(cancelled)
							return
						}
					}
				}
			}()
			var o, e bytes.Buffer
			args := []string{"upscale", sampleClip, filepath.Join(outDir, tc.out), "--model", modelPath,
				"--codec", string(video.CodecForPath(tc.out)), "--window-t", "1", "--overlap-t", "0", "-q"}
			code := runContext(ctx, args, &o, &e)
			close(stopWatch)
			select {
			case <-cancelled:
			default:
				t.Fatalf("the run ended (exit %d) before it was cancelled: %s", code, e.String())
			}
			if code != 130 || !strings.Contains(e.String(), "interrupted") {
				t.Errorf("exit %d, stderr %q; want 130 and \"interrupted\"", code, e.String())
			}
			ck := "." + tc.out + ".pssr-ckpt"
			if names := listDir(t, outDir); len(names) > 1 || len(names) == 1 && names[0] != ck {
				t.Errorf("output folder holds %v after the interruption, want at most %s", names, ck)
			}
			code = runContext(t.Context(), append(args, "--resume"), &o, &e)
			if code != 0 {
				t.Fatalf("--resume: exit %d: %s", code, e.String())
			}
			if names := listDir(t, outDir); len(names) != 1 || names[0] != tc.out {
				t.Errorf("after --resume the output folder holds %v, want only %s", names, tc.out)
			}
		})
	}
}
