package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/internal/testbackend"
	"github.com/pssr/pssr/jobs"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/upscale"
	"github.com/pssr/pssr/video"
)

// The API tests run a real server on a loopback port with real videos (the
// bundled 8-frame sample and clips cut from it) and a fixture model: random
// weights with every layer live, a test fixture and not a trained model.

var sampleClip = filepath.Join("..", "testdata", "sample.mp4")

func needFFmpeg(t *testing.T) {
	t.Helper()
	if err := video.CheckTools(); err != nil {
		t.Skip(err)
	}
}

// shared is a folder for what several tests reuse, removed after the tests.
var shared string

func TestMain(m *testing.M) {
	var err error
	if shared, err = os.MkdirTemp("", "pssr-serve-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(shared)
	os.Exit(code)
}

var (
	modelOnce sync.Once
	modelPath string
)

// testModel is the fixture model shared by the tests of this package.
func testModel(t *testing.T) string {
	modelOnce.Do(func() { modelPath = fixture.Model(t, shared, true) })
	return modelPath
}

// server is a running test server.
type server struct {
	url  string
	data string
	stop func() error // graceful shutdown; returns Serve's error
}

// startServer runs a server on a free loopback port with opt (Data, Backend,
// Model and Defaults are filled in when empty) until the test ends.
func startServer(t *testing.T, opt Options) *server {
	t.Helper()
	if opt.Data == "" {
		opt.Data = t.TempDir()
	}
	if opt.Backend == nil {
		opt.Backend = testbackend.New(t)
	}
	if opt.Model == "" {
		opt.Model = testModel(t)
	}
	if opt.Defaults.Scale == 0 {
		opt.Defaults = pipeline.DefaultOptions()
	}
	if opt.MaxUpload == 0 {
		opt.MaxUpload = 64 << 20
	}
	if opt.Logger == nil && !testing.Verbose() {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() { cancel(); serveErr = <-errc })
		return serveErr
	}
	t.Cleanup(func() { stop() })
	return &server{url: "http://" + ln.Addr().String(), data: opt.Data, stop: stop}
}

// request sends a request with an optional bearer token and returns the
// status and body.
func request(t *testing.T, method, url, token string, body io.Reader, ctype string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, data
}

// form builds a multipart body: fields in order, and the file at path
// under the file name name when path is not "".
func form(t *testing.T, name, path string, fields ...string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	if path != "" {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, name)}
		h["Content-Type"] = []string{"application/octet-stream"}
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(data)
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// submit posts a job and returns the status and the decoded answer.
func submit(t *testing.T, s *server, token, name, path string, fields ...string) (int, map[string]string) {
	t.Helper()
	body, ctype := form(t, name, path, fields...)
	code, data := request(t, "POST", s.url+"/v1/jobs", token, body, ctype)
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("POST /v1/jobs: %d, not JSON: %s", code, data)
	}
	return code, m
}

// mustSubmit submits and fails the test unless it answers 201 with an id.
func mustSubmit(t *testing.T, s *server, name, path string, fields ...string) string {
	t.Helper()
	code, m := submit(t, s, "", name, path, fields...)
	if code != http.StatusCreated || !jobs.ValidID(m["id"]) {
		t.Fatalf("POST /v1/jobs: %d %v", code, m)
	}
	return m["id"]
}

// getJob returns job id's JSON view.
func getJob(t *testing.T, s *server, id string) (int, jobView) {
	t.Helper()
	code, data := request(t, "GET", s.url+"/v1/jobs/"+id, "", nil, "")
	var v jobView
	json.Unmarshal(data, &v)
	return code, v
}

