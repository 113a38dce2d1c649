package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/pssr/pssr/internal/fixture"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The scale-out tests run `pssr serve --nats embedded` and `pssr worker`s as
// real processes (the test binary, see TestMain) on loopback and compare
// their output with `pssr upscale`'s: a 100-frame 32x24 clip with audio,
// the active fixture model (random weights, every layer live: a test
// fixture, not a trained model), x2, windows of 8 frames overlapping by 3
// (20 windows), 2 windows a chunk (10 chunks).

// scaleArgs are the upscale options of the scale-out tests, as flags.
var scaleArgs = [][2]string{{"scale", "2"}, {"window-t", "8"}, {"overlap-t", "3"}, {"codec", "ffv1"}}

var (
	scaleOnce                     sync.Once
	scaleClip, scaleRef, scaleErr string
)

// scaleFixture returns the 100-frame clip and the FFV1 output of
// `pssr upscale` on it with scaleArgs, made once.
func scaleFixture(t *testing.T) (modelPath, clip, ref string) {
	t.Helper()
	modelPath, _ = active(t)
	scaleOnce.Do(func() {
		scaleClip = filepath.Join(shared, "clip100.mp4")
		ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=32x24:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000",
			"-frames:v", "100", "-t", "4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", scaleClip)
		scaleRef = filepath.Join(shared, "clip100-ref.mkv")
		args := []string{"upscale", scaleClip, scaleRef, "--model", modelPath, "--runtime", "go", "-q"} // the workers run GoMLX: the same runtime, bit-exact
		for _, kv := range scaleArgs {
			args = append(args, "--"+kv[0], kv[1])
		}
		var o, e bytes.Buffer
		if code := run(args, &o, &e); code != 0 {
			scaleErr = fmt.Sprintf("pssr upscale: exit %d: %s", code, e.String())
		}
	})
	if scaleErr != "" {
		t.Fatal(scaleErr)
	}
	return modelPath, scaleClip, scaleRef
}

// proc is a pssr process started from the test binary, its stderr kept.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  bytes.Buffer
	line chan string
}

// startProc starts pssr with args and env.
func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "PSSR_TEST_MAIN=1"), env...)
	pr, pw := io.Pipe()
	cmd.Stderr, cmd.Stdout = pw, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), line: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.line <- sc.Text():
			default:
			}
		}
	}()
	go func() { cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL and waits for the process.
func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// stderr returns what the process logged so far.
func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// freePort returns a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// scaleServe starts `pssr serve --nats embedded` on data and returns it
// with its URL.
func scaleServe(t *testing.T, data, modelPath string, natsPort int, extra ...string) (*proc, string) {
	t.Helper()
	p := startProc(t, nil, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--model", modelPath,
		"--nats", "embedded", "--nats-addr", fmt.Sprintf("127.0.0.1:%d", natsPort), "--ack-wait", "2s",
		"--chunk-windows", "2", "--allow-root", shared}, extra...)...)
	deadline := time.After(time.Minute)
	for {
		select {
		case l := <-p.line:
			if u, ok := strings.CutPrefix(l, "pssr serve: listening on "); ok {
				return p, u
			}
		case <-p.done:
			t.Fatalf("pssr serve exited: %s", p.stderr())
		case <-deadline:
			t.Fatalf("pssr serve did not listen within a minute: %s", p.stderr())
		}
	}
}

// scaleWorker starts `pssr worker` named name on the NATS port.
func scaleWorker(t *testing.T, natsPort int, name string, env ...string) *proc {
	t.Helper()
	return startProc(t, env, "worker", "--nats", fmt.Sprintf("nats://127.0.0.1:%d", natsPort), "--name", name,
		"--cache", filepath.Join(t.TempDir(), "cache"))
}

// scaleJob is the part of a job's JSON the scale-out tests read.
type scaleJob struct {
	State      string `json:"state"`
	FramesDone int    `json:"frames_done"`
	Runs       int    `json:"runs"`
	Error      string `json:"error"`
	Chunks     []struct {
		Index   int    `json:"index"`
		State   string `json:"state"`
		Worker  string `json:"worker"`
		Attempt int    `json:"attempt"`
	} `json:"chunks"`
}

