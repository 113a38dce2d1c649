package lpips

import (
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
)

// weightsPath is the committed weights file, relative to this package.
var weightsPath = filepath.Join("..", "..", "models", "perceptual", DefaultName)

// testBackend returns the pure-Go backend, created once for the test binary.
var testBackend = sync.OnceValue(func() compute.Backend {
	b, err := gobackend.New("")
	if err != nil {
		panic(err)
	}
	return b
})

var testWeights = sync.OnceValues(func() (*Weights, error) { return LoadWeights(weightsPath) })

func newMetric(t testing.TB) *Metric {
	t.Helper()
	w, err := testWeights()
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(testBackend(), w)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// loadRGB reads a PNG from testdata as interleaved RGB in [0, 1].
func loadRGB(t testing.TB, name string) (pix []float32, w, h int) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return toRGB(img)
}

func toRGB(img image.Image) (pix []float32, w, h int) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	pix = make([]float32, 0, w*h*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			pix = append(pix, float32(r>>8)/255, float32(g>>8)/255, float32(bl>>8)/255)
		}
	}
	return pix, w, h
}

// golden reads the reference values computed with the PyTorch weights in
// float64 numpy.
func golden(t *testing.T) map[string]float64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden_values.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]map[string]float64
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	return map[string]float64{
		"ex_p0.png": g["ex_ref_vs_ex_p0"]["lpips_squeeze_v0.1_numpy_ref"],
		"ex_p1.png": g["ex_ref_vs_ex_p1"]["lpips_squeeze_v0.1_numpy_ref"],
	}
}

func TestGolden(t *testing.T) {
	m := newMetric(t)
	ref, w, h := loadRGB(t, "ex_ref.png")
	want := golden(t)
	if want["ex_p0.png"] == 0 || want["ex_p1.png"] == 0 {
		t.Fatalf("golden values missing: %v", want)
	}
	for _, name := range []string{"ex_p0.png", "ex_p1.png"} {
		dist, w2, h2 := loadRGB(t, name)
		if w2 != w || h2 != h {
			t.Fatalf("%s is %dx%d, ref %dx%d", name, w2, h2, w, h)
		}
		got, err := m.Distance(ref, dist, w, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("LPIPS(ex_ref, %s) = %.7f, golden %.7f, diff %.2g", name, got, want[name], got-want[name])
		if math.Abs(got-want[name]) > 1e-4 {
			t.Errorf("LPIPS(ex_ref, %s) = %.7f, want %.7f ± 1e-4", name, got, want[name])
		}
		// LPIPS is symmetric.
		back, err := m.Distance(dist, ref, w, h)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(back-got) > 1e-6 {
			t.Errorf("LPIPS(%s, ex_ref) = %.7f, LPIPS(ex_ref, %s) = %.7f: not symmetric", name, back, name, got)
		}
	}
}

func TestIdentityAndFlat(t *testing.T) {
	m := newMetric(t)
	ref, w, h := loadRGB(t, "ex_ref.png")
	got, err := m.Distance(ref, ref, w, h)
	if err != nil {
		t.Fatal(err)
	}
	if got != 0 {
		t.Errorf("LPIPS(x, x) = %g, want 0", got)
	}
	// Flat black images make every feature vector of the first layer zero
	// after the ReLU; without the guard the normalisation would give NaN.
	black := make([]float32, w*h*3)
	for _, other := range [][]float32{black, ref} {
		v, err := m.Distance(black, other, w, h)
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Errorf("LPIPS with a black image = %g, want finite and >= 0", v)
		}
	}
}

func TestSizeErrors(t *testing.T) {
	m := newMetric(t)
	small := make([]float32, 16*16*3)
	if _, err := m.Distance(small, small, 16, 16); err == nil {
		t.Error("16x16: no error")
	}
	if _, err := m.Distance(small, small[:10], 40, 40); err == nil {
		t.Error("short slice: no error")
	}
}

// TestOddSizes runs sizes whose pooling windows hang over the edge (ceil
// mode) and checks a non-square, odd-sized pair gives a sane value.
func TestOddSizes(t *testing.T) {
	m := newMetric(t)
	ref, w, h := loadRGB(t, "ex_ref.png")
	dist, _, _ := loadRGB(t, "ex_p1.png")
	cw, ch := 61, 47
	crop := func(p []float32) []float32 {
		out := make([]float32, 0, cw*ch*3)
		for y := range ch {
			out = append(out, p[(y*w)*3:(y*w+cw)*3]...)
		}
		return out
	}
	_ = h
	v, err := m.Distance(crop(ref), crop(dist), cw, ch)
	if err != nil {
		t.Fatal(err)
	}
	if !(v > 0.05 && v < 0.5) {
		t.Errorf("LPIPS on a %dx%d crop of (ex_ref, ex_p1) = %g, want near the full-image 0.148", cw, ch, v)
	}
}