// waitJob polls job id until its state is one of want, failing after limit
// or when it reaches another terminal state.
func waitJob(t *testing.T, s *server, id string, limit time.Duration, want ...jobs.State) jobView {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		code, v := getJob(t, s, id)
		if code != http.StatusOK {
			t.Fatalf("GET job %s: %d", id, code)
		}
		if slices.Contains(want, v.State) {
			return v
		}
		if v.State.Terminal() {
			t.Fatalf("job %s ended %s (%s), want %v", id, v.State, v.Error, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s, want %v", id, v.State, limit, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// download saves job id's result into dir and returns its path.
func download(t *testing.T, s *server, id, dir, name string) string {
	t.Helper()
	code, data := request(t, "GET", s.url+"/v1/jobs/"+id+"/result", "", nil, "")
	if code != http.StatusOK {
		t.Fatalf("GET result: %d %s", code, data)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// frames decodes every frame of a video as 8-bit RGB.
func frames(t *testing.T, path string) [][]byte {
	t.Helper()
	r, err := video.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out [][]byte
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f.ToRGB24(nil))
	}
}

// sameVideo fails unless a and b decode to identical frames.
func sameVideo(t *testing.T, a, b string) {
	t.Helper()
	fa, fb := frames(t, a), frames(t, b)
	if len(fa) == 0 || len(fa) != len(fb) {
		t.Fatalf("%s has %d frames, %s %d", a, len(fa), b, len(fb))
	}
	for i := range fa {
		if !bytes.Equal(fa[i], fb[i]) {
			t.Fatalf("frame %d of %s differs from %s", i, b, a)
		}
	}
}

var (
	refOnce sync.Once
	refPath string
)

// reference upscales the sample in the way `pssr upscale IN OUT --scale 2
// --codec ffv1 --window-t 3 --overlap-t 1` does (the same package and
// options), once for the tests that compare against it, and returns the
// output's path.
func reference(t *testing.T) string {
	t.Helper()
	refOnce.Do(func() { refPath = makeReference(t, sampleClip) })
	if refPath == "" {
		t.Fatal("the reference run failed")
	}
	return refPath
}

// makeReference upscales in as reference describes.
func makeReference(t *testing.T, in string) string {
	t.Helper()
	opt := pipeline.DefaultOptions()
	c := upscale.DefaultChoices()
	opt.Scale, opt.WindowT, opt.OverlapT = 2, 3, 1
	if err := c.Apply(&opt); err != nil {
		t.Fatal(err)
	}
	e, err := upscale.NewEngine(upscale.Setup{Model: testModel(t), Options: opt, TileSet: true, Backend: testbackend.New(t)})
	if err != nil {
		t.Error(err)
		return ""
	}
	out := filepath.Join(shared, "ref.mkv")
	if _, err := e.Run(t.Context(), upscale.Job{In: in, Out: out, Output: video.WriterOptions{Codec: video.FFV1}}); err != nil {
		t.Error(err)
		return ""
	}
	return out
}

// clip cuts the first n frames of the sample into dir.
func clip(t *testing.T, dir string, n int) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("clip%d.mp4", n))
	out, err := exec.Command("ffmpeg", "-hide_banner", "-v", "error", "-y", "-i", sampleClip, "-frames:v", fmt.Sprint(n),
		"-c:v", "libx264", "-an", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	return p
}

// lossless are the fields of the jobs compared with reference.
var lossless = []string{"scale", "2", "codec", "ffv1", "window-t", "3", "overlap-t", "1"}

// TestAPISubmitPollDownload submits the sample, follows its events, polls it
// and downloads the result, which must equal the output of pssr upscale's
// code on the same input with the same options, frame for frame.
func TestAPISubmitPollDownload(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, Options{})
	id := mustSubmit(t, s, "sample.mp4", sampleClip, lossless...)

	// Events: "job" events until the job is done, frames_done never going back.
	res, err := http.Get(s.url + "/v1/jobs/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("events Content-Type %q", ct)
	}
	var events []jobView
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var v jobView
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatalf("event data %q: %v", data, err)
			}
			events = append(events, v)
		}
	}
	res.Body.Close()
	if len(events) < 2 {
		t.Fatalf("%d events, want the job's progress until done", len(events))
	}
	for i := 1; i < len(events); i++ {
		if events[i].FramesDone < events[i-1].FramesDone {
			t.Errorf("frames_done went from %d to %d", events[i-1].FramesDone, events[i].FramesDone)
		}
	}
	if last := events[len(events)-1]; last.State != jobs.Done || last.FramesDone != 8 || last.FramesTotal != 8 {
		t.Fatalf("last event: %s, %d/%d frames (%s)", last.State, last.FramesDone, last.FramesTotal, last.Error)
	}

	v := waitJob(t, s, id, time.Minute, jobs.Done)
	if v.FramesDone != 8 || v.FramesTotal != 8 || v.Error != "" || v.Result != "/v1/jobs/"+id+"/result" || v.Options.Scale != 2 || v.Options.Codec != "ffv1" {
		t.Errorf("done job: %+v", v)
	}
	code, data := request(t, "GET", s.url+"/v1/jobs", "", nil, "")
	if code != http.StatusOK || !strings.Contains(string(data), id) || strings.Contains(string(data), s.data) {
		t.Errorf("GET /v1/jobs: %d %s (want the job, and no server path)", code, data)
	}
	got := download(t, s, id, t.TempDir(), "got.mkv")
	sameVideo(t, reference(t), got)

	// The page's preview frames.
	for _, which := range []string{"before", "after"} {
		code, data := request(t, "GET", s.url+"/v1/jobs/"+id+"/preview?which="+which, "", nil, "")
		if code != http.StatusOK || !bytes.HasPrefix(data, []byte("\x89PNG")) {
			t.Errorf("preview %s: %d, %d bytes", which, code, len(data))
		}
	}
	if code, data := request(t, "GET", s.url+"/v1/jobs/0123456789abcdef", "", nil, ""); code != http.StatusNotFound || !strings.Contains(string(data), `"error"`) {
		t.Errorf("unknown job: %d %s", code, data)
	}
}

