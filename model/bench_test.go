package model

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/internal/testbackend"
)

// BenchmarkTiny times each pssr-tiny network (random weights) on a clip of
// 4 frames at 720x576 output size; ns/op is per clip.
func BenchmarkTiny(b *testing.B) {
	be := testbackend.New(b)
	cfg := Tiny()
	m, err := New(be, cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	const n, H, W = 4, 576, 720
	lh, lw := H/cfg.AE.Patch, W/cfg.AE.Patch
	x := tensors.FromShape(shapeF32(n, H, W, 3))
	z := tensors.FromShape(shapeF32(n, lh, lw, cfg.AE.LatentChannels))
	z5 := tensors.FromShape(shapeF32(1, n, lh, lw, cfg.AE.LatentChannels))
	run := func(b *testing.B, e *mlmodel.Exec, args ...any) []*tensors.Tensor {
		out := e.MustExec(args...) // compile and warm up
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			out = e.MustExec(args...)
		}
		return out
	}
	b.Run("encode", func(b *testing.B) {
		e := mlmodel.MustNewExec(be, m.Store, func(scope *mlmodel.Scope, x *Node) *Node { return Encode(scope, cfg.AE, x) })
		run(b, e, x)
	})
	b.Run("decode", func(b *testing.B) {
		e := mlmodel.MustNewExec(be, m.Store, func(scope *mlmodel.Scope, z, c *Node) *Node { return Decode(scope, cfg.AE, z, c) })
		run(b, e, z, x)
	})
	var feats []*tensors.Tensor
	b.Run("base", func(b *testing.B) {
		e := mlmodel.MustNewExec(be, m.Store, func(scope *mlmodel.Scope, z *Node) []*Node {
			v, f := Base(scope, cfg, z, z, Const(z.Graph(), float32(699)))
			return append([]*Node{v}, f...)
		})
		feats = run(b, e, z5)[1:]
	})
	b.Run("draft", func(b *testing.B) {
		e := mlmodel.MustNewExec(be, m.Store, func(scope *mlmodel.Scope, in []*Node) *Node {
			return Draft(scope, cfg, in[0], in[0], Const(in[0].Graph(), float32(599)), in[1:])
		})
		args := []any{z5}
		for _, f := range feats {
			args = append(args, f)
		}
		run(b, e, args...)
	})
}
