package dataset

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
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
	for _, seq := range []string{"blackswan", "bmx-trees", "car-roundabout"} {
		for i := range 5 {
			touch(t, filepath.Join(data, "davis2016-480p", seq, frameName("%05d.jpg", i)))
		}
	}
	touch(t, filepath.Join(data, "davis2016-480p", "LICENSE.txt"))
	touch(t, filepath.Join(data, "basketballpass-416x240", "LICENSE.OpenDVC"))
	touch(t, filepath.Join(data, "README.md"))
	touch(t, filepath.Join(data, "street.mp4"))
	touch(t, filepath.Join(data, "sam2-clips", "01_dog.mp4"))
	touch(t, filepath.Join(data, "baseball-1280x720.mp4"))
	for _, p := range []string{
		"plasma-workspace-wallpapers/Kite.jpg", "plasma-workspace-wallpapers/Path.jpg",
		"plasma-workspace-wallpapers/Kite.metadata.json",
		"lomiri-wallpapers-16.04/aitzgorri_by_Aitzol_Berasategi.jpg",
		"lomiri-wallpapers-16.04/sunset_by_Aitzol_Berasategi.jpg",
		"mate-backgrounds/Dune.jpg",
		"urban100-half/img_001.png",
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

// shotOf is the shot a frame or video path belongs to, relative to data:
// the frame's folder, or the video without its extension.
func shotOf(t *testing.T, data, path string) string {
	t.Helper()
	p := path
	if isImageFile(p) {
		p = filepath.Dir(p)
	} else {
		p = strings.TrimSuffix(p, filepath.Ext(p))
	}
	rel, err := filepath.Rel(data, p)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(rel)
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
		"basketballpass-416x240/f001-f100", "davis2016-480p/bmx-trees/00000-00004",
		"sam2-clips/01_dog.mp4", "street.mp4",
		"lomiri-wallpapers-16.04/sunset_by_Aitzol_Berasategi.jpg",
		"mate-backgrounds/Dune.jpg", "plasma-workspace-wallpapers/Path.jpg",
		"urban100-half/img_001.png",
	}
	wantVal := []string{
		"baseball-1280x720/01-20", "baseball-1280x720.mp4",
		"davis2016-480p/blackswan/00000-00004", "davis2016-480p/car-roundabout/00000-00004",
		"lomiri-wallpapers-16.04/aitzgorri_by_Aitzol_Berasategi.jpg",
		"plasma-workspace-wallpapers/Kite.jpg",
	}
	if got := names(s.Train); !slices.Equal(got, wantTrain) {
		t.Errorf("train %v\nwant %v", got, wantTrain)
	}
	if got := names(s.Val); !slices.Equal(got, wantVal) {
		t.Errorf("val %v\nwant %v", got, wantVal)
	}
	// BasketballPass trains whole.
	if n := len(s.Train[0].Paths); n != 100 {
		t.Errorf("%d BasketballPass training frames, want all 100", n)
	}
	// No validation shot contributes a frame (or a video) to training.
	for _, it := range s.Train {
		for _, p := range it.Paths {
			sh := shotOf(t, data, p)
			if slices.Contains(ValShots, sh) {
				t.Errorf("training item %s holds %s of the validation shot %s", it.Name, p, sh)
			}
		}
	}
	for _, v := range ValShots {
		found := false
		for _, it := range s.Val {
			found = found || shotOf(t, data, it.Paths[0]) == v
		}
		if !found {
			t.Errorf("validation shot %s is not a validation item", v)
		}
	}
	// JPEG material (DAVIS frames, Debian photos) is shrunk by 2 as ground
	// truth, lossless material is not.
	for _, it := range append(slices.Clone(s.Train), s.Val...) {
		want := 1
		if isJPEG(it.Paths[0]) {
			want = 2
		}
		if it.Kind == KindVideo {
			want = 0
		}
		if it.Downscale != want {
			t.Errorf("%s: Downscale %d, want %d", it.Name, it.Downscale, want)
		}
	}
}

func TestSplitDisjoint(t *testing.T) {
	data, photos := fakeData(t)
	s, err := MakeSplit(data, photos)
	if err != nil {
		t.Fatal(err)
	}
	bp := s.Train[0].Paths
	tests := []struct {
		name       string
		train, val []Item
	}{
		{"a shared frame", s.Train, append(slices.Clone(s.Val), Item{Name: "leak", Kind: KindFrames, Paths: bp[69:]})},
		// The old in-shot split: no frame on both sides, but one shot.
		{"one shot cut in time",
			[]Item{{Name: "bp/head", Kind: KindFrames, Paths: bp[:70]}},
			[]Item{{Name: "bp/tail", Kind: KindFrames, Paths: bp[70:]}}},
		{"a validation shot in training", append(slices.Clone(s.Train), s.Val[2]), nil},
		{"a video and the frames of one shot",
			[]Item{{Name: "v", Kind: KindVideo, Paths: []string{filepath.Join(data, "clip.mp4")}}},
			[]Item{{Name: "f", Kind: KindFrames, Paths: []string{filepath.Join(data, "clip", "f1.png")}}}},
	}
	for _, tc := range tests {
		if err := (Split{Train: tc.train, Val: tc.val}).Disjoint(); err == nil {
			t.Errorf("%s: Disjoint accepted it", tc.name)
		}
	}
}

