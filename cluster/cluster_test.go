package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/internal/fixture"
	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/tiling"
	"github.com/pssr/pssr/upscale"
	"github.com/pssr/pssr/video"
)

func TestPlan(t *testing.T) {
	w, _ := tiling.Windows(20, 5, 3) // 9 windows, step 2, the last [15, 20)
	cs, err := Plan(w, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 || cs[0].First != 0 || cs[0].Last != 3 || cs[2].First != 6 || cs[2].Last != 9 {
		t.Fatalf("chunks %+v", cs)
	}
	if cs[0].Frames != (tiling.Span{Start: 0, End: 9}) || cs[2].Frames != (tiling.Span{Start: 12, End: 20}) {
		t.Fatalf("chunk frames %+v %+v", cs[0].Frames, cs[2].Frames)
	}
	if _, err := Plan(w, 0); err == nil {
		t.Error("0 windows a chunk accepted")
	}
}

func TestRecords(t *testing.T) {
	a := frame.New(3, 2)
	for i := range a.Pix {
		a.Pix[i] = float32(i) / 7
	}
	a.Pix[4] = float32(math.Inf(1))
	a.Pix[5] = math.Float32frombits(0x7fc00001) // a NaN payload survives
	var buf bytes.Buffer
	rw, err := newRecordWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rw.write(kindFrame, 7, -1, a)
	rw.write(kindPart, 8, 3, a)
	rw.flush()
	rr, err := newRecordReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []record{{kindFrame, 7, -1, a}, {kindPart, 8, 3, a}} {
		got, err := rr.next()
		if err != nil {
			t.Fatal(err)
		}
		if got.kind != want.kind || got.t != want.t || got.win != want.win || got.img.W != 3 || got.img.H != 2 {
			t.Fatalf("record %+v, want %+v", got, want)
		}
		for i := range a.Pix {
			if math.Float32bits(got.img.Pix[i]) != math.Float32bits(a.Pix[i]) {
				t.Fatalf("sample %d changed", i)
			}
		}
	}
	if _, err := rr.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last record: %v", err)
	}
	trunc, _ := newRecordReader(bytes.NewReader(buf.Bytes()[:buf.Len()-3]))
	trunc.next()
	if _, err := trunc.next(); !errors.Is(err, errBadRecords) {
		t.Fatalf("truncated record: %v", err)
	}
	if _, err := newRecordReader(strings.NewReader("garbage!")); !errors.Is(err, errBadRecords) {
		t.Fatalf("bad magic: %v", err)
	}
}

// TestRecordSampleFormats checks that a frame of 8-bit or 16-bit values
// (as the readers make them) is stored as integers, a quarter or half the
// size, that anything else stays float32, and that every sample comes
// back bit for bit.
func TestRecordSampleFormats(t *testing.T) {
	for q := 0; q < 65536; q++ {
		if q < 256 {
			if f := sampleFormat([]float32{float32(q) / 255}); f != samplesUint8 {
				t.Fatalf("%d/255: format %d, want uint8", q, f)
			}
		}
		if f := sampleFormat([]float32{float32(q) / 65535}); f == samplesFloat32 {
			t.Fatalf("%d/65535: stored as float32", q)
		}
	}
	const w, h = 5, 4
	fill := func(f func(i int) float32) *frame.Image {
		m := frame.New(w, h)
		for i := range m.Pix {
			m.Pix[i] = f(i)
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		img   *frame.Image
		bytes int // per sample
	}{
		{"8-bit", fill(func(i int) float32 { return float32(i*37%256) / 255 }), 1},
		{"8-bit extremes", fill(func(i int) float32 { return float32(255*(i%2)) / 255 }), 1},
		{"16-bit", fill(func(i int) float32 { return float32(i*4099%65536) / 65535 }), 2},
		{"float", fill(func(i int) float32 { return float32(i)/255 + 1e-4 }), 4},
		{"8-bit but one negative zero", fill(func(i int) float32 {
			if i == 3 {
				return float32(math.Copysign(0, -1))
			}
			return float32(i) / 255
		}), 4},
		{"above 1", fill(func(i int) float32 { return float32(i) / 10 }), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			rw, err := newRecordWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if err := rw.write(kindFrame, 1, -1, tc.img); err != nil {
				t.Fatal(err)
			}
			rw.flush()
			if want := len(recordMagic) + 17 + tc.bytes*w*h*3; buf.Len() != want {
				t.Errorf("%d bytes, want %d (%d per sample)", buf.Len(), want, tc.bytes)
			}
			rr, err := newRecordReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rr.next()
			if err != nil {
				t.Fatal(err)
			}
			if got.kind != kindFrame || got.t != 1 {
				t.Fatalf("record kind %d frame %d", got.kind, got.t)
			}
			for i, v := range tc.img.Pix {
				if math.Float32bits(got.img.Pix[i]) != math.Float32bits(v) {
					t.Fatalf("sample %d: %g (%#x), want %g (%#x)", i, got.img.Pix[i], math.Float32bits(got.img.Pix[i]), v, math.Float32bits(v))
				}
			}
		})
	}
}