// TestGradient checks that LPIPS is differentiable with respect to the
// distorted image and that a few gradient-descent steps on the distorted
// image bring it closer to the reference.
func TestGradient(t *testing.T) {
	w, err := testWeights()
	if err != nil {
		t.Fatal(err)
	}
	ref, iw, ih := loadRGB(t, "ex_ref.png")
	dist, _, _ := loadRGB(t, "ex_p0.png")
	step, err := NewExec(testBackend(), func(r, d *Node) (loss, grad *Node) {
		loss = ReduceSum(w.Distance(r, d))
		grad = Gradient(loss, d)[0]
		return loss, grad
	})
	if err != nil {
		t.Fatal(err)
	}
	rt := tensors.FromFlatDataAndDimensions(ref, 1, ih, iw, 3)

	// The gradient matches central finite differences along two unit
	// directions: the gradient's own (derivative |∇f|) and a mix of it with
	// a fixed pseudo-random pattern.
	m := newMetric(t)
	out, err := step.Exec(rt, tensors.FromFlatDataAndDimensions(dist, 1, ih, iw, 3))
	if err != nil {
		t.Fatal(err)
	}
	g0 := tensors.MustCopyFlatData[float32](out[1])
	unit := func(v []float64) []float32 {
		var n float64
		for _, x := range v {
			n += x * x
		}
		u := make([]float32, len(v))
		for i, x := range v {
			u[i] = float32(x / math.Sqrt(n))
		}
		return u
	}
	along := make([]float64, len(g0))
	mixed := make([]float64, len(g0))
	var gn float64
	for _, g := range g0 {
		gn += float64(g) * float64(g)
	}
	for i, g := range g0 {
		along[i] = float64(g)
		mixed[i] = float64(g)/math.Sqrt(gn) + 0.5*math.Sin(float64(i)*0.7311)/math.Sqrt(float64(len(g0))/2)
	}
	for _, dir := range [][]float32{unit(along), unit(mixed)} {
		var analytic float64
		for i := range dir {
			analytic += float64(g0[i]) * float64(dir[i])
		}
		const h = 0.001 // the difference shrinks with h (curvature): 0.2% here, 4% at 0.01
		shifted := func(sign float64) float64 {
			x := make([]float32, len(dist))
			for i := range x {
				x[i] = dist[i] + float32(sign*h)*dir[i]
			}
			v, err := m.Distance(ref, x, iw, ih)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		numeric := (shifted(1) - shifted(-1)) / (2 * h)
		t.Logf("directional derivative: analytic %.5f, finite difference %.5f", analytic, numeric)
		if !(math.Abs(analytic) > 0.1) || math.Abs(analytic-numeric) > 0.02*math.Abs(analytic) {
			t.Errorf("directional derivative: gradient gives %.5f, finite difference %.5f", analytic, numeric)
		}
	}

	cur := append([]float32(nil), dist...)
	var first, last float64
	const lr = 0.5
	for it := range 4 {
		out, err := step.Exec(rt, tensors.FromFlatDataAndDimensions(cur, 1, ih, iw, 3))
		if err != nil {
			t.Fatal(err)
		}
		loss := float64(tensors.MustCopyFlatData[float32](out[0])[0])
		grad := tensors.MustCopyFlatData[float32](out[1])
		var norm float64
		for _, g := range grad {
			if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
				t.Fatalf("step %d: non-finite gradient %g", it, g)
			}
			norm += float64(g) * float64(g)
		}
		norm = math.Sqrt(norm)
		t.Logf("step %d: LPIPS %.5f, |grad| %.4g", it, loss, norm)
		if norm == 0 {
			t.Fatalf("step %d: zero gradient", it)
		}
		if it == 0 {
			first = loss
		}
		last = loss
		// Normalised step so that lr is the L2 length of the update.
		for i := range cur {
			cur[i] -= float32(lr * float64(grad[i]) / norm)
		}
	}
	if !(last < first*0.9) {
		t.Errorf("4 descent steps took LPIPS from %.5f to %.5f, want at least 10%% lower", first, last)
	}
}

// TestFeatureShapes checks the layer sizes against PyTorch's for a size
// where the ceil-mode pooling keeps a window hanging over the edge (30 ->
// 15, where floor mode gives 14).
func TestFeatureShapes(t *testing.T) {
	w, err := testWeights()
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewExec(testBackend(), func(x *Node) []*Node { return w.Features(x) })
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(tensors.FromShape(shapesOf(1, 47, 61, 3)))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int{{1, 23, 30, 64}, {1, 11, 15, 128}, {1, 5, 7, 256}, {1, 2, 3, 384}, {1, 2, 3, 384}, {1, 2, 3, 512}, {1, 2, 3, 512}}
	for i, o := range out {
		if got := o.Shape().Dimensions; !slices.Equal(got, want[i]) {
			t.Errorf("layer %d: shape %v, want %v", i, got, want[i])
		}
	}
}

func shapesOf(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

// benchPair returns a 256x256 pair: a smooth pattern and a noisy copy.
func benchPair() (ref, dist []float32) {
	const n = 256
	ref = make([]float32, n*n*3)
	dist = make([]float32, n*n*3)
	for i := range ref {
		p := i / 3
		ref[i] = float32(0.5 + 0.4*math.Sin(float64(p%n)/9+float64(i%3))*math.Cos(float64(p/n)/13))
		dist[i] = ref[i] + float32(0.05*math.Sin(float64(i)*12.9898))
	}
	return ref, dist
}

// BenchmarkDistance256 times one LPIPS forward pass on a 256x256 pair.
func BenchmarkDistance256(b *testing.B) {
	m := newMetric(b)
	ref, dist := benchPair()
	if _, err := m.Distance(ref, dist, 256, 256); err != nil { // compile
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Distance(ref, dist, 256, 256); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGradient256 times LPIPS forward plus the gradient with respect to
// the distorted image on a 256x256 pair.
func BenchmarkGradient256(b *testing.B) {
	w, err := testWeights()
	if err != nil {
		b.Fatal(err)
	}
	e, err := NewExec(testBackend(), func(r, d *Node) (*Node, *Node) {
		loss := ReduceSum(w.Distance(r, d))
		return loss, Gradient(loss, d)[0]
	})
	if err != nil {
		b.Fatal(err)
	}
	ref, dist := benchPair()
	rt := tensors.FromFlatDataAndDimensions(ref, 1, 256, 256, 3)
	dt := tensors.FromFlatDataAndDimensions(dist, 1, 256, 256, 3)
	if _, err := e.Exec(rt, dt); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Exec(rt, dt); err != nil {
			b.Fatal(err)
		}
	}
}