// TestAPICancel deletes a running job: it is cancelled, gone from the API,
// and its files are removed; a queued job behind it then runs.
func TestAPICancel(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, Options{})
	slow := mustSubmit(t, s, "sample.mp4", sampleClip, "scale", "2", "window-t", "1", "overlap-t", "0", "codec", "ffv1")
	next := mustSubmit(t, s, "clip.mp4", clip(t, t.TempDir(), 2), "scale", "2", "mode", "base", "codec", "ffv1")
	waitJob(t, s, slow, time.Minute, jobs.Running)
	if _, v := getJob(t, s, next); v.State != jobs.Queued {
		t.Errorf("the second job is %s while the first runs, want queued", v.State)
	}
	code, data := request(t, "DELETE", s.url+"/v1/jobs/"+slow, "", nil, "")
	var v jobView
	json.Unmarshal(data, &v)
	if code != http.StatusOK || v.State != jobs.Canceled {
		t.Fatalf("DELETE: %d %s, want 200 and canceled", code, data)
	}
	if code, _ := getJob(t, s, slow); code != http.StatusNotFound {
		t.Errorf("GET a deleted job: %d, want 404", code)
	}
	if _, err := os.Stat(filepath.Join(s.data, "jobs", slow)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the deleted job's files remain: %v", err)
	}
	waitJob(t, s, next, time.Minute, jobs.Done)
	if code, _ := request(t, "DELETE", s.url+"/v1/jobs/"+slow, "", nil, ""); code != http.StatusNotFound {
		t.Errorf("DELETE twice: %d, want 404", code)
	}
}

// TestAPIToken checks that with --token every API request needs the bearer
// token.
func TestAPIToken(t *testing.T) {
	s := startServer(t, Options{Token: "s3cret"})
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/jobs", "", http.StatusUnauthorized},
		{"GET", "/v1/jobs", "wrong", http.StatusUnauthorized},
		{"POST", "/v1/jobs", "", http.StatusUnauthorized},
		{"GET", "/v1/jobs/0123456789abcdef", "", http.StatusUnauthorized},
		{"DELETE", "/v1/jobs/0123456789abcdef", "s3cre", http.StatusUnauthorized},
		{"GET", "/v1/jobs", "s3cret", http.StatusOK},
		{"GET", "/v1/jobs/0123456789abcdef", "s3cret", http.StatusNotFound},
		{"GET", "/", "", http.StatusOK}, // the page holds no data
	} {
		code, data := request(t, tc.method, s.url+tc.path, tc.token, nil, "")
		if code != tc.want {
			t.Errorf("%s %s with token %q: %d, want %d", tc.method, tc.path, tc.token, code, tc.want)
		}
		if code == http.StatusUnauthorized && !strings.Contains(string(data), `"error": "missing or wrong token`) {
			t.Errorf("401 body: %s", data)
		}
	}
}

