package dataset

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/pssr/pssr/degrade"
	"github.com/pssr/pssr/frame"
)

const testFrames = "testdata/basketballpass"

func testRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 2)) }

func testImage(t testing.TB) *frame.Image {
	t.Helper()
	m, err := frame.Load(filepath.Join(testFrames, "f001.png"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func equalImages(a, b *frame.Image) bool {
	return frame.SameSize(a, b) && slices.Equal(a.Pix, b.Pix)
}

func equalClips(a, b [][]*frame.Image) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if !equalImages(a[i][j], b[i][j]) {
				return false
			}
		}
	}
	return true
}

func TestNaturalCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int // sign
	}{
		{"f2.png", "f10.png", -1},
		{"f10.png", "f9.png", 1},
		{"f001.png", "f1.png", 0},
		{"a", "b", -1},
		{"frame12b", "frame12a", 1},
		{"x", "x1", -1},
	}
	for _, tc := range tests {
		got := naturalCompare(tc.a, tc.b)
		if (got < 0 && tc.want >= 0) || (got > 0 && tc.want <= 0) || (got == 0 && tc.want != 0) {
			t.Errorf("naturalCompare(%q, %q) = %d, want sign %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFrames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"f10.png", "f2.PNG", "f1.jpg", "notes.txt", ".f0.png", "f3.jpeg"} {
		touch(t, filepath.Join(dir, n))
	}
	got, err := LoadFrames(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, filepath.Base(p))
	}
	if want := []string{"f1.jpg", "f2.PNG", "f3.jpeg", "f10.png"}; !slices.Equal(names, want) {
		t.Errorf("LoadFrames = %v, want %v", names, want)
	}
	if _, err := LoadFrames(t.TempDir()); !errors.Is(err, ErrNoFrames) {
		t.Errorf("empty folder: %v, want ErrNoFrames", err)
	}
}

// fakeData builds the layout of shared/data and the fetched photos with
// empty files (MakeSplit only lists).
func fakeData(t *testing.T) (data, photos string) {
	root := t.TempDir()
	data, photos = filepath.Join(root, "data"), filepath.Join(root, "photos")
	for i := 1; i <= 100; i++ {
		touch(t, filepath.Join(data, "basketballpass-416x240", frameName("f%03d.png", i)))
	}
	for i := 1; i <= 20; i++ {
		touch(t, filepath.Join(data, "baseball-1280x720", frameName("%02d.png", i)))
	}
	touch(t, filepath.Join(data, "basketballpass-416x240", "LICENSE.OpenDVC"))
	touch(t, filepath.Join(data, "README.md"))
	touch(t, filepath.Join(data, "street.mp4"))
	touch(t, filepath.Join(data, "baseball-1280x720.mp4"))
	for _, p := range []string{
		"plasma-workspace-wallpapers/Kite.jpg", "plasma-workspace-wallpapers/Path.jpg",
		"plasma-workspace-wallpapers/Kite.metadata.json",
		"lomiri-wallpapers-16.04/aitzgorri_by_Aitzol_Berasategi.jpg",
		"lomiri-wallpapers-16.04/sunset_by_Aitzol_Berasategi.jpg",
		"mate-backgrounds/Dune.jpg",
	} {
		touch(t, filepath.Join(photos, p))
	}
	return data, photos
}

func frameName(format string, i int) string { return fmt.Sprintf(format, i) }

func names(items []Item) []string {
	var s []string
	for _, it := range items {
		s = append(s, it.Name)
	}
	return s
}

