package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pssr/pssr/checkpoint"
	"github.com/pssr/pssr/internal/fixture"
)

// The resume tests use an active fixture model (random weights, every
// layer live: a test fixture, not a trained model), so each output frame
// depends on the whole window it was computed in, and windows of 3 frames
// overlapping by 1 over the 8-frame sample: 4 windows, cross-faded.

// resumeArgs are the upscale flags of the resume tests.
func resumeArgs(modelPath string) []string {
	return []string{"--model", modelPath, "--scale", "2", "--window-t", "3", "--overlap-t", "1", "-q"}
}

// windowsDone reads the windows_done of out's checkpoint manifest (0 when
// there is none yet).
func windowsDone(out string) int {
	data, err := os.ReadFile(filepath.Join(checkpoint.DirFor(out), "manifest.json"))
	if err != nil {
		return 0
	}
	var m checkpoint.Manifest
	if json.Unmarshal(data, &m) != nil {
		return 0
	}
	return m.Windows
}

// waitWindows polls out's checkpoint until it has at least n finished
// windows, or fails after a minute or when done is closed first.
func waitWindows(t *testing.T, out string, n int, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for windowsDone(out) < n {
		select {
		case <-done:
			t.Fatalf("the run ended before %d windows were checkpointed", n)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d checkpointed windows after a minute", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sameFrames fails unless the videos at a and b decode to bit-identical
// frames.
func sameFrames(t *testing.T, a, b string) {
	t.Helper()
	_, fa := readAll(t, a)
	_, fb := readAll(t, b)
	if len(fa) != len(fb) || len(fa) == 0 {
		t.Fatalf("%s has %d frames, %s %d", a, len(fa), b, len(fb))
	}
	for i := range fa {
		if !slices.Equal(fa[i].ToRGB24(nil), fb[i].ToRGB24(nil)) {
			t.Fatalf("frame %d of %s differs from %s", i, b, a)
		}
	}
}

func TestUpscaleResume(t *testing.T) {
	needFFmpeg(t)
	modelPath, ref := active(t)
	if names := listDir(t, filepath.Dir(ref)); slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, ".pssr-ckpt") }) {
		t.Errorf("the checkpoint of a finished run was not removed: %v", names)
	}
	for _, codec := range []string{"ffv1", "png"} {
		t.Run(codec, func(t *testing.T) {
			out := t.TempDir()
			name := "x2.mkv"
			if codec == "png" {
				name = "x2"
			}
			args := append(resumeArgs(modelPath), "--codec", codec)
			// Interrupt after two finished windows, the way Ctrl-C does.
			got := filepath.Join(out, name)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			var o, e bytes.Buffer
			go func() {
				defer close(done)
				runContext(ctx, append([]string{"upscale", sampleClip, got}, args...), &o, &e)
			}()
			waitWindows(t, got, 2, done)
			cancel()
			<-done
			if _, err := os.Stat(got); err == nil {
				t.Fatal("the interrupted run wrote OUT")
			}
			before := windowsDone(got)
			if before < 2 || before >= 4 {
				t.Fatalf("%d windows checkpointed, want 2 or 3 of 4", before)
			}
			// Without --resume the checkpoint is refused, and nothing changes.
			cliFails(t, append([]string{"upscale", sampleClip, got}, args...), []string{"checkpoint", "--resume"})
			code, _, stderr := cli(t, append([]string{"upscale", sampleClip, got, "--resume", "--log-level", "debug"}, args...)...)
			if code != 0 {
				t.Fatalf("--resume: exit %d: %s", code, stderr)
			}
			if !strings.Contains(stderr, "resuming") {
				t.Errorf("--resume did not resume: %s", stderr)
			}
			if _, err := os.Stat(checkpoint.DirFor(got)); err == nil {
				t.Error("the checkpoint was not removed after the resumed run")
			}
			// The PNG frames decode to the same 8-bit frames as the
			// uninterrupted run's FFV1 output.
			sameFrames(t, ref, got)
		})
	}
}

// TestUpscaleResumeRefused checks that a checkpoint is only continued by the
// same input, model and options.
func TestUpscaleResumeRefused(t *testing.T) {
	needFFmpeg(t)
	modelPath, _ := active(t)
	other := fixture.Model(t, t.TempDir(), false)
	out := filepath.Join(t.TempDir(), "x2.mkv")
	args := append(resumeArgs(modelPath), "--codec", "ffv1")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	var o, e bytes.Buffer
	go func() {
		defer close(done)
		runContext(ctx, append([]string{"upscale", sampleClip, out}, args...), &o, &e)
	}()
	waitWindows(t, out, 1, done)
	cancel()
	<-done
	otherClip := filepath.Join(t.TempDir(), "other.mp4")
	ffmpeg(t, "-i", sampleClip, "-vf", "hflip", "-c:a", "copy", otherClip)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"other options", append(slices.Clone(args), "--alpha", "0.5"), []string{"another run", "other options", "Alpha"}},
		{"other model", append(slices.Clone(args), "--model", other), []string{"another run", "another model"}},
		{"other input", nil, []string{"another run", "another input"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sampleClip
			a := tc.args
			if a == nil {
				in, a = otherClip, args
			}
			cliFails(t, append([]string{"upscale", in, out, "--resume"}, a...), tc.want)
			if windowsDone(out) == 0 {
				t.Fatal("a refused resume removed the checkpoint")
			}
		})
	}
}

// TestUpscaleResumeAfterSIGKILL kills a real pssr process with SIGKILL in
// the middle of a run and resumes it: the output is bit-exact with an
// uninterrupted run's (FFV1), and no temporary file is left.
func TestUpscaleResumeAfterSIGKILL(t *testing.T) {
	needFFmpeg(t)
	modelPath, ref := active(t)
	outDir := t.TempDir()
	got := filepath.Join(outDir, "got.mkv")
	args := append(resumeArgs(modelPath), "--codec", "ffv1")
	cmd := exec.Command(os.Args[0], append([]string{"upscale", sampleClip, got}, args...)...)
	cmd.Env = append(os.Environ(), "PSSR_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	waitWindows(t, got, 2, done)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the process was not killed by SIGKILL: %v; %s", cmd.ProcessState, stderr.String())
	}
	if _, err := os.Stat(got); err == nil {
		t.Fatal("the killed run wrote OUT")
	}
	code, _, serr := cli(t, append([]string{"upscale", sampleClip, got, "--resume"}, args...)...)
	if code != 0 {
		t.Fatalf("--resume: exit %d: %s", code, serr)
	}
	sameFrames(t, ref, got)
	if names := listDir(t, outDir); !slices.Equal(names, []string{"got.mkv"}) {
		t.Errorf("the output folder holds %v, want only got.mkv", names)
	}
}