// TestAPILimits checks the 413 answers: an upload over --max-upload-mb and a
// video over the frame size limit, leaving no file behind.
func TestAPILimits(t *testing.T) {
	needFFmpeg(t)
	st, err := os.Stat(sampleClip)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Options{MaxUpload: st.Size() / 2})
	code, m := submit(t, s, "", "sample.mp4", sampleClip, "scale", "2")
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(m["error"], "larger than the limit") {
		t.Errorf("oversized upload: %d %v, want 413", code, m)
	}
	s2 := startServer(t, Options{MaxSide: 64})
	code, m = submit(t, s2, "", "sample.mp4", sampleClip, "scale", "2")
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(m["error"], "104x60, larger than the limit of 64 pixels") {
		t.Errorf("oversized frames: %d %v, want 413", code, m)
	}
	code, m = submit(t, s2, "", "sample.mp4", sampleClip, "scale", "3")
	if code != http.StatusBadRequest || !strings.Contains(m["error"], "scale") {
		t.Errorf("bad option: %d %v, want 400 naming scale", code, m)
	}
	for _, srv := range []*server{s, s2} {
		for _, sub := range []string{"tmp", "jobs"} {
			if ents, _ := os.ReadDir(filepath.Join(srv.data, sub)); len(ents) != 0 {
				t.Errorf("%s holds %d entries after refused uploads", sub, len(ents))
			}
		}
	}
}

