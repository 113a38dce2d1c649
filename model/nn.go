package model

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// ParamSeed is the context hyperparameter (uint64) that seeds weight
// initialisation. Each variable draws from a generator seeded by this value
// and its own full name, so initial weights do not depend on the order in
// which graphs are built.
const ParamSeed = "pssr_init_seed"

// initKind says how a new variable is filled.
type initKind int

const (
	initNormal   initKind = iota // N(0, std) with std given
	initZero                     // all zeros
	initOne                      // all ones
	initIdentity                 // [in, out] with identity on the first min(in,out) rows, zeros elsewhere
)

// param returns the variable scope/name of scope, creating it with the given
// shape and initialisation when it does not exist yet.
func param(scope *mlmodel.Scope, name string, kind initKind, std float64, dims ...int) *mlmodel.Variable {
	if v := scope.GetVariable(name); v != nil {
		if !sameDims(v.Shape().Dimensions, dims) {
			panic(fmt.Sprintf("model: variable %s/%s has shape %v, graph wants %v", scope.Scope(), name, v.Shape().Dimensions, dims))
		}
		return v
	}
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	switch kind {
	case initNormal:
		seed := uint64(0)
		if s, ok := scope.GetParam(ParamSeed); ok {
			switch x := s.(type) {
			case uint64:
				seed = x
			case int:
				seed = uint64(x)
			case int64:
				seed = uint64(x)
			}
		}
		h := fnv.New64a()
		h.Write([]byte(scope.Scope() + "/" + name))
		r := rand.New(rand.NewPCG(seed, h.Sum64()))
		for i := range data {
			data[i] = float32(r.NormFloat64() * std)
		}
	case initOne:
		for i := range data {
			data[i] = 1
		}
	case initIdentity:
		in, out := dims[0], dims[1]
		for i := 0; i < min(in, out); i++ {
			data[i*out+i] = 1
		}
	}
	return scope.VariableWithValue(name, tensors.FromFlatDataAndDimensions(data, dims...))
}