func TestSplit(t *testing.T) {
	data, photos := fakeData(t)
	s, err := MakeSplit(data, photos)
	if err != nil {
		t.Fatal(err)
	}
	again, err := MakeSplit(data, photos)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, again) {
		t.Error("MakeSplit is not deterministic")
	}
	if err := s.Disjoint(); err != nil {
		t.Error(err)
	}
	wantTrain := []string{
		"basketballpass-416x240/f001-f070", "street.mp4",
		"lomiri-wallpapers-16.04/sunset_by_Aitzol_Berasategi.jpg",
		"mate-backgrounds/Dune.jpg", "plasma-workspace-wallpapers/Path.jpg",
	}
	wantVal := []string{
		"baseball-1280x720/01-20", "baseball-1280x720.mp4", "basketballpass-416x240/f071-f100",
		"lomiri-wallpapers-16.04/aitzgorri_by_Aitzol_Berasategi.jpg",
		"plasma-workspace-wallpapers/Kite.jpg",
	}
	if got := names(s.Train); !slices.Equal(got, wantTrain) {
		t.Errorf("train %v\nwant %v", got, wantTrain)
	}
	if got := names(s.Val); !slices.Equal(got, wantVal) {
		t.Errorf("val %v\nwant %v", got, wantVal)
	}
	if n := len(s.Train[0].Paths); n != 70 {
		t.Errorf("%d BasketballPass training frames, want 70", n)
	}
	// Disjoint must catch an overlap.
	bad := s
	bad.Val = append(slices.Clone(s.Val), Item{Name: "leak", Kind: KindFrames, Paths: s.Train[0].Paths[69:]})
	if bad.Disjoint() == nil {
		t.Error("Disjoint missed a shared frame")
	}
}

// TestSplitRealData checks the rule on the project's real data when it is
// present (a user's clone may not have it).
func TestSplitRealData(t *testing.T) {
	data := "../../shared/data"
	if _, err := os.Stat(data); err != nil {
		t.Skip("no shared data")
	}
	photos := "../.gpudata/photos"
	if _, err := os.Stat(photos); err != nil {
		photos = ""
	}
	s, err := MakeSplit(data, photos)
	if err != nil {
		t.Fatal(err)
	}
	train := map[string]bool{}
	for _, it := range s.Train {
		for _, p := range it.Paths {
			train[filepath.Base(filepath.Dir(p))+"/"+filepath.Base(p)] = true
		}
	}
	for _, it := range s.Val {
		for _, p := range it.Paths {
			if train[filepath.Base(filepath.Dir(p))+"/"+filepath.Base(p)] {
				t.Errorf("%s in both sets", p)
			}
		}
	}
	if !train["basketballpass-416x240/f070.png"] || train["basketballpass-416x240/f071.png"] || train["baseball-1280x720/01.png"] {
		t.Error("BasketballPass or baseball split wrong")
	}
	t.Logf("%d training and %d validation items", len(s.Train), len(s.Val))
}

func TestRenderWindowPan(t *testing.T) {
	img := testImage(t)
	const n, w, h = 5, 32, 24
	tests := []struct {
		x0, y0, vx, vy float64
	}{
		{3, 2, 2, 1},
		{40, 30, -3, -2},
		{10, 10, 0, 1},
	}
	for _, tc := range tests {
		for i, win := range PanWindows(tc.x0, tc.y0, tc.vx, tc.vy, n, w, h) {
			got := RenderWindow(img, win, w, h)
			x, y := int(tc.x0+tc.vx*float64(i)), int(tc.y0+tc.vy*float64(i))
			if want := img.Crop(image.Rect(x, y, x+w, y+h)); !equalImages(got, want) {
				t.Fatalf("pan %+v frame %d differs from the crop at (%d,%d)", tc, i, x, y)
			}
		}
	}
	// A half-pixel shift is the average of the two neighbouring crops.
	got := RenderWindow(img, Window{X: 5.5, Y: 4, W: w, H: h}, w, h)
	a := img.Crop(image.Rect(5, 4, 5+w, 4+h))
	b := img.Crop(image.Rect(6, 4, 6+w, 4+h))
	for i := range got.Pix {
		if d := math.Abs(float64(got.Pix[i] - (a.Pix[i]+b.Pix[i])/2)); d > 1e-6 {
			t.Fatalf("half-pixel pan sample %d off by %g", i, d)
		}
	}
}