// TestSplitPartialData: a data folder with only some of the shots splits
// what is there, whichever folder --data points at.
func TestSplitPartialData(t *testing.T) {
	data, _ := fakeData(t)
	// Only BasketballPass: it trains whole, nothing is held out.
	only := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(only, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(data, "basketballpass-416x240"), filepath.Join(only, "basketballpass-416x240")); err != nil {
		t.Fatal(err)
	}
	s, err := MakeSplit(only, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(s.Train); !slices.Equal(got, []string{"basketballpass-416x240/f001-f100"}) || len(s.Val) != 0 {
		t.Errorf("BasketballPass alone (linked): train %v, val %v", got, names(s.Val))
	}
	// --data is the DAVIS folder itself: its validation sequences stay
	// held out.
	s, err = MakeSplit(filepath.Join(data, "davis2016-480p"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(s.Train), []string{"bmx-trees/00000-00004"}; !slices.Equal(got, want) {
		t.Errorf("DAVIS alone: train %v, want %v", got, want)
	}
	if got, want := names(s.Val), []string{"blackswan/00000-00004", "car-roundabout/00000-00004"}; !slices.Equal(got, want) {
		t.Errorf("DAVIS alone: val %v, want %v", got, want)
	}
	if _, err := MakeSplit(filepath.Join(data, "missing"), ""); err == nil {
		t.Error("a missing data folder was accepted")
	}
}

func TestIsValShot(t *testing.T) {
	for path, want := range map[string]bool{
		"/d/davis2016-480p/blackswan":      true,
		"data/davis2016-480p/blackswan":    true,
		"/d/baseball-1280x720":             true,
		"/d/baseball-1280x720.mp4":         true,
		"/d/davis2016-480p/blackswan2":     false,
		"/d/other/blackswan":               false,
		"/d/basketballpass-416x240":        false,
		"/d/davis2016-480p/car-roundabout": true,
		"/d/davis2016-480p/bmx-trees":      false,
	} {
		if got := IsValShot(path); got != want {
			t.Errorf("IsValShot(%q) = %v, want %v", path, got, want)
		}
	}
}

// writeJPEGs writes the testdata frames as JPEG files (quality 95) into
// dir, as a DAVIS sequence is stored.
func writeJPEGs(t *testing.T, dir string) []string {
	t.Helper()
	src, err := LoadFrames(testFrames)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, p := range src {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, frameName("%05d.jpg", i))
		w, err := os.Create(dst)
		if err != nil {
			t.Fatal(err)
		}
		if err := jpeg.Encode(w, img, &jpeg.Options{Quality: 95}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out = append(out, dst)
	}
	return out
}

// TestJPEGFramesDownscaled: the frames of a DAVIS sequence (JPEG) are shrunk
// by 2 (area filter) whenever they are used as ground truth: training clips
// through Item.Source and validation frames through Item.Frames; an explicit
// Options.VideoDownscale wins; PNG frames keep their size.
func TestJPEGFramesDownscaled(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	jpgs := writeJPEGs(t, filepath.Join(data, "davis2016-480p", "goat"))
	s, err := MakeSplit(data, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Train) != 1 || s.Train[0].Downscale != 2 {
		t.Fatalf("split %+v: want one training item with Downscale 2", s)
	}
	it := s.Train[0]
	full, err := frame.Load(jpgs[0])
	if err != nil {
		t.Fatal(err)
	}
	want := frame.Resize(full, 48, 32, frame.Area)

	src, err := it.Source(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs := src.(*FrameSource)
	if w, h := fs.Size(); w != 48 || h != 32 {
		t.Errorf("source of a 96x64 JPEG sequence is %dx%d, want 48x32", w, h)
	}
	clip, err := src.Clip(testRand(1), 6, 32, 48) // the whole shrunk frames
	if err != nil {
		t.Fatal(err)
	}
	if !equalImages(clip[0], want) {
		t.Error("training frame 0 is not the JPEG shrunk by 2 (area)")
	}
	if _, err := src.Clip(testRand(1), 2, 64, 96); !errors.Is(err, ErrTooSmall) {
		t.Errorf("a full-size crop of a shrunk source: %v, want ErrTooSmall", err)
	}
	frames, err := it.Frames(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 2 || !equalImages(frames[0], want) {
		t.Errorf("Item.Frames: %d frames, first %dx%d: want the JPEG shrunk by 2", len(frames), frames[0].W, frames[0].H)
	}
	// An explicit Options value wins over the item's.
	src, err = it.Source(ctx, Options{VideoDownscale: 1})
	if err != nil {
		t.Fatal(err)
	}
	if w, h := src.(*FrameSource).Size(); w != 96 || h != 64 {
		t.Errorf("VideoDownscale 1: %dx%d, want 96x64", w, h)
	}
	// PNG frames are not shrunk.
	bp, err := MakeSplit(filepath.Dir(testFrames), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(bp.Train) != 1 {
		t.Fatalf("testdata split: %v", names(bp.Train))
	}
	pngSrc, err := bp.Train[0].Source(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w, h := pngSrc.(*FrameSource).Size(); w != 96 || h != 64 {
		t.Errorf("PNG frames: %dx%d, want 96x64", w, h)
	}
}

// TestVideoDownscale: Options.VideoDownscale shrinks the frames of a video
// file, held in memory or streamed.
func TestVideoDownscale(t *testing.T) {
	ctx := context.Background()
	path := writeVideo(t)
	full, err := frame.Load(filepath.Join(testFrames, "f001.png"))
	if err != nil {
		t.Fatal(err)
	}
	want := frame.Resize(full, 48, 32, frame.Area)
	for _, mem := range []int64{0, 1} {
		src, err := NewVideoSource(ctx, path, Options{VideoDownscale: 2, MaxMemory: mem})
		if err != nil {
			t.Fatal(err)
		}
		var clip []*frame.Image
		for seed := uint64(0); ; seed++ { // find a clip starting at frame 0
			r := testRand(seed)
			if c, err := src.Clip(r, 5, 32, 48); err != nil {
				t.Fatal(err)
			} else if equalImages(c[0], want) {
				clip = c
				break
			} else if seed > 50 {
				break
			}
		}
		if clip == nil {
			t.Errorf("MaxMemory %d: no clip's first frame is frame 1 shrunk by 2", mem)
		}
		if _, err := src.Clip(testRand(1), 2, 33, 48); !errors.Is(err, ErrTooSmall) {
			t.Errorf("MaxMemory %d: a crop taller than the shrunk video: %v", mem, err)
		}
	}
	it := Item{Name: "clip.mkv", Kind: KindVideo, Paths: []string{path}, Downscale: 2}
	frames, err := it.Frames(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 6 || frames[0].W != 48 || frames[0].H != 32 {
		t.Errorf("Item.Frames of a video: %d frames of %dx%d, want 6 of 48x32", len(frames), frames[0].W, frames[0].H)
	}
}

// TestSplitRealData checks the rule on the project's real data when it is
// present (a user's clone may not have it).
func TestSplitRealData(t *testing.T) {
	data := "../../shared/data"
	if _, err := os.Stat(data); err != nil {
		t.Skip("no shared data")
	}
	s, err := MakeSplit(data, "")
	if err != nil {
		t.Fatal(err)
	}
	trainShots := map[string]int{}
	for _, it := range s.Train {
		for _, p := range it.Paths {
			trainShots[shotOf(t, data, p)]++
		}
	}
	for _, v := range ValShots {
		if trainShots[v] > 0 {
			t.Errorf("validation shot %s has %d training frames", v, trainShots[v])
		}
	}
	if n := trainShots["basketballpass-416x240"]; n != 100 {
		t.Errorf("BasketballPass: %d training frames, want 100", n)
	}
	var val []string
	for _, it := range s.Val {
		val = append(val, shotOf(t, data, it.Paths[0]))
	}
	if !slices.Equal(val, ValShots) {
		t.Errorf("validation shots %v, want %v", val, ValShots)
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

// TestPhotoItemDownscale: a photo item's Downscale (1 for the lossless
// Urban100 PNGs) replaces the default of 2 unless Options sets one.
func TestPhotoItemDownscale(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(testFrames, "f001.png")
	for _, tc := range []struct {
		item, opt, wantW int
	}{
		{1, 0, 96}, // the item's factor
		{0, 0, 48}, // the default, 2
		{1, 3, 32}, // an explicit Options value wins
	} {
		src, err := Item{Name: "p", Kind: KindPhoto, Paths: []string{path}, Downscale: tc.item}.Source(ctx, Options{Downscale: tc.opt})
		if err != nil {
			t.Fatal(err)
		}
		img, err := src.(*PhotoSource).Image()
		if err != nil {
			t.Fatal(err)
		}
		if img.W != tc.wantW {
			t.Errorf("item Downscale %d, Options.Downscale %d: photo %d wide, want %d", tc.item, tc.opt, img.W, tc.wantW)
		}
	}
}
