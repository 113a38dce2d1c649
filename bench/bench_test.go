package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/peers"
)

// testdata holds three 128x96 crops of BasketballPass frames 71-73
// (LICENSE.OpenDVC).
const testdata = "testdata"

// loadClip returns the low-quality frames and the ground truth of the test
// clip at scale 4, through Load's degradation path.
func loadClip(t *testing.T) (lq, gt []*frame.Image) {
	t.Helper()
	lq, gt, err := Load(context.Background(), Input{Path: testdata, Degrade: true, Scale: 4, Frames: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(lq) != 3 || len(gt) != 3 {
		t.Fatalf("loaded %d LQ and %d GT frames; want 3 and 3", len(lq), len(gt))
	}
	if lq[0].W != 32 || lq[0].H != 24 || gt[0].W != 128 || gt[0].H != 96 {
		t.Fatalf("LQ %dx%d, GT %dx%d; want 32x24 and 128x96", lq[0].W, lq[0].H, gt[0].W, gt[0].H)
	}
	return lq, gt
}

// fakePeer is an installed peer that upscales PNG folders by nearest
// neighbour and claims a child peak of rss bytes.
type fakePeer struct {
	name  string
	rss   int64
	calls int
}

func (p *fakePeer) Name() string     { return p.name }
func (p *fakePeer) Available() error { return nil }
func (p *fakePeer) LastMaxRSS() int64 {
	return p.rss
}
func (p *fakePeer) Upscale(ctx context.Context, inDir, outDir string, scale int) error {
	p.calls++
	ents, err := os.ReadDir(inDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, e := range ents {
		f, err := frame.Load(filepath.Join(inDir, e.Name()))
		if err != nil {
			return err
		}
		big := frame.Resize(f, f.W*scale, f.H*scale, frame.Nearest)
		if err := frame.SavePNG(filepath.Join(outDir, e.Name()), big); err != nil {
			return err
		}
	}
	return nil
}

var _ peers.Peer = (*fakePeer)(nil)

// meanAbsScorer stands in for LPIPS (which needs a compute backend): the
// mean absolute difference of the RGB samples, 0 for identical frames.
type meanAbsScorer struct{ calls int }

func (m *meanAbsScorer) Distance(ref, dist []float32, w, h int) (float64, error) {
	m.calls++
	if len(ref) != w*h*3 || len(dist) != w*h*3 {
		return 0, fmt.Errorf("%d and %d samples for %dx%d", len(ref), len(dist), w, h)
	}
	var s float64
	for i := range ref {
		s += math.Abs(float64(ref[i] - dist[i]))
	}
	return s / float64(len(ref)), nil
}

func runAll(t *testing.T) (*Report, *fakePeer) {
	t.Helper()
	lq, gt := loadClip(t)
	missing, err := peers.ByName(t.TempDir(), "realesrgan-x4fast")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakePeer{name: "fake-nearest", rss: 3 << 30}
	modes := append(Baselines(), PeerMode(missing), PeerMode(fake))
	rep, err := Run(context.Background(), lq, gt, modes, Options{
		Input: "testdata", Scale: 4, Backend: "none", Machine: "test machine", LPIPS: &meanAbsScorer{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep, fake
}

func TestRunModes(t *testing.T) {
	rep, fake := runAll(t)
	if rep.Frames != 3 || rep.Scale != 4 || !rep.HasGT || len(rep.Modes) != 4 {
		t.Fatalf("report: frames %d scale %d gt %v modes %d", rep.Frames, rep.Scale, rep.HasGT, len(rep.Modes))
	}
	if fake.calls != 2 {
		t.Errorf("fake peer called %d times; want 2 (warm-up and timed run)", fake.calls)
	}
	for _, tc := range []struct {
		name    string
		minPSNR float64
		maxPSNR float64
		minRSS  float64 // MiB
	}{
		{"bicubic", 20, 60, 1},
		{"lanczos", 20, 60, 1},
		// Nearest is worse than the interpolators but still a picture.
		{"fake-nearest", 15, 60, 3 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rep.Find(tc.name)
			if r == nil || !r.Ran() {
				t.Fatalf("mode %s missing or skipped: %+v", tc.name, r)
			}
			s := r.Metrics
			t.Logf("%s: %.3g s/frame, %.0f MiB (%s), PSNR-Y %.2f dB, SSIM-Y %.4f, MS-SSIM-Y %.4f, GMSD-Y %.4f, warp %.4f, tdiff %.4f, HF %.3f",
				tc.name, r.SecondsPerFrame, r.PeakRSSMB, r.RSSSource, s.PSNR, s.SSIM, s.MSSSIM, s.GMSD, s.WarpErr, s.TempDiff, s.HFRatio)
			if !r.Quality || math.IsNaN(s.PSNR) || math.IsInf(s.PSNR, 0) || s.PSNR < tc.minPSNR || s.PSNR > tc.maxPSNR {
				t.Errorf("PSNR-Y %v; want finite in [%v, %v]", s.PSNR, tc.minPSNR, tc.maxPSNR)
			}
			if !(s.SSIM > 0 && s.SSIM <= 1 && s.MSSSIM > 0 && s.MSSSIM <= 1 && s.GMSD >= 0 && s.HFRatio > 0) {
				t.Errorf("implausible scores %+v", s)
			}
			if s.Frames != 3 || s.TemporalFrames != 2 || s.Crop != MetricCrop || s.Space != "Y" {
				t.Errorf("summary frames %d temporal %d crop %d space %s; want 3, 2, %d, Y",
					s.Frames, s.TemporalFrames, s.Crop, s.Space, MetricCrop)
			}
			if !(r.SecondsPerFrame > 0) || math.IsInf(r.SecondsPerFrame, 0) {
				t.Errorf("seconds per frame %v; want > 0", r.SecondsPerFrame)
			}
			if !(r.PeakRSSMB >= tc.minRSS) {
				t.Errorf("peak RSS %v MiB; want >= %v", r.PeakRSSMB, tc.minRSS)
			}
			if r.Crop == nil || r.Crop.W != rep.CropRect.Dx() || r.Crop.H != rep.CropRect.Dy() {
				t.Errorf("crop %+v; want %v", r.Crop, rep.CropRect)
			}
		})
	}
	// The truth's own warp error is one value for the report, every mode's
	// summary carries the same, and the blurred bicubic output flickers less
	// than the sharp truth it blurs.
	if w := rep.Find("bicubic").Metrics; rep.GTWarpFrames != 2 || rep.GTWarpErr != w.WarpErrGT || rep.GTWarpErr != rep.Find("lanczos").Metrics.WarpErrGT ||
		!(rep.GTWarpErr > w.WarpErr) {
		t.Errorf("ground-truth warp err %g over %d pairs (bicubic's reference %g, bicubic %g); want the modes' common reference over 2 pairs, above bicubic's",
			rep.GTWarpErr, rep.GTWarpFrames, w.WarpErrGT, w.WarpErr)
	}
	bic, lan := rep.Find("bicubic").Metrics.PSNR, rep.Find("lanczos").Metrics.PSNR
	if lan < bic-0.5 {
		t.Errorf("lanczos PSNR-Y %.2f < bicubic %.2f - 0.5", lan, bic)
	}
	if f := rep.Find("fake-nearest"); !strings.Contains(f.RSSSource, "+children") || f.RSSLowerBound {
		t.Errorf("fake peer RSS source %q lower bound %v; want the reported child peak", f.RSSSource, f.RSSLowerBound)
	}
	sk := rep.Find("realesrgan-x4fast")
	if sk == nil || sk.Ran() || !strings.Contains(sk.Skipped, "not installed") || sk.Kind != KindPeer {
		t.Errorf("missing peer: %+v; want skipped with the Available note", sk)
	}
	// The crop region lies inside the frame and maps onto whole LQ pixels.
	if r := rep.CropRect; r.Dx() != 96 || r.Dy() != 96 || r.Min.X%4 != 0 || r.Min.Y%4 != 0 ||
		r.Max.X > 128 || r.Max.Y > 96 || rep.LQCrop.W != 24 || rep.GTCrop.W != 96 || rep.CropFrame != 1 {
		t.Errorf("crop region %v (frame %d), LQ crop %d wide", r, rep.CropFrame, rep.LQCrop.W)
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bicubic", "lanczos", "PSNR-Y", "skipped: peers: realesrgan-x4fast is not installed"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestJSONKeys(t *testing.T) {
	rep, _ := runAll(t)
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	wantTop := []string{"backend", "frames", "gt_niqe", "gt_warp_err", "input", "machine", "modes", "scale"}
	if got := mapsKeys(top); !slices.Equal(got, wantTop) {
		t.Errorf("top-level keys %v; want %v", got, wantTop)
	}
	var head struct {
		Input, Machine, Backend string
		Scale, Frames           int
	}
	if err := json.Unmarshal(b, &head); err != nil {
		t.Fatal(err)
	}
	if head.Input != "testdata" || head.Machine != "test machine" || head.Backend != "none" || head.Scale != 4 || head.Frames != 3 {
		t.Errorf("header %+v", head)
	}
	var modes []map[string]any
	if err := json.Unmarshal(top["modes"], &modes); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"gmsd_y", "hf_ratio", "lpips", "ms_ssim_y", "name", "niqe", "peak_rss_mb", "psnr_y",
		"seconds_per_frame", "skipped", "ssim_y", "temporal_diff", "temporal_err"}
	// The 128x96 test frames, 120x88 after the crop, hold no 96x96 NIQE
	// patch: niqe and gt_niqe are null (TestPerceptualColumns has them).
	if string(top["gt_niqe"]) != "null" {
		t.Errorf("gt_niqe %s; want null for frames smaller than a NIQE patch", top["gt_niqe"])
	}
	if len(modes) != 4 {
		t.Fatalf("%d modes in JSON; want 4", len(modes))
	}
	for _, m := range modes {
		if got := mapsKeys(m); !slices.Equal(got, wantKeys) {
			t.Errorf("mode %v keys %v; want %v", m["name"], got, wantKeys)
		}
		switch m["name"] {
		case "realesrgan-x4fast":
			if note, _ := m["skipped"].(string); !strings.Contains(note, "install-peers.sh") {
				t.Errorf("skipped note %q; want the install hint", note)
			}
			if m["psnr_y"] != nil || m["seconds_per_frame"] != nil {
				t.Errorf("skipped mode has numbers: %v", m)
			}
		default:
			if m["skipped"] != "" {
				t.Errorf("mode %v skipped %q", m["name"], m["skipped"])
			}
			if m["niqe"] != nil {
				t.Errorf("mode %v: niqe %v; want null", m["name"], m["niqe"])
			}
			for _, k := range wantKeys {
				if k == "name" || k == "skipped" || k == "niqe" {
					continue
				}
				if v, ok := m[k].(float64); !ok || math.IsNaN(v) {
					t.Errorf("mode %v: %s = %v; want a number", m["name"], k, m[k])
				}
			}
		}
	}
}

func mapsKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestWriteHTML(t *testing.T) {
	rep, _ := runAll(t)
	dir := filepath.Join(t.TempDir(), "report")
	if err := rep.WriteHTML(dir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		w, h int // 0: any size
	}{
		{PlotFile, 0, 0},
		{"crops/gt.png", 96 * CropZoom, 96 * CropZoom},
		{"crops/lq.png", 96 * CropZoom, 96 * CropZoom},
		{"crops/bicubic.png", 96 * CropZoom, 96 * CropZoom},
		{"crops/lanczos.png", 96 * CropZoom, 96 * CropZoom},
		{"crops/fake-nearest.png", 96 * CropZoom, 96 * CropZoom},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("decoding %s: %v", tc.file, err)
			}
			b := img.Bounds()
			if tc.w == 0 && (b.Dx() < 100 || b.Dy() < 100) || tc.w != 0 && (b.Dx() != tc.w || b.Dy() != tc.h) {
				t.Errorf("%s is %dx%d", tc.file, b.Dx(), b.Dy())
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "crops", "realesrgan-x4fast.png")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a skipped mode has a crop (err %v)", err)
	}
	page, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<table>", `src="quality-vs-time.png"`, `src="crops/gt.png"`, `src="crops/bicubic.png"`,
		"<td>lanczos</td>", "is not installed"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	// No temporary files are left behind.
	for _, d := range []string{dir, filepath.Join(dir, "crops")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("left-over temporary file %s", filepath.Join(d, e.Name()))
			}
		}
	}
}

// constMode returns frames of the given count and size factor.
func constMode(name string, drop int, sizeScale int) Mode {
	return Mode{Name: name, Kind: KindPSSR, Run: func(ctx context.Context, lq []*frame.Image, scale int) ([]*frame.Image, error) {
		var out []*frame.Image
		for _, f := range lq[:len(lq)-min(drop, len(lq))] {
			out = append(out, frame.New(f.W*sizeScale, f.H*sizeScale))
		}
		return out, nil
	}}
}

func TestRunErrors(t *testing.T) {
	lq, gt := loadClip(t)
	ok := Baselines()[0]
	failing := Mode{Name: "boom", Kind: KindPSSR, Run: func(context.Context, []*frame.Image, int) ([]*frame.Image, error) {
		return nil, errors.New("kaboom")
	}}
	for _, tc := range []struct {
		name  string
		modes []Mode
		gt    []*frame.Image
		scale int
		want  []string
	}{
		{"frame count", []Mode{ok, constMode("short", 1, 4)}, gt, 4, []string{"mode short", "returned 1 frames for 2 input frames"}},
		{"frame size", []Mode{constMode("small", 0, 2)}, gt, 4, []string{"mode small", "is 64x48; want 128x96"}},
		{"mode error", []Mode{failing}, gt, 4, []string{"mode boom", "kaboom"}},
		{"no run", []Mode{{Name: "empty", Kind: KindBaseline}}, gt, 4, []string{"neither Run nor Skip"}},
		{"twice", []Mode{ok, ok}, gt, 4, []string{"given twice"}},
		{"reserved name", []Mode{{Name: "gt", Kind: KindBaseline, Run: ok.Run}}, gt, 4, []string{"invalid mode name"}},
		{"bad kind", []Mode{{Name: "x", Kind: "other", Run: ok.Run}}, gt, 4, []string{"unknown kind"}},
		{"gt size", []Mode{ok}, gt, 2, []string{"ground-truth frame 0 is 128x96; want 64x48"}},
		{"gt count", []Mode{ok}, gt[:2], 4, []string{"2 ground-truth frames for 3 input frames"}},
		{"no modes", nil, gt, 4, []string{"no modes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), lq, tc.gt, tc.modes, Options{Scale: tc.scale, Machine: "m"})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}

	t.Run("keep going", func(t *testing.T) {
		rep, err := Run(context.Background(), lq, gt, []Mode{constMode("short", 1, 4), ok},
			Options{Scale: 4, Machine: "m", KeepGoing: true, WarmupFrames: -1})
		if err != nil {
			t.Fatal(err)
		}
		short := rep.Find("short")
		if short.Ran() || !short.Failed || !strings.Contains(short.Skipped, "failed: returned 2 frames for 3 input frames") {
			t.Errorf("failed mode reported as %+v", short)
		}
		if !rep.Find("bicubic").Ran() {
			t.Error("the mode after the failure did not run")
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Run(ctx, lq, gt, []Mode{ok}, Options{Scale: 4, Machine: "m", KeepGoing: true})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v; want context.Canceled", err)
		}
	})
}

func TestNoGroundTruth(t *testing.T) {
	lq, _ := loadClip(t)
	rep, err := Run(context.Background(), lq, nil, Baselines()[:1], Options{Scale: 4, Machine: "m"})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Modes[0]
	if r.Quality || rep.HasGT || rep.GTCrop != nil || !(r.SecondsPerFrame > 0) {
		t.Errorf("result %+v", r)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"psnr_y":null`)) || !bytes.Contains(b, []byte(`"skipped":""`)) {
		t.Errorf("JSON %s; want null quality", b)
	}
	dir := t.TempDir()
	if err := rep.WriteHTML(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, PlotFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("plot written without quality scores (err %v)", err)
	}
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	// A folder with only two of the frames, for a count mismatch.
	two := t.TempDir()
	for _, n := range []string{"f071.png", "f072.png"} {
		b, err := os.ReadFile(filepath.Join(testdata, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(two, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An LQ folder matching testdata at scale 4.
	small := t.TempDir()
	lq, gt := loadClip(t)
	for i, f := range lq {
		if err := frame.SavePNG(filepath.Join(small, fmt.Sprintf("%d.png", i)), f); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		in       Input
		wantErr  string
		frames   int
		lqW, gtW int
	}{
		{"gt", Input{Path: small, GT: testdata, Scale: 4}, "", 3, 32, 128},
		{"frames limit", Input{Path: testdata, Degrade: true, Scale: 4, Frames: 2}, "", 2, 32, 128},
		{"degrade crops to a multiple", Input{Path: testdata, Degrade: true, Scale: 3, Frames: 1}, "", 1, 42, 126},
		{"no gt", Input{Path: testdata, Scale: 4}, "", 3, 128, 0},
		{"gt size", Input{Path: small, GT: testdata, Scale: 2}, "ground-truth frame 0 of testdata is 128x96, but 2 x the input's 32x24 is 64x48", 0, 0, 0},
		{"gt count", Input{Path: small, GT: two, Scale: 4}, "has 3 frames but its ground truth", 0, 0, 0},
		{"gt and degrade", Input{Path: small, GT: testdata, Degrade: true, Scale: 4}, "exclusive", 0, 0, 0},
		{"missing", Input{Path: filepath.Join(two, "nope"), Scale: 4}, "no such file", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, g, err := Load(ctx, tc.in)
			if errorCase(t, err, tc.wantErr) {
				return
			}
			if len(l) != tc.frames || l[0].W != tc.lqW {
				t.Errorf("LQ: %d frames, %d wide; want %d, %d", len(l), l[0].W, tc.frames, tc.lqW)
			}
			if tc.gtW == 0 && g != nil || tc.gtW != 0 && (len(g) != tc.frames || g[0].W != tc.gtW) {
				t.Errorf("GT %d frames; want %d frames %d wide", len(g), tc.frames, tc.gtW)
			}
		})
	}
	// The degraded input is 8-bit.
	for _, v := range lq[0].Pix {
		if q := math.Round(float64(v)*255) / 255; math.Abs(float64(v)-q) > 1e-6 {
			t.Fatalf("LQ sample %v is not on the 8-bit grid", v)
		}
	}
	_ = gt
}

func TestSelect(t *testing.T) {
	all := append(Baselines(), constMode("base", 0, 1), constMode("pssr", 0, 1),
		Mode{Name: "p1", Kind: KindPeer, Skip: errors.New("x")})
	for _, tc := range []struct {
		list, want, wantErr string
	}{
		{"", "bicubic,lanczos,base,pssr,p1", ""},
		{"all", "bicubic,lanczos,base,pssr,p1", ""},
		{"lanczos, bicubic", "lanczos,bicubic", ""},
		{"peers,baseline", "p1,bicubic,lanczos", ""},
		{"pssr", "pssr", ""},
		{"pssrs", "base,pssr", ""},
		{"bicubic,bicubic", "bicubic", ""},
		{"bicubic,nope", "", `unknown mode "nope" (known: bicubic, lanczos, base, pssr, p1`},
		{",", "", "no modes selected"},
	} {
		t.Run(tc.list, func(t *testing.T) {
			got, err := Select(all, tc.list)
			if errorCase(t, err, tc.wantErr) {
				return
			}
			var names []string
			for _, m := range got {
				names = append(names, m.Name)
			}
			if s := strings.Join(names, ","); s != tc.want {
				t.Errorf("selected %s; want %s", s, tc.want)
			}
		})
	}
}

func TestRatiosAndTable(t *testing.T) {
	rep := &Report{Input: "x", Scale: 4, Frames: 2, Machine: "m", Modes: []Result{
		{Name: "base", Kind: KindPSSR, SecondsPerFrame: 2},
		{Name: "base-4step", Kind: KindPSSR, SecondsPerFrame: 8},
		{Name: "pssr", Kind: KindPSSR, SecondsPerFrame: 2.5, PeakRSSMB: 100, RSSLowerBound: true},
		{Name: "pssr-nofuse", Kind: KindPSSR, Skipped: "no model"},
	}}
	rs := rep.Ratios()
	if len(rs) != 2 || rs[0].Num != "pssr" || rs[0].Den != "base" || rs[0].Value != 1.25 ||
		rs[1].Num != "base-4step" || rs[1].Value != 3.2 {
		t.Fatalf("ratios %+v", rs)
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pssr/base seconds per frame: 1.25", "base-4step/pssr seconds per frame: 3.2",
		">=100", "skipped: no model", "quality: no ground truth"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	rep.Modes[0].Skipped = "off"
	if rs := rep.Ratios(); len(rs) != 1 || rs[0].Num != "base-4step" {
		t.Errorf("ratios with base skipped: %+v", rs)
	}
}

func TestReadHWM(t *testing.T) {
	old := procStatus
	defer func() { procStatus = old }()
	dir := t.TempDir()
	for _, tc := range []struct {
		status string
		want   int64
		ok     bool
	}{
		{"Name:\tx\nVmPeak:\t  9 kB\nVmHWM:\t    2116 kB\nVmRSS:\t 1 kB\n", 2116 << 10, true},
		{"Name:\tx\n", 0, false},
		{"VmHWM:\tlots kB\n", 0, false},
	} {
		procStatus = filepath.Join(dir, "status")
		if err := os.WriteFile(procStatus, []byte(tc.status), 0o644); err != nil {
			t.Fatal(err)
		}
		got, ok := readHWM()
		if got != tc.want || ok != tc.ok {
			t.Errorf("readHWM(%q) = %d, %v; want %d, %v", tc.status, got, ok, tc.want, tc.ok)
		}
	}
	// Without procfs the runtime sampler stands in.
	procStatus = filepath.Join(dir, "absent")
	m := StartPeakMeter()
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	peak, src := m.Stop()
	if src != "runtime" || peak < 64<<20 {
		t.Errorf("runtime meter: %d bytes from %s; want >= 64 MiB from runtime", peak, src)
	}
	_ = buf[len(buf)-1]
}

func TestDescribeMachine(t *testing.T) {
	s := DescribeMachine()
	if !strings.Contains(s, "CPUs, ") || !strings.Contains(s, "/") {
		t.Errorf("DescribeMachine() = %q", s)
	}
}

// errorCase checks err for a table case that wants an error holding
// wantErr, or none when wantErr is empty; it fails the test on a mismatch
// and reports whether the case wanted an error (and so is done).
func errorCase(t *testing.T, err error, wantErr string) bool {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v; want %q", err, wantErr)
		}
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}

// TestPerceptualColumns runs the baselines on two real 416x240 frames, large
// enough for NIQE, and checks the LPIPS and NIQE columns of the report.
func TestPerceptualColumns(t *testing.T) {
	lq, gt, err := Load(context.Background(), Input{Path: filepath.Join("..", "testdata", "basketballpass"),
		Degrade: true, Scale: 4, Frames: 2})
	if err != nil {
		t.Fatal(err)
	}
	lp := &meanAbsScorer{}
	rep, err := Run(context.Background(), lq, gt, Baselines(), Options{Scale: 4, Machine: "m", WarmupFrames: -1, LPIPS: lp})
	if err != nil {
		t.Fatal(err)
	}
	if lp.calls != 2*len(Baselines()) {
		t.Errorf("LPIPS scorer called %d times; want one per frame and mode", lp.calls)
	}
	if !(rep.GTNIQEFrames == 2 && rep.GTNIQE > 1 && rep.GTNIQE < 10) {
		t.Fatalf("ground-truth NIQE %g over %d frames; want a natural-image value over 2", rep.GTNIQE, rep.GTNIQEFrames)
	}
	for _, r := range rep.Modes {
		s := r.Metrics
		t.Logf("%s: PSNR-Y %.2f, LPIPS stand-in %.4f, NIQE %.3f (GT %.3f)", r.Name, s.PSNR, s.LPIPS, r.NIQE, rep.GTNIQE)
		if s.LPIPSFrames != 2 || !(s.LPIPS > 0 && s.LPIPS < 1) {
			t.Errorf("%s: LPIPS %g over %d frames", r.Name, s.LPIPS, s.LPIPSFrames)
		}
		// A x4 interpolation is much blurrier than the truth: NIQE rises.
		if r.NIQEFrames != 2 || !(r.NIQE > rep.GTNIQE+1) {
			t.Errorf("%s: NIQE %g over %d frames; want well above the ground truth's %g", r.Name, r.NIQE, r.NIQEFrames, rep.GTNIQE)
		}
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "ground-truth NIQE: ") {
		t.Errorf("table lacks the ground-truth NIQE:\n%s", table.String())
	}
	var bicubic []string
	for _, l := range strings.Split(table.String(), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "bicubic" {
			bicubic = f // no cell of a mode that ran has a space
		}
	}
	for _, name := range []string{"LPIPS", "NIQE"} {
		i := slices.Index(tableHeader, name)
		if i < 0 || i >= len(bicubic) {
			t.Fatalf("no %s column in the bicubic row %v:\n%s", name, bicubic, table.String())
		}
		if _, err := strconv.ParseFloat(bicubic[i], 64); err != nil {
			t.Errorf("bicubic %s cell %q is not a number:\n%s", name, bicubic[i], table.String())
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var top struct {
		GTNIQE *float64 `json:"gt_niqe"`
		Modes  []struct {
			LPIPS, NIQE *float64
		} `json:"modes"`
	}
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	if top.GTNIQE == nil || *top.GTNIQE != rep.GTNIQE {
		t.Errorf("JSON gt_niqe %v; want %g", top.GTNIQE, rep.GTNIQE)
	}
	for i, m := range top.Modes {
		if m.LPIPS == nil || m.NIQE == nil || *m.NIQE != rep.Modes[i].NIQE {
			t.Errorf("JSON mode %d: lpips %v niqe %v", i, m.LPIPS, m.NIQE)
		}
	}

	// Without a ground truth NIQE still scores the output.
	norep, err := Run(context.Background(), lq, nil, Baselines()[:1], Options{Scale: 4, Machine: "m", WarmupFrames: -1})
	if err != nil {
		t.Fatal(err)
	}
	if r := norep.Modes[0]; r.NIQEFrames != 2 || math.Abs(r.NIQE-rep.Modes[0].NIQE) > 1e-9 {
		t.Errorf("no ground truth: NIQE %g over %d frames; want %g as with one", r.NIQE, r.NIQEFrames, rep.Modes[0].NIQE)
	}
}
