package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveProc is a pssr serve process started from the test binary.
type serveProc struct {
	cmd    *exec.Cmd
	url    string
	done   chan struct{}
	stderr *bytes.Buffer
}

// startServe starts `pssr serve` with args as a real process and waits for
// its address.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "PSSR_TEST_MAIN=1")
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, done: make(chan struct{}), stderr: &bytes.Buffer{}}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.WriteString(line + "\n")
			if u, ok := strings.CutPrefix(line, "pssr serve: listening on "); ok {
				urlc <- u
			}
		}
	}()
	go func() { cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.url = <-urlc:
	case <-p.done:
		t.Fatalf("pssr serve exited: %s", p.stderr.String())
	case <-time.After(time.Minute):
		t.Fatal("pssr serve did not start listening within a minute")
	}
	return p
}

// jobStatus is the part of a job's JSON the test reads.
type jobStatus struct {
	State      string `json:"state"`
	FramesDone int    `json:"frames_done"`
	Runs       int    `json:"runs"`
	Error      string `json:"error"`
}

func getStatus(t *testing.T, url string) jobStatus {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var s jobStatus
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestServeCrashResume kills a pssr serve process with SIGKILL in the middle
// of a job and starts it again on the same data: the job resumes from its
// last finished window and its result is bit-exact with `pssr upscale` on
// the same input and options (FFV1). The restarted server then stops on
// SIGTERM with exit status 0.
func TestServeCrashResume(t *testing.T) {
	needFFmpeg(t)
	modelPath, ref := active(t)
	data := t.TempDir()
	srv := startServe(t, "--data", data, "--model", modelPath)

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, kv := range [][2]string{{"scale", "2"}, {"codec", "ffv1"}, {"window-t", "3"}, {"overlap-t", "1"}} {
		mw.WriteField(kv[0], kv[1])
	}
	fw, _ := mw.CreateFormFile("file", "sample.mp4")
	clip, err := os.ReadFile(sampleClip)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(clip)
	mw.Close()
	res, err := http.Post(srv.url+"/v1/jobs", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	var sub struct{ ID string }
	json.NewDecoder(res.Body).Decode(&sub)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || sub.ID == "" {
		t.Fatalf("submit: %d", res.StatusCode)
	}
	waitWindows(t, filepath.Join(data, "jobs", sub.ID, "result.mkv"), 2, srv.done)
	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.done

	srv2 := startServe(t, "--data", data, "--model", modelPath)
	deadline := time.Now().Add(time.Minute)
	var st jobStatus
	for {
		st = getStatus(t, srv2.url+"/v1/jobs/"+sub.ID)
		if st.State == "done" || st.State == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.State != "done" || st.FramesDone != 8 || st.Runs != 2 {
		t.Fatalf("after the restart: %+v; want done, 8 frames, 2 runs\n%s", st, srv2.stderr.String())
	}
	if !strings.Contains(srv2.stderr.String(), "upscale: resuming") {
		t.Errorf("the restarted server did not resume from the checkpoint:\n%s", srv2.stderr.String())
	}
	res, err = http.Get(srv2.url + "/v1/jobs/" + sub.ID + "/result")
	if err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(t.TempDir(), "got.mkv")
	f, _ := os.Create(got)
	io.Copy(f, res.Body)
	f.Close()
	res.Body.Close()
	sameFrames(t, ref, got) // pssr upscale's output with the same options

	srv2.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv2.done:
	case <-time.After(time.Minute):
		t.Fatal("pssr serve did not stop within a minute of SIGTERM")
	}
	if code := srv2.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0: %s", code, srv2.stderr.String())
	}
}

// TestServeErrors checks the flag errors of pssr serve and that a second
// server on the same --data is refused while the first runs.
func TestServeErrors(t *testing.T) {
	needFFmpeg(t)
	data := t.TempDir()
	cliFails(t, []string{"serve"}, []string{"--data is required"})
	cliFails(t, []string{"serve", "--data", data, "--jobs", "0"}, []string{"--jobs 0"})
	cliFails(t, []string{"serve", "--data", data, "--addr", "nonsense"}, []string{"--addr"})
	modelPath, _ := active(t)
	startServe(t, "--data", data, "--model", modelPath)
	cliFails(t, []string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--model", modelPath}, []string{"another pssr serve"})
}