// countHandler counts log records by message.
type countHandler struct {
	slog.Handler
	mu *sync.Mutex
	n  map[string]int
}

func (h countHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	h.n[r.Message]++
	h.mu.Unlock()
	return h.Handler.Handle(ctx, r)
}
func (h countHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return countHandler{h.Handler.WithAttrs(a), h.mu, h.n}
}
func (h countHandler) WithGroup(g string) slog.Handler {
	return countHandler{h.Handler.WithGroup(g), h.mu, h.n}
}
func (h countHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

func newBackend(spec string) (compute.Backend, error) {
	be, _, err := backend.New(spec, nil)
	return be, err
}

// decode returns the frames of the video at path.
func decode(t *testing.T, path string) []*frame.Image {
	t.Helper()
	r, err := video.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var fs []*frame.Image
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return fs
		}
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
}

// TestCoordinatorWorkers runs a job in process on an embedded JetStream
// server with two workers and checks the output against upscale.Engine's
// (the single-machine path) frame for frame, bit for bit; then submits the
// same job again (no chunk is computed twice) and checks that a worker
// refuses a model whose hash differs. The model is the active test fixture
// (random weights, not a trained model), windows of 5 frames overlapping
// by 3 (three windows cover some frames), two windows a chunk.
func TestCoordinatorWorkers(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.mkv")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=32x24:rate=10", "-frames:v", "17",
		"-c:v", "ffv1", clip).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	modelPath := fixture.Model(t, dir, true)
	opt := pipeline.DefaultOptions()
	opt.Scale, opt.WindowT, opt.OverlapT = 2, 5, 3

	be, err := newBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Finalize()
	e, err := upscale.NewEngine(upscale.Setup{Model: modelPath, Options: opt, TileSet: true, Backend: be})
	if err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "ref.mkv")
	if _, err := e.Run(t.Context(), upscale.Job{In: clip, Out: ref, Output: video.WriterOptions{Codec: video.FFV1}}); err != nil {
		t.Fatal(err)
	}

	srv, err := StartEmbedded("127.0.0.1:0", filepath.Join(dir, "nats"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	nc, err := Dial(srv.URL(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	conn, err := Setup(ctx, nc, Config{AckWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	logs := countHandler{slog.NewTextHandler(io.Discard, nil), &sync.Mutex{}, map[string]int{}}
	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var started atomic.Int32
	for i := range 2 {
		wconn, err := Join(ctx, nc, nil)
		if err != nil {
			t.Fatal(err)
		}
		w, err := NewWorker(wconn, WorkerOptions{Name: []string{"w1", "w2"}[i], NewBackend: newBackend,
			CacheDir: filepath.Join(dir, "cache", []string{"w1", "w2"}[i]), Logger: slog.New(logs)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Add(1)
			w.Run(wctx)
		}()
	}
	defer func() { stopWorkers(); wg.Wait() }()

	co := NewCoordinator(conn, CoordinatorOptions{WindowsPerChunk: 2})
	job := Job{Tag: "a", In: clip, Out: filepath.Join(dir, "got.mkv"), Output: video.WriterOptions{Codec: video.FFV1},
		ModelPath: modelPath, Options: opt}
	res, err := co.Run(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	// 17 frames, windows of 5 every 2 frames: 7 windows, 4 chunks.
	if res.Frames != 17 || res.Chunks != 4 || res.Published != 4 {
		t.Fatalf("result %+v, want 17 frames, 4 chunks, 4 published", res)
	}
	want, got := decode(t, ref), decode(t, job.Out)
	if len(got) != len(want) {
		t.Fatalf("%d frames, single-machine %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(want[i].ToRGB24(nil), got[i].ToRGB24(nil)) {
			t.Fatalf("frame %d differs from the single-machine run", i)
		}
	}
	if n := logs.count("cluster: chunk done"); n != 4 {
		t.Fatalf("%d chunks computed, want 4", n)
	}

	// The same job again: nothing is published or computed.
	job.Out = filepath.Join(dir, "again.mkv")
	res, err = co.Run(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if res.Published != 0 || logs.count("cluster: chunk done") != 4 {
		t.Fatalf("the same job again published %d chunks, %d computed in all", res.Published, logs.count("cluster: chunk done"))
	}
	again := decode(t, job.Out)
	for i := range want {
		if !bytes.Equal(want[i].ToRGB24(nil), again[i].ToRGB24(nil)) {
			t.Fatalf("frame %d of the second output differs", i)
		}
	}

	// A stored model whose content does not have the job's hash is refused.
	w, _ := NewWorker(conn, WorkerOptions{Name: "w3", NewBackend: newBackend, CacheDir: filepath.Join(dir, "cache", "w3")})
	fake := strings.Repeat("ab", 32)
	if _, err := conn.files.PutBytes(ctx, modelObject(fake), []byte("not the model")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.model(ctx, fake); !errors.Is(err, ErrModelMismatch) {
		t.Fatalf("a model of another hash: %v, want ErrModelMismatch", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "cache", "w3")); len(ents) != 0 {
		t.Errorf("the refused model was kept: %v", ents)
	}
}