// submitPath submits the file at path (under the shared folder) with
// scaleArgs and returns the job's URL.
func submitPath(t *testing.T, url, path string) string {
	t.Helper()
	return submitPathArgs(t, url, path, scaleArgs)
}

// submitPathArgs submits the file at path with the settings args.
func submitPathArgs(t *testing.T, url, path string, args [][2]string) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, kv := range args {
		mw.WriteField(kv[0], kv[1])
	}
	mw.WriteField("path", path)
	mw.Close()
	res, err := http.Post(url+"/v1/jobs", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var sub struct{ ID, Error string }
	json.NewDecoder(res.Body).Decode(&sub)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d %s", res.StatusCode, sub.Error)
	}
	return url + "/v1/jobs/" + sub.ID
}

// getJob reads a job; ok is false when the server does not answer.
func getJob(jobURL string) (j scaleJob, ok bool) {
	res, err := http.Get(jobURL)
	if err != nil {
		return j, false
	}
	defer res.Body.Close()
	return j, json.NewDecoder(res.Body).Decode(&j) == nil
}

// waitJob polls the job until cond holds (or it fails), for at most a
// minute, and returns it.
func waitJob(t *testing.T, jobURL string, what string, cond func(scaleJob) bool, logs ...*proc) scaleJob {
	t.Helper()
	deadline := time.Now().Add(scaleWait)
	for {
		j, ok := getJob(jobURL)
		if ok && cond(j) {
			return j
		}
		if ok && (j.State == "failed" || j.State == "canceled") {
			t.Fatalf("job %s: %s", j.State, j.Error)
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, p := range logs {
				b.WriteString(p.stderr())
			}
			t.Fatalf("job not %s after %v: %+v\n%s", what, scaleWait, j, b.String())
		}
		time.Sleep(scalePoll)
	}
}

// scaleWait bounds waitJob; scalePoll is its polling interval.
var (
	scaleWait = time.Minute
	scalePoll = 20 * time.Millisecond
)

func isDone(j scaleJob) bool { return j.State == "done" }

// fetchResult downloads a done job's result and checks it is bit-exact with
// ref and carries the input's audio.
func checkResult(t *testing.T, jobURL, ref string) (got string) {
	t.Helper()
	res, err := http.Get(jobURL + "/result")
	if err != nil {
		t.Fatal(err)
	}
	got = filepath.Join(t.TempDir(), "got.mkv")
	f, _ := os.Create(got)
	io.Copy(f, res.Body)
	f.Close()
	res.Body.Close()
	sameFrames(t, ref, got)
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", got).Output()
	if err != nil || !strings.Contains(string(out), "audio") {
		t.Errorf("the result has no audio stream: %q %v", out, err)
	}
	return got
}

var chunkDoneRe = regexp.MustCompile(`msg="cluster: chunk done".* chunk=(\d+) attempt=(\d+)`)

// chunksDone returns, for each chunk number, how many times the procs
// logged it done.
func chunksDone(procs ...*proc) map[string]int {
	m := map[string]int{}
	for _, p := range procs {
		for _, s := range chunkDoneRe.FindAllStringSubmatch(p.stderr(), -1) {
			m[s[1]]++
		}
	}
	return m
}

