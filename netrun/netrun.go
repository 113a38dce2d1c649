// Package netrun is the seam between the pipeline and the runtime that
// executes its networks: a Runtime compiles a graph function (a GraphFn) into a
// Func, which maps input tensors to output
// tensors. GoMLX runs them on a GoMLX backend (the pure-Go one, or XLA);
// package ort implements a Runtime on ONNX Runtime from the same graph
// functions and weights.
package netrun

import (
	"context"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// Func is a compiled network: inputs to outputs. Inputs are
// *tensors.Tensor values or Go scalars (float32); a Func compiles once per
// distinct input shape. A Func is not safe for concurrent use.
type Func interface {
	// Exec runs the network. It returns ctx's error when ctx is done before
	// or, where the runtime can stop a run, during the run.
	Exec(ctx context.Context, args ...any) ([]*tensors.Tensor, error)
}

// GraphFn is a network's graph function: it builds the outputs from the
// inputs with the variables under scope.
type GraphFn = func(scope *mlmodel.Scope, inputs []*graph.Node) []*graph.Node

// Runtime compiles graph functions over the variables of a store.
type Runtime interface {
	// Name is the runtime's short name ("go", "xla", "ort").
	Name() string
	// Compile prepares fn; name names the network in errors and exported
	// models.
	Compile(store *mlmodel.Store, name string, fn GraphFn) (Func, error)
}

// GoMLX is the Runtime of a GoMLX backend: each Func is an mlmodel.Exec.
type GoMLX struct {
	// Backend executes the graphs.
	Backend compute.Backend
}

// Name is the backend's short name: "go" for GoMLX's pure-Go backend.
func (r GoMLX) Name() string {
	if r.Backend == nil {
		return "go"
	}
	return r.Backend.String()
}

// Compile implements Runtime.
func (r GoMLX) Compile(store *mlmodel.Store, name string, fn GraphFn) (Func, error) {
	e, err := mlmodel.NewExec(r.Backend, store, fn)
	if err != nil {
		return nil, fmt.Errorf("netrun: compiling %s: %w", name, err)
	}
	e.WithName(name)
	return gomlxFunc{e: e, name: name}, nil
}

type gomlxFunc struct {
	e    *mlmodel.Exec
	name string
}

func (f gomlxFunc) Exec(ctx context.Context, args ...any) ([]*tensors.Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := f.e.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("netrun: %s: %w", f.name, err)
	}
	return out, nil
}