func sameDims(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// linear applies x @ W + b over the last axis. init picks the weight
// initialisation (normal with std 1/sqrt(in) unless zero or identity).
func linear(scope *mlmodel.Scope, x *Node, out int, kind initKind) *Node {
	in := x.Shape().Dimensions[x.Rank()-1]
	w, b := denseParams(scope, x.Graph(), in, out, kind)
	dims := x.Shape().Dimensions
	flat := Reshape(x, -1, in)
	y := addRow(matmul(flat, w), b)
	outDims := append(append([]int{}, dims[:len(dims)-1]...), out)
	return Reshape(y, outDims...)
}

// denseParams returns the weights w [in, out] (std 1/sqrt(in) for
// initNormal) and bias b [out] of a dense layer under scope.
func denseParams(scope *mlmodel.Scope, g *Graph, in, out int, kind initKind) (w, b *Node) {
	w = param(scope, "w", kind, 1/math.Sqrt(float64(in)), in, out).ValueGraph(g)
	b = param(scope, "b", initZero, 0, out).ValueGraph(g)
	return w, b
}

// layerNorm normalises the last axis; affine adds a learned gain and offset.
// Where the backend has a fused LayerNorm (the pure-Go one does) the forward
// pass runs it, in one parallel pass; the gradient always goes through the
// decomposed form (InternalFusedOpCaller), so training is unchanged.
func layerNorm(scope *mlmodel.Scope, x *Node, affine bool) *Node {
	var gain, bias *Node
	if affine {
		g := x.Graph()
		d := x.Shape().Dimensions[x.Rank()-1]
		gain = param(scope, "gain", initOne, 0, d).ValueGraph(g)
		bias = param(scope, "bias", initZero, 0, d).ValueGraph(g)
	}
	return layerNormWith(x, gain, bias)
}

// layerNormWith is layerNorm with the gain and bias given (both nil for
// none).
func layerNormWith(x, gain, bias *Node) *Node {
	out, _ := InternalFusedOpCaller(
		func() *Node { return BackendFusedLayerNorm(x, []int{x.Rank() - 1}, layerNormEps, gain, bias) },
		func() *Node { return layerNormDecomposed(x, gain, bias) },
		true)
	return out
}

// layerNormEps is the variance offset of layerNorm.
const layerNormEps = 1e-6

// layerNormDecomposed is layerNorm in primitive ops, with the broadcasts of
// bcast.go that keep its gradient fast.
func layerNormDecomposed(x, gain, bias *Node) *Node {
	m, d := rowsOf(x)
	flat := Reshape(x, m, d)
	xc := Sub(flat, expandLast(meanLast(flat), d))
	inv := Reciprocal(Sqrt(AddScalar(meanLast(Square(xc)), layerNormEps)))
	y := Reshape(Mul(xc, expandLast(inv, d)), x.Shape().Dimensions...)
	if gain == nil {
		return y
	}
	return addRow(mulRow(y, gain), bias)
}

// gelu is the tanh approximation of GELU. Where the backend has a fused
// GELU the forward pass runs it; the gradient goes through the decomposed
// form.
func gelu(x *Node) *Node {
	out, _ := InternalFusedOpCaller(
		func() *Node { return BackendFusedGelu(x, false) },
		func() *Node {
			c := Add(x, MulScalar(Mul(Square(x), x), 0.044715))
			c = Tanh(MulScalar(c, math.Sqrt(2/math.Pi)))
			return Mul(x, MulScalar(OnePlus(c), 0.5))
		},
		true)
	return out
}

// silu is x * sigmoid(x).
func silu(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// attention is multi-head self-attention over axis 1 of x [B, S, d]. With
// rope, queries and keys are rotated by their position on axis 1 (see
// rotary).
func attention(scope *mlmodel.Scope, x *Node, heads int, rope bool) *Node {
	dims := x.Shape().Dimensions
	b, s, d := dims[0], dims[1], dims[2]
	hd := d / heads
	q := Reshape(linear(scope.At("q"), x, d, initNormal), b, s, heads, hd)
	k := Reshape(linear(scope.At("k"), x, d, initNormal), b, s, heads, hd)
	if rope {
		q, k = rotary(q), rotary(k)
	}
	v := Reshape(linear(scope.At("v"), x, d, initNormal), b, s, heads, hd)
	return linear(scope.At("o"), Reshape(attend(q, k, v), b, s, d), d, initNormal)
}

// attend is softmax(q·kᵀ/√hd)·v per head for q, k, v [B, S, heads, hd],
// returned as [B, S, heads, hd]. On the ONNX exporter's backend it is the
// fused attention op (which the exporter writes as ONNX Runtime's
// MultiHeadAttention, without the transposes of the heads); elsewhere the
// products and softmax below.
func attend(q, k, v *Node) *Node {
	hd := q.Shape().Dimensions[3]
	decomposed := func() *Node {
		// logits [b, heads, q, k]; o [b, heads, q, hd] -> [b, q, heads, hd].
		logits := MulScalar(DotGeneral(q, []int{3}, []int{0, 2}, k, []int{3}, []int{0, 2}), 1/math.Sqrt(float64(hd)))
		att := Softmax(logits, -1)
		o := DotGeneral(att, []int{3}, []int{0, 1}, v, []int{1}, []int{0, 2})
		return TransposeAllDims(o, 0, 2, 1, 3)
	}
	if !exporting(q.Graph()) {
		return decomposed()
	}
	out, _ := InternalFusedOpCaller(func() *Node {
		o, _ := BackendFusedScaledDotProductAttention(q, k, v, compute.AttentionAxesLayoutBSHD, nil)
		return o
	}, decomposed, true)
	return out
}

// ropeBase is the wavelength base of the rotary position embedding.
const ropeBase = 100.0

// rotary applies the rotary position embedding to x [B, S, heads, hd]
// (hd even): the pair of features (2i, 2i+1) at position p is rotated by
// the angle p*ropeBase^(-2i/hd), so the dot product of a query at p and a
// key at p' depends on p-p' only. The rotation is a batched product with one
// [hd, hd] block-diagonal matrix per position, which is a MatMul (fast on
// the pure-Go backend) and has a MatMul gradient.
func rotary(x *Node) *Node {
	d := x.Shape().Dimensions
	s, hd := d[1], d[3]
	rot := make([]float32, s*hd*hd)
	for p := 0; p < s; p++ {
		for i := 0; i < hd/2; i++ {
			a := float64(p) * math.Pow(ropeBase, -2*float64(i)/float64(hd))
			c, sn := float32(math.Cos(a)), float32(math.Sin(a))
			// out[2i] = c*x[2i] - s*x[2i+1]; out[2i+1] = s*x[2i] + c*x[2i+1];
			// the matrix is indexed [p, in, out].
			m := rot[p*hd*hd:]
			m[(2*i)*hd+2*i], m[(2*i+1)*hd+2*i] = c, -sn
			m[(2*i)*hd+2*i+1], m[(2*i+1)*hd+2*i+1] = sn, c
		}
	}
	r := Const(x.Graph(), tensors.FromFlatDataAndDimensions(rot, s, hd, hd))
	// [S, B, heads, hd] with S as the batch axis of the product.
	y := DotGeneral(x, []int{3}, []int{1}, r, []int{1}, []int{0})
	return TransposeAllDims(y, 1, 0, 2, 3)
}

// spaceToDepth turns x [N, H, W, C] into [N, H/p, W/p, p*p*C].
func spaceToDepth(x *Node, p int) *Node {
	d := x.Shape().Dimensions
	n, h, w, c := d[0], d[1], d[2], d[3]
	if h%p != 0 || w%p != 0 {
		panic(fmt.Sprintf("model: spaceToDepth: %dx%d not a multiple of %d", w, h, p))
	}
	y := Reshape(x, n, h/p, p, w/p, p, c)
	y = TransposeAllDims(y, 0, 1, 3, 2, 4, 5)
	return Reshape(y, n, h/p, w/p, p*p*c)
}

// depthToSpace is the inverse of spaceToDepth: [N, h, w, p*p*C] -> [N, h*p, w*p, C].
func depthToSpace(x *Node, p int) *Node {
	d := x.Shape().Dimensions
	n, h, w, pc := d[0], d[1], d[2], d[3]
	c := pc / (p * p)
	y := Reshape(x, n, h, w, p, p, c)
	y = TransposeAllDims(y, 0, 1, 3, 2, 4, 5)
	return Reshape(y, n, h*p, w*p, c)
}

// gatherRows gathers rows of x [N, h, w, C] (flattened to [N*h*w, C]) at the
// given flat indices and reshapes the result to dims. Gather has gradients on
// every backend, unlike Pad and Slice on the pure-Go one.
func gatherRows(x *Node, idx []int32, dims ...int) *Node {
	d := x.Shape().Dimensions
	c := d[len(d)-1]
	flat := Reshape(x, -1, c)
	ind := Const(x.Graph(), tensors.FromFlatDataAndDimensions(idx, len(idx), 1))
	return Reshape(Gather(flat, ind), dims...)
}

// padEdges pads x [N, h, w, C] to [N, h+2, w+2, C] by replicating its
// edge rows and columns.
func padEdges(x *Node) *Node {
	d := x.Shape().Dimensions
	h, w := d[1], d[2]
	all := AxisRange()
	xp := Concatenate([]*Node{Slice(x, all, AxisRange(0, 1)), x, Slice(x, all, AxisRange(h-1, h))}, 1)
	return Concatenate([]*Node{Slice(xp, all, all, AxisRange(0, 1)), xp, Slice(xp, all, all, AxisRange(w-1, w))}, 2)
}

// conv3x3 is linear(scope, neighbourhood3x3(x), out, kind): a 3x3
// convolution of x [N, h, w, C] with replicated edges, with the same
// variables (w [9*C, out] in (dy, dx, c) row-major order, b [out]). On the
// ONNX exporter's backend it is written as one convolution of the padded
// x (ONNX Conv, which ONNX Runtime runs without materialising the 9*C
// neighbourhoods); elsewhere as the neighbourhood and a MatMul, which is
// what the pure-Go backend runs fastest.
func conv3x3(scope *mlmodel.Scope, x *Node, out int, kind initKind) *Node {
	if !exporting(x.Graph()) {
		return linear(scope, neighbourhood3x3(x), out, kind)
	}
	c := x.Shape().Dimensions[x.Rank()-1]
	w, b := denseParams(scope, x.Graph(), 9*c, out, kind)
	kernel := Reshape(w, 3, 3, c, out)
	y := ConvGeneral(padEdges(x), kernel, ConvolveAxesConfig{
		InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
		KernelSpatial: []int{0, 1}, KernelInputChannels: 2, KernelOutputChannels: 3,
		OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
	}, nil, [][2]int{{0, 0}, {0, 0}}, nil, nil, 1, 1)
	return Add(y, Reshape(b, 1, 1, 1, out))
}

// exporting reports whether g is built on package onnx's recording
// backend (named onnx.Name, "onnx-export"; not imported here to keep the
// model free of the exporter).
func exporting(g *Graph) bool { return g.Backend().Name() == "onnx-export" }

// neighbourhood3x3 returns, for x [N, h, w, C], the 3x3 neighbourhood of every
// position stacked on the feature axis: [N, h, w, 9*C] in (dy, dx) row-major
// order, replicating edges. Followed by a dense layer it is a 3x3
// convolution computed as a MatMul. It is built from slices and
// concatenations (memory copies, with gradients through Pad on every
// backend): on the pure-Go backend this is several times faster than the
// equivalent Gather.
func neighbourhood3x3(x *Node) *Node {
	d := x.Shape().Dimensions
	h, w := d[1], d[2]
	all := AxisRange()
	xp := padEdges(x)
	parts := make([]*Node, 0, 9)
	for dy := 0; dy < 3; dy++ {
		for dx := 0; dx < 3; dx++ {
			parts = append(parts, Slice(xp, all, AxisRange(dy, dy+h), AxisRange(dx, dx+w)))
		}
	}
	return Concatenate(parts, -1)
}

// remapGrid gathers x [N, h, w, C] onto a grid of size (oh, ow) where output
// position (y, x) reads input position f(y, x). It implements replicate
// padding, cropping and cyclic shifts with gradients.
func remapGrid(x *Node, oh, ow int, f func(y, x int) (int, int)) *Node {
	d := x.Shape().Dimensions
	n, h, w, c := d[0], d[1], d[2], d[3]
	idx := make([]int32, 0, n*oh*ow)
	for b := 0; b < n; b++ {
		for y := 0; y < oh; y++ {
			for xx := 0; xx < ow; xx++ {
				sy, sx := f(y, xx)
				idx = append(idx, int32((b*h+sy)*w+sx))
			}
		}
	}
	return gatherRows(x, idx, n, oh, ow, c)
}

// padGrid replicate-pads x [N, h, w, C] to [N, oh, ow, C].
func padGrid(x *Node, oh, ow int) *Node {
	d := x.Shape().Dimensions
	h, w := d[1], d[2]
	if oh == h && ow == w {
		return x
	}
	return remapGrid(x, oh, ow, func(y, xx int) (int, int) { return min(y, h-1), min(xx, w-1) })
}

// cropGrid keeps the top-left [oh, ow] of x [N, h, w, C].
func cropGrid(x *Node, oh, ow int) *Node {
	d := x.Shape().Dimensions
	if oh == d[1] && ow == d[2] {
		return x
	}
	return remapGrid(x, oh, ow, func(y, xx int) (int, int) { return y, xx })
}

// rollGrid cyclically shifts x [N, h, w, C] by (sy, sx): out(y,x) = in(y+sy, x+sx).
func rollGrid(x *Node, sy, sx int) *Node {
	d := x.Shape().Dimensions
	h, w := d[1], d[2]
	return remapGrid(x, h, w, func(y, xx int) (int, int) { return (y + sy + h) % h, (xx + sx + w) % w })
}

// timestepEmbedding returns the sinusoidal embedding [1, dim] of scalar t
// (timestep in [0, 1000]).
func timestepEmbedding(t *Node, dim int) *Node {
	g := t.Graph()
	half := dim / 2
	freqs := make([]float32, half)
	for i := range freqs {
		freqs[i] = float32(math.Exp(-math.Log(10000) * float64(i) / float64(half)))
	}
	f := Const(g, freqs)
	arg := Mul(ConvertDType(Reshape(t, 1, 1), dtypes.Float32), Reshape(f, 1, half))
	return Concatenate([]*Node{Cos(arg), Sin(arg)}, -1)
}

func sqrtf(d int) float64 { return math.Sqrt(float64(d)) }

// ShiftReplicate returns x [N, H, W, C] moved so that out(y, x) = in(y+dy, x+dx),
// replicating edges. It is built on Gather, so it has gradients on every
// backend (losses use it for image gradients).
func ShiftReplicate(x *Node, dy, dx int) *Node {
	d := x.Shape().Dimensions
	h, w := d[1], d[2]
	return remapGrid(x, h, w, func(y, xx int) (int, int) {
		return min(max(y+dy, 0), h-1), min(max(xx+dx, 0), w-1)
	})
}
