package serve

import (
	"context"
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
// link serves the result. It saves a screenshot as a test artefact.
func TestBrowser(t *testing.T) {
	needFFmpeg(t)
	chrome := findChromium(t)
	s := startServer(t, Options{})
	sample, err := filepath.Abs(sampleClip)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1100, 1400), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	err = chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/"),
		chromedp.WaitVisible(chromedp.ID("form")),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{sample}),
		chromedp.SetValue(chromedp.ID("scale"), "2"),
		chromedp.SetValue(chromedp.ID("codec"), "ffv1"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("result")),
		chromedp.Poll[chromedp.Void](`document.getElementById("before").naturalWidth > 0 && document.getElementById("after").naturalWidth > 0`),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	state, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("state")))
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.getElementById("before").naturalWidth, document.getElementById("after").naturalWidth]`))
	if err != nil {
		t.Fatal(err)
	}
	link, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("download"), "href"))
	if err != nil {
		t.Fatal(err)
	}
	href := link.Value
	clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const s = document.getElementById("slider"); s.value = 20; s.dispatchEvent(new Event("input")); return document.getElementById("after").style.clipPath; })()`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(state, "done") {
		t.Errorf("the page shows state %q, want done", state)
	}
	if len(sizes) != 2 || sizes[0] != 104 || sizes[1] != 208 {
		t.Errorf("before/after frames are %v pixels wide, want 104 and 208", sizes)
	}
	if clip != "inset(0px 0px 0px 20%)" {
		t.Errorf("the slider set the after frame's clip to %q", clip)
	}
	if !strings.HasPrefix(href, "/v1/jobs/") || !strings.HasSuffix(href, "/result") {
		t.Fatalf("download link %q", href)
	}
	res, err := http.Get(s.url + href)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Disposition"), "sample-x2.mkv") {
		t.Errorf("download link: %d, %q", res.StatusCode, res.Header.Get("Content-Disposition"))
	}
	p := filepath.Join(artifactDir(t), "browser-"+time.Now().UTC().Format("20060102-150405")+".jpg")
	if err := os.WriteFile(p, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}
