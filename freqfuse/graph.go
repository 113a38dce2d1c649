package freqfuse

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// This file is the frequency-domain update as a GoMLX graph, so it can run on
// the device next to the model instead of on the host.
//
// Both low-pass methods work on the half spectrum of the real luma plane
// (kx in [0, W/2], as a real FFT along the width gives it) and multiply it by
// the same host-computed filter: the even part (H[k]+H[-k])/2 of the
// Butterworth filter in unshifted (ifftshift) order, which is exactly what
// Fuser uses. The filter being real and even, the filtered spectrum stays
// Hermitian, the inverse transform is real, and no fftshift is needed in the
// graph.

// LowPassMethod selects how a graph computes the 2-D Butterworth low pass.
type LowPassMethod int

const (
	// LowPassAuto uses LowPassFFT when the graph's backend implements the
	// FFT op (the XLA backend does) and LowPassDFT otherwise (the pure-Go
	// Go backend of GoMLX v0.28.6 does not implement FFT).
	LowPassAuto LowPassMethod = iota
	// LowPassFFT uses the backend's FFT ops: RealFFT along the width,
	// FFT along the height, the filter, InverseFFT and InverseRealFFT.
	// O(HW·log(HW)) per frame. Only backends with the FFT op (XLA) run it.
	LowPassFFT
	// LowPassDFT computes the same transforms as real matrix products with
	// host-computed cos/sin DFT matrices (four matmuls per frame,
	// O(HW·(H+W))). It runs on every backend, the pure-Go one included.
	// The products are computed in float64 whatever the input dtype: float32
	// products may run as TF32 on NVIDIA GPUs (XLA's default precision),
	// whose ~1e-3 error would be visible, and on the Go backend float64
	// costs about the same.
	LowPassDFT
)

// String returns the method's name: "auto", "fft" or "dft".
func (m LowPassMethod) String() string {
	switch m {
	case LowPassAuto:
		return "auto"
	case LowPassFFT:
		return "fft"
	case LowPassDFT:
		return "dft"
	}
	return fmt.Sprintf("LowPassMethod(%d)", int(m))
}

// resolve turns LowPassAuto into the method backend b supports.
func (m LowPassMethod) resolve(b compute.Backend) LowPassMethod {
	if m != LowPassAuto {
		return m
	}
	if b != nil && b.Capabilities().Operations[compute.OpTypeFFT] {
		return LowPassFFT
	}
	return LowPassDFT
}

// FuseGraph is Fuser.Fuse as a GoMLX graph on a batch of frames:
// consistent and sharp are float32 (or float64) [N, H, W, 3] RGB frames with
// samples in [0, 1], and the result, of the same shape and dtype, is the
// frequency-domain update of each pair of frames (the consistent frame's low
// luma band plus Alpha times the blended high bands, the consistent frame's
// chroma and Border-pixel border, clamped to [0, 1]), as defined in the
// package comment.
//
// The Butterworth filter and the DFT matrices are computed on the host in
// float64 and enter the graph as constants; everything else is graph ops,
// computed in the inputs' dtype. The low pass uses LowPassAuto: the FFT ops
// on backends that have them (XLA; the FFT path runs only there), real DFT
// matrix products elsewhere (the pure-Go backend, which has no
// FFT). The tests require agreement with Fuser.Fuse within 3e-4 in float32;
// measured differences are about 1e-6 on either path.
//
// FuseGraph panics (with an error, which GoMLX's Exec returns as its error)
// when p is invalid, the shapes differ or are not [N, H, W, 3] with N, H and
// W positive, or the dtypes differ or are not float32 or float64.
func FuseGraph(consistent, sharp *graph.Node, p Params) *graph.Node {
	return FuseGraphMethod(consistent, sharp, p, LowPassAuto)
}