// TestScaleOut splits the clip across three worker processes: the result
// is bit-exact with pssr upscale, every chunk is computed exactly once, the
// API shows which worker holds which chunk, and submitting the same job
// again computes nothing.
func TestScaleOut(t *testing.T) {
	needFFmpeg(t)
	modelPath, clip, ref := scaleFixture(t)
	port := freePort(t)
	srv, url := scaleServe(t, t.TempDir(), modelPath, port)
	var ws []*proc
	for _, n := range []string{"w1", "w2", "w3"} {
		ws = append(ws, scaleWorker(t, port, n))
	}
	job := submitPath(t, url, clip)
	var seen []string
	j := waitJob(t, job, "done", func(j scaleJob) bool {
		for _, c := range j.Chunks {
			if c.State == "running" && c.Worker != "" {
				seen = append(seen, c.Worker)
			}
		}
		return isDone(j)
	}, append(ws, srv)...)
	if j.FramesDone != 100 {
		t.Errorf("%d frames done, want 100", j.FramesDone)
	}
	if len(seen) == 0 {
		t.Error("the API never showed a running chunk with its worker")
	}
	checkResult(t, job, ref)
	done := chunksDone(ws...)
	if len(done) != 10 {
		t.Fatalf("chunks done: %v, want 10 chunks", done)
	}
	for c, n := range done {
		if n != 1 {
			t.Errorf("chunk %s computed %d times", c, n)
		}
	}
	// The same job again: the workers compute nothing, the result is the same.
	job2 := submitPath(t, url, clip)
	waitJob(t, job2, "done", isDone, append(ws, srv)...)
	checkResult(t, job2, ref)
	if again := chunksDone(ws...); len(again) != 10 || fmt.Sprint(again) != fmt.Sprint(done) {
		t.Errorf("after the second submission: %v, before %v", again, done)
	}
	if !strings.Contains(srv.stderr(), "published=0") {
		t.Errorf("the second job published chunks:\n%s", srv.stderr())
	}
}

// TestScaleOutKilledWorker kills one of two workers with SIGKILL while it
// computes a chunk: the other worker redoes it after the ack wait and the
// result is still bit-exact.
func TestScaleOutKilledWorker(t *testing.T) {
	needFFmpeg(t)
	modelPath, clip, ref := scaleFixture(t)
	port := freePort(t)
	srv, url := scaleServe(t, t.TempDir(), modelPath, port)
	w1, w2 := scaleWorker(t, port, "w1"), scaleWorker(t, port, "w2")
	job := submitPath(t, url, clip)
	killed := -1
	waitJob(t, job, "running a chunk on w1", func(j scaleJob) bool {
		for _, c := range j.Chunks {
			if c.State == "running" && c.Worker == "w1" {
				killed = c.Index
				return true
			}
		}
		return false
	}, srv, w1, w2)
	w1.kill()
	waitJob(t, job, "done", isDone, srv, w2)
	checkResult(t, job, ref)
	if n := chunksDone(w1)[fmt.Sprint(killed)]; n != 0 {
		t.Fatalf("w1 finished chunk %d before it was killed; the test did not kill it mid-chunk", killed)
	}
	if !regexp.MustCompile(fmt.Sprintf(`msg="cluster: chunk done".* chunk=%d attempt=[2-9]`, killed)).MatchString(w2.stderr()) {
		t.Errorf("w2 did not redo chunk %d on a later delivery:\n%s", killed, w2.stderr())
	}
	if done := settledChunks(func() map[string]int { return chunksDone(w1, w2) }); len(done) != 10 {
		t.Errorf("chunks done: %v, want all 10", done)
	}
}

// TestScaleOutCoordinatorRestart kills pssr serve (the coordinator and its
// embedded JetStream server) with SIGKILL in the middle of a job and starts
// it again on the same data and port: the workers reconnect, the job picks
// up the chunks already done and completes bit-exact.
func TestScaleOutCoordinatorRestart(t *testing.T) {
	needFFmpeg(t)
	modelPath, clip, ref := scaleFixture(t)
	port, data := freePort(t), t.TempDir()
	srv, url := scaleServe(t, data, modelPath, port)
	w1, w2 := scaleWorker(t, port, "w1"), scaleWorker(t, port, "w2")
	job := submitPath(t, url, clip)
	waitJob(t, job, "3 chunks done", func(j scaleJob) bool {
		n := 0
		for _, c := range j.Chunks {
			if c.State == "done" {
				n++
			}
		}
		return n >= 3
	}, srv, w1, w2)
	srv.kill()
	srv2, url2 := scaleServe(t, data, modelPath, port)
	job = strings.Replace(job, url, url2, 1)
	j := waitJob(t, job, "done", isDone, srv2, w1, w2)
	if j.Runs != 2 {
		t.Errorf("the job ran %d times, want 2", j.Runs)
	}
	checkResult(t, job, ref)
	if !strings.Contains(srv2.stderr(), "cluster: job found in the store") {
		t.Errorf("the restarted coordinator did not pick the job up from the store:\n%s", srv2.stderr())
	}
	// A chunk whose frames were uploaded while the coordinator was down is
	// computed once: its state is recorded on a later delivery.
	done := settledChunks(func() map[string]int {
		done := chunksDone(w1, w2)
		for _, p := range []*proc{w1, w2} {
			for _, s := range chunkComputedRe.FindAllStringSubmatch(p.stderr(), -1) {
				done[s[1]]++
			}
		}
		return done
	})
	if len(done) != 10 {
		t.Errorf("chunks computed: %v, want all 10\n%s\n%s", done, w1.stderr(), w2.stderr())
	}
}