// TestAPIPathTraversal checks that neither an upload's name nor path= can
// reach outside the allowed places.
func TestAPIPathTraversal(t *testing.T) {
	needFFmpeg(t)
	root := t.TempDir()
	outside := t.TempDir()
	good := clip(t, root, 2)
	secret := filepath.Join(outside, "secret.mp4")
	if err := os.WriteFile(secret, []byte("not for you"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(root, "link.mp4")); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Options{AllowRoots: []string{root}})
	for _, name := range []string{"../../evil.mp4", "..", `..\evil.mp4`, "sub/evil.mp4", "/etc/passwd"} {
		code, m := submit(t, s, "", name, sampleClip, "scale", "2")
		if code != http.StatusBadRequest || !strings.Contains(m["error"], "not allowed") {
			t.Errorf("upload named %q: %d %v, want 400", name, code, m)
		}
	}
	for _, p := range []string{"../../../../etc/passwd", secret, "link.mp4", filepath.Join(root, "..", filepath.Base(outside), "secret.mp4")} {
		code, m := submit(t, s, "", "", "", "path", p, "scale", "2")
		if code != http.StatusBadRequest || !strings.Contains(m["error"], "path=") {
			t.Errorf("path=%q: %d %v, want 400", p, code, m)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(s.data, "jobs")); len(ents) != 0 {
		t.Errorf("refused submissions left %d job folders", len(ents))
	}
	// A file under the root is accepted, by relative or absolute path.
	id := mustSubmit(t, s, "", "", "path", filepath.Base(good), "scale", "2", "mode", "base", "codec", "ffv1")
	waitJob(t, s, id, time.Minute, jobs.Done)
	if st, err := os.Stat(good); err != nil || st.Size() == 0 {
		t.Errorf("the input under the root changed: %v", err)
	}
	// Without --allow-root, path= is refused.
	s2 := startServer(t, Options{})
	if code, m := submit(t, s2, "", "", "", "path", good); code != http.StatusBadRequest || !strings.Contains(m["error"], "--allow-root") {
		t.Errorf("path= without roots: %d %v", code, m)
	}
}

// TestAPICorruptUpload submits a file that is not a video: the job fails
// with a clear message, and the server keeps serving and running jobs.
func TestAPICorruptUpload(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.mp4")
	data, _ := os.ReadFile(sampleClip)
	if err := os.WriteFile(bad, data[:len(data)/3], 0o644); err != nil { // a truncated MP4
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.mp4")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("garbage!"), 500), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Options{})
	for in, want := range map[string]string{bad: "video is truncated or incomplete", junk: "the input is not a video pssr can read"} {
		id := mustSubmit(t, s, filepath.Base(in), in, "scale", "2", "codec", "ffv1")
		v := waitJob(t, s, id, time.Minute, jobs.Failed)
		if !strings.Contains(v.Error, want) {
			t.Errorf("%s: error %q, want %q", filepath.Base(in), v.Error, want)
		}
		if code, _ := request(t, "GET", s.url+"/v1/jobs/"+id+"/result", "", nil, ""); code != http.StatusConflict {
			t.Errorf("result of a failed job: %d, want 409", code)
		}
	}
	id := mustSubmit(t, s, "clip.mp4", clip(t, dir, 2), "scale", "2", "mode", "base", "codec", "ffv1")
	waitJob(t, s, id, time.Minute, jobs.Done)
}

// TestAPILoad submits 20 small jobs at once to two workers: all finish,
// start in submission order, and every result has its frames.
func TestAPILoad(t *testing.T) {
	needFFmpeg(t)
	in := clip(t, t.TempDir(), 2)
	s := startServer(t, Options{Workers: 2})
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, ctype := form(t, "clip.mp4", in, "scale", "2", "mode", "base", "codec", "ffv1")
			code, data := request(t, "POST", s.url+"/v1/jobs", "", body, ctype)
			var m map[string]string
			json.Unmarshal(data, &m)
			if code != http.StatusCreated {
				t.Errorf("submit %d: %d %s", i, code, data)
			}
			mu.Lock()
			ids[i] = m["id"]
			mu.Unlock()
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(3 * time.Minute)
	var list []jobView
	for {
		code, data := request(t, "GET", s.url+"/v1/jobs", "", nil, "")
		var got struct{ Jobs []jobView }
		if code != http.StatusOK || json.Unmarshal(data, &got) != nil {
			t.Fatalf("GET /v1/jobs: %d %s", code, data)
		}
		list = got.Jobs
		done := 0
		for _, j := range list {
			if j.State == jobs.Failed || j.State == jobs.Canceled {
				t.Fatalf("job %s %s: %s", j.ID, j.State, j.Error)
			}
			if j.State == jobs.Done {
				done++
			}
		}
		if done == n && len(list) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs done after 3 minutes", done, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, j := range list {
		if !slices.Contains(ids, j.ID) {
			t.Errorf("job %s was not submitted", j.ID)
		}
		if j.FramesDone != 2 || j.Runs != 1 {
			t.Errorf("job %s: %d frames, %d runs", j.ID, j.FramesDone, j.Runs)
		}
		if i > 0 && (j.Seq <= list[i-1].Seq || j.Started.Before(*list[i-1].Started)) {
			t.Errorf("job %d (seq %d) started at %s, before job %d (seq %d) at %s", i, j.Seq, j.Started, i-1, list[i-1].Seq, list[i-1].Started)
		}
	}
	got := download(t, s, list[n-1].ID, t.TempDir(), "last.mkv")
	if f := frames(t, got); len(f) != 2 || len(f[0]) != 208*120*3 {
		t.Errorf("the last result has %d frames", len(f))
	}
}

// TestGracefulShutdownResumes stops the server (as SIGTERM does) in the
// middle of a job and starts it again on the same data: the job resumes
// from its checkpoint and its result is bit-exact with an uninterrupted
// run.
func TestGracefulShutdownResumes(t *testing.T) {
	needFFmpeg(t)
	data := t.TempDir()
	s := startServer(t, Options{Data: data})
	id := mustSubmit(t, s, "sample.mp4", sampleClip, lossless...)
	manifest := ""
	deadline := time.Now().Add(time.Minute)
	for {
		ms, _ := filepath.Glob(filepath.Join(data, "jobs", id, ".result.mkv.pssr-ckpt", "manifest.json"))
		if len(ms) == 1 {
			var m struct {
				Windows int `json:"windows_done"`
			}
			b, _ := os.ReadFile(ms[0])
			if json.Unmarshal(b, &m) == nil && m.Windows >= 1 {
				manifest = ms[0]
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpointed window after a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	if _, err := os.Stat(manifest); err != nil {
		t.Fatalf("the shutdown removed the checkpoint: %v", err)
	}
	s2 := startServer(t, Options{Data: data})
	v := waitJob(t, s2, id, time.Minute, jobs.Done)
	if v.Runs != 2 {
		t.Errorf("the job ran %d times, want 2 (started, resumed)", v.Runs)
	}
	sameVideo(t, reference(t), download(t, s2, id, t.TempDir(), "got.mkv"))
}
