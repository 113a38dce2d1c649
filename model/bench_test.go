package model

import (
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
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
	run := func(b *testing.B, e *context.Exec, args ...any) []*tensors.Tensor {
		out := e.MustExec(args...) // compile and warm up
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			out = e.MustExec(args...)
		}
		return out
	}
	b.Run("encode", func(b *testing.B) {
		e := context.MustNewExec(be, m.Ctx, func(ctx *context.Context, x *Node) *Node { return Encode(ctx, cfg.AE, x) })
		run(b, e, x)
	})
	b.Run("decode", func(b *testing.B) {
		e := context.MustNewExec(be, m.Ctx, func(ctx *context.Context, z, c *Node) *Node { return Decode(ctx, cfg.AE, z, c) })
		run(b, e, z, x)
	})
	var feats []*tensors.Tensor
	b.Run("base", func(b *testing.B) {
		e := context.MustNewExec(be, m.Ctx, func(ctx *context.Context, z *Node) []*Node {
			v, f := Base(ctx, cfg, z, z, Const(z.Graph(), float32(699)))
			return append([]*Node{v}, f...)
		})
		feats = run(b, e, z5)[1:]
	})
	b.Run("draft", func(b *testing.B) {
		e := context.MustNewExec(be, m.Ctx, func(ctx *context.Context, in []*Node) *Node {
			return Draft(ctx, cfg, in[0], in[0], Const(in[0].Graph(), float32(599)), in[1:])
		})
		args := []any{z5}
		for _, f := range feats {
			args = append(args, f)
		}
		run(b, e, args...)
	})
}