// FuseGraphMethod is FuseGraph with the low-pass method chosen by m.
// LowPassFFT needs a backend with the FFT op (XLA): elsewhere building the
// graph panics, and Exec returns that error.
func FuseGraphMethod(consistent, sharp *graph.Node, p Params, m LowPassMethod) *graph.Node {
	if err := p.Validate(); err != nil {
		panic(fmt.Errorf("freqfuse.FuseGraph: %w", err))
	}
	if consistent == nil || sharp == nil {
		panic(fmt.Errorf("freqfuse.FuseGraph: nil input node"))
	}
	cs, ss := consistent.Shape(), sharp.Shape()
	if !cs.Equal(ss) {
		panic(fmt.Errorf("freqfuse.FuseGraph: consistent %s and sharp %s differ in shape or dtype", cs, ss))
	}
	if cs.Rank() != 4 || cs.Dim(3) != 3 || cs.Dim(0) <= 0 || cs.Dim(1) <= 0 || cs.Dim(2) <= 0 {
		panic(fmt.Errorf("freqfuse.FuseGraph: frames must be [N, H, W, 3] with N, H, W > 0, got %s", cs))
	}
	dtype := cs.DType
	if dtype != dtypes.Float32 && dtype != dtypes.Float64 {
		panic(fmt.Errorf("freqfuse.FuseGraph: frames must be float32 or float64, got %s", dtype))
	}
	g := consistent.Graph()
	n, h, w := cs.Dim(0), cs.Dim(1), cs.Dim(2)

	// Luma of both frames, [N, H, W].
	lumaVec := hostConst(g, dtype, []float64{yr, yg, yb}, 3)
	yc := graph.Einsum("nhwc,c->nhw", consistent, lumaVec)
	ys := graph.Einsum("nhwc,c->nhw", sharp, lumaVec)

	// Both low bands in one batch of 2N planes.
	low := LowPassGraphMethod(graph.Concatenate([]*graph.Node{yc, ys}, 0), p, m)
	lowC := graph.Slice(low, graph.AxisRange(0, n))
	lowS := graph.Slice(low, graph.AxisRange(n, 2*n))
	highC, highS := graph.Sub(yc, lowC), graph.Sub(ys, lowS)
	absC, absS := graph.Abs(highC), graph.Abs(highS)
	wt := graph.Div(absS, graph.AddScalar(graph.Add(absS, absC), 1e-6))
	// w·hs + (1-w)·hc = hc + w·(hs - hc).
	blend := graph.Add(highC, graph.Mul(wt, graph.Sub(highS, highC)))
	yOut := graph.Add(lowC, graph.MulScalar(blend, p.Alpha))

	// With U and V kept from the consistent frame, YUVToRGB(yOut, U, V) is
	// the consistent RGB plus (yOut - Yc) times the Y column of the inverse
	// matrix (exact up to the float64 rounding of the two matrices).
	dY := graph.InsertAxes(graph.Sub(yOut, yc), -1) // [N, H, W, 1]
	yCol := hostConst(g, dtype, []float64{ry, gy, by}, 1, 1, 1, 3)
	rgb := graph.Add(consistent, graph.Mul(dY, yCol))
	// clamp01: > 1 -> 1, [0, 1] kept, < 0 and NaN -> 0.
	zero := graph.ScalarZero(g, dtype)
	out := graph.Where(graph.GreaterOrEqual(rgb, zero), graph.Min(rgb, graph.ScalarOne(g, dtype)), graph.ZerosLike(rgb))

	if b := p.Border; b > 0 {
		rows := graph.Iota(g, shapes.Make(dtypes.Int32, 1, h, w, 1), 1)
		cols := graph.Iota(g, shapes.Make(dtypes.Int32, 1, h, w, 1), 2)
		in := func(x *graph.Node, size int) *graph.Node {
			return graph.LogicalAnd(
				graph.GreaterOrEqual(x, graph.Scalar(g, dtypes.Int32, b)),
				graph.LessThan(x, graph.Scalar(g, dtypes.Int32, size-b)))
		}
		inside := graph.LogicalAnd(in(rows, h), in(cols, w))
		inside = graph.BroadcastToDims(inside, n, h, w, 3)
		out = graph.Where(inside, out, consistent)
	}
	return out
}

// LowPassGraph returns the Butterworth low band Re(IFFT(FFT(y)·H)) of each
// 2-D plane in y, a float32 or float64 tensor of shape [..., H, W] (rank 2
// or more), with p's Fc and Order; it is Fuser.LowPassY per plane. The
// method is LowPassAuto (see LowPassMethod). It panics when p is invalid or
// y's shape or dtype is not supported.
func LowPassGraph(y *graph.Node, p Params) *graph.Node {
	return LowPassGraphMethod(y, p, LowPassAuto)
}

