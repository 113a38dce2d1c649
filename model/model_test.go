package model

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/pssr/pssr/internal/testbackend"
)

func TestKeptBlocks(t *testing.T) {
	tests := []struct {
		blocks int
		k      float64
		want   []int
	}{
		{30, 1.5, []int{2, 5, 8, 11, 14, 17, 20, 23, 26, 29}},
		{6, 1.5, []int{2, 5}},
		{3, 1.5, []int{2}},
		{6, 3, []int{2, 5}},
		{4, 2, []int{1, 3}},
	}
	for _, tc := range tests {
		c := Tiny()
		c.DiT.Blocks, c.Draft.KSelect = tc.blocks, tc.k
		got := c.KeptBlocks()
		if len(got) != len(tc.want) {
			t.Fatalf("blocks=%d k=%g: got %v want %v", tc.blocks, tc.k, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("blocks=%d k=%g: got %v want %v", tc.blocks, tc.k, got, tc.want)
			}
		}
	}
}

// The base hands the draft one feature per kept block, each on the padded
// token grid with the model width; the draft's velocity has the latent shape.
func TestFeatureHandOffShapes(t *testing.T) {
	be := testbackend.New(t)
	cfg := Fixture() // random-weight test fixture
	m, err := New(be, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Latent grid 6x10 -> tokens 3x5 -> padded to 4x6 with window 2.
	const b, tt, h, w = 1, 3, 6, 10
	c := cfg.AE.LatentChannels
	exec, err := mlmodel.NewExec(be, m.Store, func(scope *mlmodel.Scope, xt, zl *Node) []*Node {
		t := Const(xt.Graph(), float32(699))
		v, feats := Base(scope, cfg, xt, zl, t)
		vd := Draft(scope, cfg, xt, zl, t, feats)
		return append([]*Node{v, vd}, feats...)
	})
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromShape(shapeF32(b, tt, h, w, c))
	out, err := exec.Exec(x, x)
	if err != nil {
		t.Fatal(err)
	}
	kept := cfg.KeptBlocks()
	if len(out) != 2+len(kept) {
		t.Fatalf("got %d outputs, want %d", len(out), 2+len(kept))
	}
	for i := 0; i < 2; i++ {
		if got := out[i].Shape().Dimensions; !sameDims(got, []int{b, tt, h, w, c}) {
			t.Errorf("velocity %d shape %v", i, got)
		}
	}
	for i := range kept {
		if got := out[2+i].Shape().Dimensions; !sameDims(got, []int{b * tt, 4, 6, cfg.DiT.Width}) {
			t.Errorf("feature %d shape %v, want [%d 4 6 %d]", i, got, b*tt, cfg.DiT.Width)
		}
	}
}

func TestAutoencoderShapes(t *testing.T) {
	be := testbackend.New(t)
	cfg := Fixture()
	m, err := New(be, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := mlmodel.NewExec(be, m.Store, func(scope *mlmodel.Scope, x *Node) (*Node, *Node) {
		z := Encode(scope, cfg.AE, x)
		return z, Decode(scope, cfg.AE, z, x)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(tensors.FromShape(shapeF32(2, 32, 48, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Shape().Dimensions; !sameDims(got, []int{2, 4, 6, cfg.AE.LatentChannels}) {
		t.Errorf("latent shape %v", got)
	}
	if got := out[1].Shape().Dimensions; !sameDims(got, []int{2, 32, 48, 3}) {
		t.Errorf("decoded shape %v", got)
	}
}

// Every network trains on the pure-Go backend: a few Adam steps on a fixed
// batch lower the loss.
func TestTrainsOnGoBackend(t *testing.T) {
	be := testbackend.New(t)
	cfg := Fixture()
	m, err := New(be, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	m.Store.SetParam(optimizer.ParamLearningRate, 3e-3)
	opt := optimizer.Adam().Done()
	exec, err := mlmodel.NewExec(be, m.Store, func(scope *mlmodel.Scope, x *Node) *Node {
		g := x.Graph()
		z := Encode(scope, cfg.AE, x)
		y := Decode(scope, cfg.AE, z, MulScalar(x, 0.5))
		d := z.Shape().Dimensions
		zt := Reshape(z, 1, d[0], d[1], d[2], d[3])
		tt := Const(g, float32(699))
		v, feats := Base(scope, cfg, zt, zt, tt)
		vd := Draft(scope, cfg, zt, zt, tt, feats)
		loss := Add(ReduceAllMean(Square(Sub(y, x))),
			Add(ReduceAllMean(Square(AddScalar(v, -0.3))), ReduceAllMean(Square(AddScalar(vd, 0.2)))))
		opt.UpdateGraph(scope, g, loss)
		return loss
	})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]float32, 2*16*16*3)
	for i := range data {
		data[i] = float32(0.5 + 0.4*math.Sin(float64(i)*0.37))
	}
	x := tensors.FromFlatDataAndDimensions(data, 2, 16, 16, 3)
	var first, last float32
	for i := 0; i < 15; i++ {
		out, err := exec.Exec(x)
		if err != nil {
			t.Fatal(err)
		}
		l := out[0].Value().(float32)
		if i == 0 {
			first = l
		}
		last = l
	}
	if !(last < 0.7*first) {
		t.Fatalf("loss did not fall: %g -> %g", first, last)
	}
}