func TestPhotoWindows(t *testing.T) {
	p := NewPhotoSource("unused.jpg", Options{MaxSpeed: 5, MaxZoom: 0.05, Jitter: 1.5})
	r := testRand(4)
	const iw, ih, n, w, h = 200, 120, 9, 64, 48
	seen := map[Motion]int{}
	for range 300 {
		m, wins, err := p.Windows(r, iw, ih, n, w, h)
		if err != nil {
			t.Fatal(err)
		}
		seen[m]++
		if len(wins) != n {
			t.Fatalf("%d windows", len(wins))
		}
		for i, win := range wins {
			if win.X < -1e-9 || win.Y < -1e-9 || win.X+win.W > iw+1e-9 || win.Y+win.H > ih+1e-9 {
				t.Fatalf("%s window %d %+v leaves the %dx%d picture", m, i, win, iw, ih)
			}
			if win.W < w-1e-9 || win.H < h-1e-9 {
				t.Fatalf("%s window %d %+v smaller than the output (upsampling)", m, i, win)
			}
			if m != Zoom && (win.W != w || win.H != h) {
				t.Fatalf("%s window %d %+v is scaled", m, i, win)
			}
			if m == Pan && i > 1 {
				dx1, dx2 := wins[i].X-wins[i-1].X, wins[i-1].X-wins[i-2].X
				if math.Abs(dx1-dx2) > 1e-9 || math.Abs(dx1) > 5 {
					t.Fatalf("pan velocity not constant or too fast: %v, %v", dx1, dx2)
				}
			}
		}
	}
	for _, m := range []Motion{Pan, Zoom, Jitter} {
		if seen[m] < 60 {
			t.Errorf("motion %s drawn %d times in 300", m, seen[m])
		}
	}
	if _, _, err := p.Windows(r, 50, 50, 3, 64, 48); !errors.Is(err, ErrTooSmall) {
		t.Errorf("too small photo: %v", err)
	}
}

func writeVideo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("no ffmpeg")
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("no ffprobe")
	}
	out := filepath.Join(t.TempDir(), "clip.mkv")
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-framerate", "25",
		"-i", filepath.Join(testFrames, "f%03d.png"), "-c:v", "ffv1", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	return out
}