// LowPassGraphMethod is LowPassGraph with the method chosen by m.
func LowPassGraphMethod(y *graph.Node, p Params, m LowPassMethod) *graph.Node {
	if err := p.Validate(); err != nil {
		panic(fmt.Errorf("freqfuse.LowPassGraph: %w", err))
	}
	s := y.Shape()
	if s.Rank() < 2 || s.Size() <= 0 {
		panic(fmt.Errorf("freqfuse.LowPassGraph: need a non-empty [..., H, W] tensor, got %s", s))
	}
	if s.DType != dtypes.Float32 && s.DType != dtypes.Float64 {
		panic(fmt.Errorf("freqfuse.LowPassGraph: need float32 or float64, got %s", s.DType))
	}
	h, w := s.Dim(-2), s.Dim(-1)
	planes := y
	if s.Rank() != 3 {
		planes = graph.Reshape(y, s.Size()/(h*w), h, w)
	}
	var low *graph.Node
	be := y.Graph().Backend()
	switch method := m.resolve(be); method {
	case LowPassFFT:
		if !be.Capabilities().Operations[compute.OpTypeFFT] {
			panic(fmt.Errorf("freqfuse.LowPassGraph: LowPassFFT needs a backend with the FFT op (XLA), %q has none: use LowPassDFT or LowPassAuto",
				be.Name()))
		}
		low = lowPassFFT(planes, p)
	case LowPassDFT:
		low = graph.ConvertDType(lowPassDFT(graph.ConvertDType(planes, dtypes.Float64), p), s.DType)
	default:
		panic(fmt.Errorf("freqfuse.LowPassGraph: unknown method %s", method))
	}
	if s.Rank() != 3 {
		low = graph.Reshape(low, s.Dimensions...)
	}
	return low
}

// halfFilter returns the filter Fuser applies (without Fuser's 1/(W·H))
// on the half spectrum kx in [0, W/2], as an h x (w/2+1) row-major slice.
func halfFilter(w, h int, fc float64, order int) []float64 {
	return evenFilter(w, h, w/2+1, fc, order)
}

// lowPassFFT filters planes [B, H, W] with the backend's FFT ops.
func lowPassFFT(planes *graph.Node, p Params) *graph.Node {
	g := planes.Graph()
	h, w := planes.Shape().Dim(1), planes.Shape().Dim(2)
	wr := w/2 + 1
	filt := halfFilter(w, h, p.Fc, p.Order)
	// The filter transposed to [1, W/2+1, H], to match the spectrum after
	// the width and height axes are swapped for the column transform.
	var mask *graph.Node
	if planes.DType() == dtypes.Float64 {
		t := make([]complex128, wr*h)
		for ky := 0; ky < h; ky++ {
			for kx := 0; kx < wr; kx++ {
				t[kx*h+ky] = complex(filt[ky*wr+kx], 0)
			}
		}
		mask = graph.Const(g, tensors.FromFlatDataAndDimensions(t, 1, wr, h))
	} else {
		t := make([]complex64, wr*h)
		for ky := 0; ky < h; ky++ {
			for kx := 0; kx < wr; kx++ {
				t[kx*h+ky] = complex(float32(filt[ky*wr+kx]), 0)
			}
		}
		mask = graph.Const(g, tensors.FromFlatDataAndDimensions(t, 1, wr, h))
	}
	spec := graph.RealFFT(planes)        // [B, H, W/2+1], rows
	spec = graph.Transpose(spec, 1, 2)   // [B, W/2+1, H]
	spec = graph.FFT(spec)               // columns
	spec = graph.Mul(spec, mask)         // filter
	spec = graph.InverseFFT(spec)        // columns back (1/H)
	spec = graph.Transpose(spec, 1, 2)   // [B, H, W/2+1]
	return graph.InverseRealFFT(spec, w) // rows back (1/W), [B, H, W]
}

