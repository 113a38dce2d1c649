package model

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
)

// Model is a set of PS-SR networks and their weights, held in a GoMLX
// variable store on one backend.
type Model struct {
	Config Config
	// Store holds the variables of every network (scopes ae, base and
	// draft) and, during training, the optimizer's state.
	Store   *mlmodel.Store
	Backend compute.Backend
	// Metadata is free-form provenance kept with the weights (training
	// commands, steps, data, measured quality).
	Metadata map[string]string
}

// New creates a model with freshly initialised weights (seeded, so two calls
// with the same seed give the same weights). All variables are materialised.
func New(backend compute.Backend, cfg Config, seed uint64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	store := mlmodel.NewStore()
	store.SetParam(ParamSeed, seed)
	m := &Model{Config: cfg, Store: store, Backend: backend, Metadata: map[string]string{}}
	if err := m.materialise(); err != nil {
		return nil, err
	}
	return m, nil
}

// materialise builds every network once on a minimal input so that all
// variables exist.
func (m *Model) materialise() error {
	cfg := m.Config
	px := cfg.PixelMultiple()
	lat := px / cfg.AE.Patch
	exec, err := mlmodel.NewExec(m.Backend, m.Store, func(scope *mlmodel.Scope, g *Graph) *Node {
		x := Zeros(g, shapeF32(1, px, px, 3))
		z := Encode(scope, cfg.AE, x)
		y := Decode(scope, cfg.AE, z, x)
		zt := Reshape(z, 1, 1, lat, lat, cfg.AE.LatentChannels)
		t := Const(g, float32(699))
		v, feats := Base(scope, cfg, zt, zt, t)
		vd := Draft(scope, cfg, zt, zt, t, feats)
		return Add(Add(ReduceAllSum(y), ReduceAllSum(v)), ReduceAllSum(vd))
	})
	if err != nil {
		return fmt.Errorf("model: build: %w", err)
	}
	if _, err := exec.Exec(); err != nil {
		return fmt.Errorf("model: first run: %w", err)
	}
	return nil
}

// VariableName is the name a variable has in weight files: its scope and
// name without the leading slash, e.g. "base/block_0/attn_s/q/w".
func VariableName(v *mlmodel.Variable) string {
	return strings.TrimPrefix(v.Path(), "/")
}

// NetworkVariables lists the variables of the networks (scopes ae, base and
// draft), sorted by name, excluding optimizer state and counters.
func (m *Model) NetworkVariables() []*mlmodel.Variable {
	var out []*mlmodel.Variable
	for v := range m.Store.IterVariables() {
		if IsNetworkVariable(VariableName(v)) {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return VariableName(out[i]) < VariableName(out[j]) })
	return out
}

// IsNetworkVariable reports whether a variable name belongs to a network.
func IsNetworkVariable(name string) bool {
	for _, s := range []string{ScopeAE, ScopeBase, ScopeDraft} {
		if strings.HasPrefix(name, s+"/") {
			return true
		}
	}
	return false
}

// NumParameters counts the scalar parameters of the given scope ("" for all networks).
func (m *Model) NumParameters(scope string) int {
	n := 0
	for _, v := range m.NetworkVariables() {
		if scope == "" || strings.HasPrefix(VariableName(v), scope+"/") {
			n += v.Shape().Size()
		}
	}
	return n
}

// SetTrainable marks the variables of the given network scopes trainable and
// every other network variable frozen.
func (m *Model) SetTrainable(scopes ...string) {
	for _, v := range m.NetworkVariables() {
		name := VariableName(v)
		on := false
		for _, s := range scopes {
			if strings.HasPrefix(name, s+"/") {
				on = true
			}
		}
		v.SetTrainable(on)
	}
}

// InitDraftFromBase copies every base variable whose name and shape also
// exist under the draft scope (embedding, time embedding, kept blocks,
// head) into the draft. Fusion layers keep their identity initialisation,
// and so do the variables of a draft narrower than the base their seeded one.
func (m *Model) InitDraftFromBase() (int, error) {
	return m.initDraftFromBase(nil)
}

// initDraftFromBase is InitDraftFromBase for the draft variables for which
// only reports true (all when only is nil).
func (m *Model) initDraftFromBase(only func(name string) bool) (int, error) {
	base := map[string]*mlmodel.Variable{}
	for _, v := range m.NetworkVariables() {
		if n := VariableName(v); strings.HasPrefix(n, ScopeBase+"/") {
			base[strings.TrimPrefix(n, ScopeBase+"/")] = v
		}
	}
	copied := 0
	for _, v := range m.NetworkVariables() {
		n := VariableName(v)
		if !strings.HasPrefix(n, ScopeDraft+"/") || (only != nil && !only(n)) {
			continue
		}
		src, ok := base[strings.TrimPrefix(n, ScopeDraft+"/")]
		if !ok || !slices.Equal(src.Shape().Dimensions, v.Shape().Dimensions) {
			continue // a narrower draft's: keeps its seeded initialisation
		}
		val, err := src.Value()
		if err != nil {
			return copied, err
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[float32](val), val.Shape().Dimensions...)); err != nil {
			return copied, fmt.Errorf("model: copy %s: %w", n, err)
		}
		copied++
	}
	return copied, nil
}