// settledChunks reads the workers' logs with count until they name all 10
// chunks of the test job, or 10 s pass: a job is done when the coordinator
// has a chunk's frames, and its worker logs "chunk done" only after its
// ack, a moment later.
func settledChunks(count func() map[string]int) map[string]int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := count()
		if len(done) == 10 || time.Now().After(deadline) {
			return done
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var chunkComputedRe = regexp.MustCompile(`msg="cluster: chunk computed, its state not recorded; handed back".* chunk=(\d+) attempt=(\d+)`)

// TestScaleOutORT runs a job with serve --runtime ort: the workers take
// the runtime from the job and run the networks on ONNX Runtime, and the
// output is bit-exact with pssr upscale --runtime ort.
func TestScaleOutORT(t *testing.T) {
	needFFmpeg(t)
	fixture.ORT(t)
	modelPath, clip, _ := scaleFixture(t)
	ref := filepath.Join(t.TempDir(), "ref-ort.mkv")
	args := []string{"upscale", clip, ref, "--model", modelPath, "--runtime", "ort", "-q"}
	for _, kv := range scaleArgs {
		args = append(args, "--"+kv[0], kv[1])
	}
	var o, e bytes.Buffer
	if code := run(args, &o, &e); code != 0 {
		t.Fatalf("pssr upscale --runtime ort: exit %d: %s", code, e.String())
	}
	port := freePort(t)
	srv, url := scaleServe(t, t.TempDir(), modelPath, port, "--runtime", "ort")
	w1, w2 := scaleWorker(t, port, "w1"), scaleWorker(t, port, "w2")
	job := submitPath(t, url, clip)
	waitJob(t, job, "done", isDone, srv, w1, w2)
	checkResult(t, job, ref)
	if !strings.Contains(srv.stderr(), `msg="serve: cluster jobs" backend=go runtime=ort`) {
		t.Errorf("serve did not log the cluster runtime ort:\n%s", srv.stderr())
	}
	for _, w := range []*proc{w1, w2} {
		if strings.Contains(w.stderr(), "cluster: chunk done") && !strings.Contains(w.stderr(), `msg="worker: runtime" runtime=ort`) {
			t.Errorf("a worker computed chunks without loading ONNX Runtime:\n%s", w.stderr())
		}
	}
	if done := settledChunks(func() map[string]int { return chunksDone(w1, w2) }); len(done) != 10 {
		t.Errorf("chunks done: %v, want all 10", done)
	}
}

// TestScaleOutVFR runs a variable-frame-rate clip on the cluster: the
// output keeps the input's timestamps and is bit-exact with pssr upscale.
func TestScaleOutVFR(t *testing.T) {
	needFFmpeg(t)
	modelPath, _, _ := scaleFixture(t)
	clip := makeVFRClip(t, shared, "vfr-scale.mkv", 20, "-c:v", "ffv1", "-pix_fmt", "bgr0", "-c:a", "flac")
	ref := filepath.Join(t.TempDir(), "ref.mkv")
	args := []string{"upscale", clip, ref, "--model", modelPath, "--runtime", "go", "-q"}
	for _, kv := range scaleArgs {
		args = append(args, "--"+kv[0], kv[1])
	}
	var o, e bytes.Buffer
	if code := run(args, &o, &e); code != 0 {
		t.Fatalf("pssr upscale: exit %d: %s", code, e.String())
	}
	port := freePort(t)
	srv, url := scaleServe(t, t.TempDir(), modelPath, port)
	w1 := scaleWorker(t, port, "w1")
	job := submitPath(t, url, clip)
	waitJob(t, job, "done", isDone, srv, w1)
	got := checkResult(t, job, ref)
	sameTimes(t, clip, got)
	if _, tm := timingOf(t, got); !tm.VFR {
		t.Error("the cluster's output has a constant rate")
	}
}

// TestScaleOutBench measures the throughput of 1 and 2 workers, each held
// to one core (GOMAXPROCS=1 and the Go backend's parallelism=1), on the
// 100-frame clip, end to end (submission to finished output, a warm-up job
// of the same shapes first), next to a single-machine pssr upscale on one
// core. It runs only with PSSR_SCALEOUT_BENCH=FILE and writes its JSON
// there (scripts/scaleout-bench.sh).
func TestScaleOutBench(t *testing.T) {
	outPath := os.Getenv("PSSR_SCALEOUT_BENCH")
	if outPath == "" {
		t.Skip("set PSSR_SCALEOUT_BENCH=FILE to run the scale-out benchmark")
	}
	needFFmpeg(t)
	// The shipped x4 model on a 96x64 clip: a window costs seconds, as in
	// real use, so the fixed costs of the cluster are measured against real
	// work (with the random-weight fixture a window takes 50 ms).
	modelPath, err := filepath.Abs(filepath.Join("..", "..", "models", "pssr-tiny-x4.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	clip := filepath.Join(shared, "bench100.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000",
		"-frames:v", "100", "-t", "4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", clip)
	warm := filepath.Join(shared, "warm40.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-frames:v", "40", "-c:v", "libx264", "-pix_fmt", "yuv420p", warm)
	benchArgs := [][2]string{{"scale", "4"}, {"window-t", "8"}, {"overlap-t", "3"}, {"codec", "ffv1"}}
	scaleWait, scalePoll = 20*time.Minute, 100*time.Millisecond
	defer func() { scaleWait, scalePoll = time.Minute, 20*time.Millisecond }()
	oneCore := []string{"GOMAXPROCS=1"}
	loadavg := func() string {
		b, _ := os.ReadFile("/proc/loadavg")
		return strings.TrimSpace(string(b))
	}
	type runResult struct {
		Workers int     `json:"workers"`
		Seconds float64 `json:"seconds"`
		FPS     float64 `json:"fps"`
		// ChunkSeconds is the chunk phase alone: from the chunks' publication
		// to the last chunk done (the coordinator's log).
		ChunkSeconds float64 `json:"chunk_phase_seconds,omitempty"`
		ChunkFPS     float64 `json:"chunk_phase_fps,omitempty"`
		LoadBefore   string  `json:"loadavg_before"`
		LoadAfter    string  `json:"loadavg_after"`
	}
	report := struct {
		What       string      `json:"what"`
		Clip       string      `json:"clip"`
		Model      string      `json:"model"`
		Options    string      `json:"options"`
		Worker     string      `json:"worker"`
		CPUs       int         `json:"cpus"`
		CPU        string      `json:"cpu"`
		Single     runResult   `json:"single_machine_upscale"`
		Runs       []runResult `json:"runs"`
		Ratio      float64     `json:"speedup_2_over_1"`
		ChunkRatio float64     `json:"chunk_phase_speedup_2_over_1"`
		Target     float64     `json:"target_speedup"`
		Date       string      `json:"date"`
		GoVersion  string      `json:"go"`
	}{
		What:    "end-to-end throughput of pssr serve --nats embedded with N pssr worker processes (submission to finished FFV1 output, after a warm-up job)",
		Clip:    "100 frames 96x64 (lavfi testsrc2, H.264, AAC audio), x4 to 384x256",
		Model:   "models/pssr-tiny-x4.safetensors (the shipped model), mode pssr, runtime go",
		Options: "--scale 4 --window-t 8 --overlap-t 3 --codec ffv1, --chunk-windows 2 (20 windows, 10 chunks)",
		Worker:  "GOMAXPROCS=1 pssr worker --backend go:parallelism=1",
		CPUs:    runtimeNumCPU(), CPU: cpuModel(), Target: 1.8, Date: time.Now().UTC().Format(time.RFC3339), GoVersion: goVersion(),
	}
	// Single machine, one core.
	{
		lb := loadavg()
		cmd := exec.Command(os.Args[0], "upscale", clip, filepath.Join(t.TempDir(), "single.mkv"), "--model", modelPath, "-q",
			"--scale", "4", "--window-t", "8", "--overlap-t", "3", "--codec", "ffv1", "--backend", "go:parallelism=1", "--runtime", "go")
		cmd.Env = append(os.Environ(), "PSSR_TEST_MAIN=1", "GOMAXPROCS=1")
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pssr upscale: %v: %s", err, out)
		}
		s := time.Since(start).Seconds()
		report.Single = runResult{Workers: 0, Seconds: s, FPS: 100 / s, LoadBefore: lb, LoadAfter: loadavg()}
	}
	for _, n := range []int{1, 2} {
		port := freePort(t)
		srv, url := scaleServe(t, t.TempDir(), modelPath, port)
		var ws []*proc
		for i := range n {
			ws = append(ws, startProc(t, oneCore, "worker", "--nats", fmt.Sprintf("nats://127.0.0.1:%d", port),
				"--name", fmt.Sprintf("w%d", i+1), "--backend", "go:parallelism=1", "--cache", filepath.Join(t.TempDir(), "cache")))
		}
		waitJob(t, submitPathArgs(t, url, warm, benchArgs), "done", isDone, append(ws, srv)...)
		lb := loadavg()
		start := time.Now()
		waitJob(t, submitPathArgs(t, url, clip, benchArgs), "done", isDone, append(ws, srv)...)
		s := time.Since(start).Seconds()
		cs := phase(t, srv.stderr(), "cluster: job running", "cluster: every chunk is done")
		report.Runs = append(report.Runs, runResult{Workers: n, Seconds: s, FPS: 100 / s, ChunkSeconds: cs, ChunkFPS: 100 / cs, LoadBefore: lb, LoadAfter: loadavg()})
		t.Logf("%d worker(s): %.2f s, %.1f frames/s; chunk phase %.2f s, %.1f frames/s (load %s)", n, s, 100/s, cs, 100/cs, lb)
		srv.kill()
		for _, w := range ws {
			w.kill()
		}
	}
	report.Ratio = report.Runs[1].FPS / report.Runs[0].FPS
	report.ChunkRatio = report.Runs[1].ChunkFPS / report.Runs[0].ChunkFPS
	t.Logf("single machine one core: %.2f s, %.1f frames/s; 2 workers / 1 worker = %.2f", report.Single.Seconds, report.Single.FPS, report.Ratio)
	data, _ := json.MarshalIndent(report, "", "  ")
	if err := os.WriteFile(outPath, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// phase returns the seconds between the last log lines with messages from
// and to in a slog text log.
func phase(t *testing.T, log, from, to string) float64 {
	t.Helper()
	at := func(msg string) time.Time {
		var last time.Time
		for _, l := range strings.Split(log, "\n") {
			if !strings.Contains(l, `msg="`+msg) {
				continue
			}
			ts, _, _ := strings.Cut(strings.TrimPrefix(l, "time="), " ")
			if tm, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				last = tm
			}
		}
		if last.IsZero() {
			t.Fatalf("no %q in the log", msg)
		}
		return last
	}
	return at(to).Sub(at(from)).Seconds()
}

// cpuModel returns the CPU's model name from /proc/cpuinfo.
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func runtimeNumCPU() int { return runtime.NumCPU() }
func goVersion() string  { return runtime.Version() }