// lowPassDFT filters planes [B, H, W] (computed in their dtype; the caller
// passes float64) with real matrix products: with
// A, B = Y·cos, Y·sin over the width (half spectrum), the column transform
// gives Re F = Ch·A - Sh·B and Im F = -(Sh·A + Ch·B); after the filter M,
// the inverse column transform gives P = Ch·Gr - Sh·Gi and
// Q = Sh·Gr + Ch·Gi, and the inverse real row transform
// y = Σ_kx c_kx (P·cos - Q·sin), with c_kx = 2 for the bins that stand for a
// conjugate pair and 1 for DC and (even W) Nyquist. c_kx and 1/(W·H) are
// folded into M.
func lowPassDFT(planes *graph.Node, p Params) *graph.Node {
	g := planes.Graph()
	dtype := planes.DType()
	h, w := planes.Shape().Dim(1), planes.Shape().Dim(2)
	wr := w/2 + 1
	cosSin := func(k, x, n int) (float64, float64) {
		a := 2 * math.Pi * float64(k*x%n) / float64(n)
		return math.Cos(a), math.Sin(a)
	}

	// rowF [W, 2·Wr] = [cos | sin], the forward row transform.
	// rowI [2·Wr, W] = [cos; -sin], the inverse row transform.
	rowF := make([]float64, w*2*wr)
	rowI := make([]float64, 2*wr*w)
	for x := 0; x < w; x++ {
		for kx := 0; kx < wr; kx++ {
			c, s := cosSin(kx, x, w)
			rowF[x*2*wr+kx], rowF[x*2*wr+wr+kx] = c, s
			rowI[kx*w+x], rowI[(wr+kx)*w+x] = c, -s
		}
	}
	// colF [2H, H] = [C; S], the forward column transform, and
	// colI [2H, 2H] = [[C, S], [S, -C]], the inverse one applied to
	// [Gr; -Gi].
	colF := make([]float64, 2*h*h)
	colI := make([]float64, 4*h*h)
	for ky := 0; ky < h; ky++ {
		for y := 0; y < h; y++ {
			c, s := cosSin(ky, y, h)
			colF[ky*h+y], colF[(h+ky)*h+y] = c, s
			colI[ky*2*h+y], colI[ky*2*h+h+y] = c, s
			colI[(h+ky)*2*h+y], colI[(h+ky)*2*h+h+y] = s, -c
		}
	}
	filt := halfFilter(w, h, p.Fc, p.Order)
	scale := 1 / float64(w*h)
	for ky := 0; ky < h; ky++ {
		for kx := 0; kx < wr; kx++ {
			c := 2.0
			if kx == 0 || 2*kx == w {
				c = 1
			}
			filt[ky*wr+kx] *= c * scale
		}
	}

	a := graph.Einsum("bhx,xk->bhk", planes, hostConst(g, dtype, rowF, w, 2*wr)) // [B, H, 2Wr]
	z := graph.Einsum("jh,bhk->bjk", hostConst(g, dtype, colF, 2*h, h), a)       // [B, 2H, 2Wr]
	top, bottom := graph.AxisRange(0, h), graph.AxisRange(h, 2*h)
	left, right := graph.AxisRange(0, wr), graph.AxisRange(wr, 2*wr)
	all := graph.AxisRange()
	ca, cb := graph.Slice(z, all, top, left), graph.Slice(z, all, top, right)
	sa, sb := graph.Slice(z, all, bottom, left), graph.Slice(z, all, bottom, right)
	m := hostConst(g, dtype, filt, 1, h, wr)
	gr := graph.Mul(graph.Sub(ca, sb), m) // Re(F)·M
	gi := graph.Mul(graph.Add(sa, cb), m) // -Im(F)·M
	pq := graph.Einsum("jh,bhk->bjk", hostConst(g, dtype, colI, 2*h, 2*h),
		graph.Concatenate([]*graph.Node{gr, gi}, 1)) // [B, 2H, Wr]
	pAndQ := graph.Concatenate([]*graph.Node{graph.Slice(pq, all, top), graph.Slice(pq, all, bottom)}, 2) // [B, H, 2Wr]
	return graph.Einsum("bhk,kx->bhx", pAndQ, hostConst(g, dtype, rowI, 2*wr, w))
}

// hostConst puts float64 host data into g as a constant of the given
// dimensions, in float64 when dtype is Float64 and in float32 otherwise.
func hostConst(g *graph.Graph, dtype dtypes.DType, data []float64, dims ...int) *graph.Node {
	if dtype == dtypes.Float64 {
		return graph.Const(g, tensors.FromFlatDataAndDimensions(append([]float64(nil), data...), dims...))
	}
	f := make([]float32, len(data))
	for i, v := range data {
		f[i] = float32(v)
	}
	return graph.Const(g, tensors.FromFlatDataAndDimensions(f, dims...))
}