func TestClipShapes(t *testing.T) {
	ctx := context.Background()
	paths, err := LoadFrames(testFrames)
	if err != nil {
		t.Fatal(err)
	}
	flips := Options{HFlip: true, VFlip: true, Reverse: true}
	tests := []struct {
		name string
		make func(t *testing.T) Source
	}{
		{"frames in memory", func(t *testing.T) Source {
			s, err := NewFrameSource("bp", paths, flips)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"frames streamed", func(t *testing.T) Source {
			o := flips
			o.MaxMemory = 1
			s, err := NewFrameSource("bp", paths, o)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"photo", func(t *testing.T) Source {
			return NewPhotoSource(filepath.Join(testFrames, "f001.png"), Options{Downscale: 1, HFlip: true})
		}},
		{"photo cached", func(t *testing.T) Source {
			return NewPhotoSource(filepath.Join(testFrames, "f001.png"), Options{Cache: NewCache(1 << 20)})
		}},
		{"video file", func(t *testing.T) Source {
			s, err := NewVideoSource(ctx, writeVideo(t), flips)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"video file streamed", func(t *testing.T) Source {
			s, err := NewVideoSource(ctx, writeVideo(t), Options{MaxMemory: 1})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.make(t)
			for _, sz := range [][3]int{{3, 16, 24}, {6, 32, 44}, {1, 8, 8}} {
				clip, err := src.Clip(testRand(1), sz[0], sz[1], sz[2])
				if err != nil {
					t.Fatal(err)
				}
				if len(clip) != sz[0] {
					t.Fatalf("%d frames, want %d", len(clip), sz[0])
				}
				for _, f := range clip {
					if f.H != sz[1] || f.W != sz[2] || len(f.Pix) != f.W*f.H*3 {
						t.Fatalf("frame %dx%d, want %dx%d", f.W, f.H, sz[2], sz[1])
					}
				}
				again, err := src.Clip(testRand(1), sz[0], sz[1], sz[2])
				if err != nil {
					t.Fatal(err)
				}
				if !equalClips([][]*frame.Image{clip}, [][]*frame.Image{again}) {
					t.Fatal("same generator state gave a different clip")
				}
			}
			if _, err := src.Clip(testRand(1), 7, 8, 8); tc.name[:5] != "photo" && !errors.Is(err, ErrTooSmall) {
				t.Errorf("7 frames from 6: %v", err)
			}
			if _, err := src.Clip(testRand(1), 2, 65, 8); !errors.Is(err, ErrTooSmall) {
				t.Errorf("crop taller than the source: %v", err)
			}
		})
	}
}

func TestFrameSourceStreamedMatchesMemory(t *testing.T) {
	paths, err := LoadFrames(testFrames)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := NewFrameSource("bp", paths, Options{HFlip: true})
	if err != nil {
		t.Fatal(err)
	}
	disk, err := NewFrameSource("bp", paths, Options{HFlip: true, MaxMemory: 1})
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(5) {
		a, err := mem.Clip(testRand(seed), 4, 20, 30)
		if err != nil {
			t.Fatal(err)
		}
		b, err := disk.Clip(testRand(seed), 4, 20, 30)
		if err != nil {
			t.Fatal(err)
		}
		if !equalClips([][]*frame.Image{a}, [][]*frame.Image{b}) {
			t.Fatalf("seed %d: streamed clip differs", seed)
		}
	}
}

func TestSampler(t *testing.T) {
	ctx := context.Background()
	paths, err := LoadFrames(testFrames)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := NewFrameSource("bp", paths, Options{HFlip: true})
	if err != nil {
		t.Fatal(err)
	}
	photo := NewPhotoSource(filepath.Join(testFrames, "f003.png"), Options{Downscale: 1})
	sources := []Source{frames, photo}
	tests := []struct {
		preset degrade.Preset
		scale  int
	}{
		{degrade.Bicubic, 4},
		{degrade.RealESRGAN, 2},
	}
	for _, tc := range tests {
		t.Run(string(tc.preset), func(t *testing.T) {
			batch := func(seed uint64, workers int) ([][]*frame.Image, [][]*frame.Image) {
				s, err := NewSampler(SamplerConfig{Sources: sources, Preset: tc.preset, Scale: tc.scale, Seed: seed, Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				hq, lq, err := s.Batch(ctx, 4, 3, 24, 32)
				if err != nil {
					t.Fatal(err)
				}
				return hq, lq
			}
			hq, lq := batch(5, 1)
			if len(hq) != 4 || len(lq) != 4 {
				t.Fatalf("%d/%d items", len(hq), len(lq))
			}
			for i := range hq {
				if len(hq[i]) != 3 || len(lq[i]) != 3 {
					t.Fatalf("item %d: %d/%d frames", i, len(hq[i]), len(lq[i]))
				}
				for j := range hq[i] {
					if hq[i][j].W != 32 || hq[i][j].H != 24 || lq[i][j].W != 32/tc.scale || lq[i][j].H != 24/tc.scale {
						t.Fatalf("item %d frame %d: %dx%d and %dx%d", i, j, hq[i][j].W, hq[i][j].H, lq[i][j].W, lq[i][j].H)
					}
				}
			}
			hq2, lq2 := batch(5, 3)
			if !equalClips(hq, hq2) || !equalClips(lq, lq2) {
				t.Error("same seed gave a different batch with 3 workers")
			}
			hq3, _ := batch(6, 3)
			if equalClips(hq, hq3) {
				t.Error("different seeds gave the same batch")
			}
		})
	}
	if _, err := NewSampler(SamplerConfig{Sources: sources, Preset: degrade.Bicubic, Scale: 4}); err != nil {
		t.Fatal(err)
	}
	s, _ := NewSampler(SamplerConfig{Sources: sources, Preset: degrade.Bicubic, Scale: 4})
	if _, _, err := s.Batch(ctx, 1, 2, 30, 32); err == nil {
		t.Error("crop not a multiple of the scale accepted")
	}
	if _, err := NewSampler(SamplerConfig{Preset: degrade.Bicubic, Scale: 4}); err == nil {
		t.Error("sampler without sources accepted")
	}
}
