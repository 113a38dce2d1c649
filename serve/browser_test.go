package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// findChromium returns the path of a Chromium or Chrome binary. Without one
// the browser test is skipped, unless $PSSR_REQUIRE_BROWSER is set (as
// .ci/run sets it after installing Debian's chromium), where it fails.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH: install Debian's chromium package (apt-get install chromium) to run the browser test"
	if os.Getenv("PSSR_REQUIRE_BROWSER") != "" {
		t.Fatal(msg + " ($PSSR_REQUIRE_BROWSER is set)")
	}
	t.Skip(msg)
	return ""
}

// artifactDir is where test artefacts go: $PSSR_TEST_ARTIFACTS, or
// pssr-test-artifacts in the system's temporary folder (never the checkout).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("PSSR_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "pssr-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowser drives headless Chromium through the page: it uploads the
// bundled sample, waits for the job to finish, and checks that the
// before/after slider shows both frames and moves, and that the download
// link serves the result; once without a token and once with one (entered
// in the page, sent with every API call). It saves screenshots as test
// artefacts.
func TestBrowser(t *testing.T) {
	needFFmpeg(t)
	chrome := findChromium(t)
	sample, err := filepath.Abs(sampleClip)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1100, 1400), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	for _, token := range []string{"", "t0ken"} {
		name := "no token"
		if token != "" {
			name = "token"
		}
		t.Run(name, func(t *testing.T) {
			s := startServer(t, Options{Token: token})
			ctx, cancel := chromedp.NewContext(actx)
			defer cancel()
			ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			steps := []chromedp.Action[chromedp.Void]{
				chromedp.Navigate(s.url + "/"),
				chromedp.WaitVisible(chromedp.ID("form")),
			}
			if token != "" {
				steps = append(steps, chromedp.SetValue(chromedp.ID("token"), token))
			}
			err := chromedp.Do(ctx, append(steps,
				chromedp.SetUploadFiles(chromedp.ID("file"), []string{sample}),
				chromedp.SetValue(chromedp.ID("scale"), "2"),
				chromedp.SetValue(chromedp.ID("codec"), "ffv1"),
				chromedp.Click(chromedp.ID("submit")),
				chromedp.WaitVisible(chromedp.ID("result")),
				chromedp.Poll[chromedp.Void](`document.getElementById("before").naturalWidth > 0 && document.getElementById("after").naturalWidth > 0`),
			)...)
			if err != nil {
				t.Fatalf("browser: %v", err)
			}
			state, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("state")))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(state, "done") {
				t.Errorf("the page shows state %q, want done", state)
			}
			sizes, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.getElementById("before").naturalWidth, document.getElementById("after").naturalWidth]`))
			if err != nil {
				t.Fatal(err)
			}
			if len(sizes) != 2 || sizes[0] != 104 || sizes[1] != 208 {
				t.Errorf("before/after frames are %v pixels wide, want 104 and 208", sizes)
			}
			clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const s = document.getElementById("slider"); s.value = 20; s.dispatchEvent(new Event("input")); return document.getElementById("after").style.clipPath; })()`))
			if err != nil {
				t.Fatal(err)
			}
			if clip != "inset(0px 0px 0px 20%)" {
				t.Errorf("the slider set the after frame's clip to %q", clip)
			}
			link, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("download"), "href"))
			if err != nil {
				t.Fatal(err)
			}
			dl, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("download"), "download"))
			if err != nil {
				t.Fatal(err)
			}
			if dl.Value != "sample-x2.mkv" {
				t.Errorf("download name %q, want sample-x2.mkv", dl.Value)
			}
			// The link's target, fetched by the page itself.
			size, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch(document.getElementById("download").href).then(r => r.ok ? r.blob() : Promise.reject(r.status)).then(b => b.size)`, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("fetching the download link %q: %v", link.Value, err)
			}
			var want int64
			for _, j := range listJobs(t, s, token) {
				p := filepath.Join(s.data, "jobs", j, "result.mkv")
				if st, err := os.Stat(p); err == nil {
					want = st.Size()
				}
			}
			if want == 0 || int64(size) != want {
				t.Errorf("the download link gives %d bytes, the result has %d", size, want)
			}
			if token == "" && (!strings.HasPrefix(link.Value, "/v1/jobs/") || !strings.HasSuffix(link.Value, "/result")) {
				t.Errorf("download link %q, want the result route", link.Value)
			}
			if token != "" && !strings.HasPrefix(link.Value, "blob:") {
				t.Errorf("download link %q, want a blob fetched with the token", link.Value)
			}
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(artifactDir(t), "browser-"+strings.ReplaceAll(name, " ", "-")+"-"+time.Now().UTC().Format("20060102-150405")+".jpg")
			if err := os.WriteFile(p, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", p)
		})
	}
}

// listJobs returns the IDs of the server's jobs.
func listJobs(t *testing.T, s *server, token string) []string {
	t.Helper()
	code, data := request(t, "GET", s.url+"/v1/jobs", token, nil, "")
	var got struct{ Jobs []jobView }
	if code != http.StatusOK || json.Unmarshal(data, &got) != nil {
		t.Fatalf("GET /v1/jobs: %d %s", code, data)
	}
	var ids []string
	for _, j := range got.Jobs {
		ids = append(ids, j.ID)
	}
	return ids
}
