package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/pssr/pssr/weights"
)

// Specs lists the name and shape of every network variable: what a weights
// file for this configuration must contain.
func (m *Model) Specs() []weights.Spec {
	var out []weights.Spec
	for _, v := range m.NetworkVariables() {
		out = append(out, weights.Spec{Name: VariableName(v), Shape: v.Shape().Dimensions})
	}
	return out
}

// File returns the network weights, config and metadata as a weights.File.
func (m *Model) File() (*weights.File, error) {
	return variablesFile(m, m.NetworkVariables())
}

// Save writes the network weights with config and metadata (atomically).
func (m *Model) Save(path string) error {
	f, err := m.File()
	if err != nil {
		return err
	}
	return weights.Save(path, f)
}

// SaveAll writes every variable of the context, optimizer state included:
// a training checkpoint that resumes exactly.
func (m *Model) SaveAll(path string) error {
	var vars []*context.Variable
	for v := range m.Ctx.IterVariables() {
		vars = append(vars, v)
	}
	f, err := variablesFile(m, vars)
	if err != nil {
		return err
	}
	return weights.Save(path, f)
}

func variablesFile(m *Model, vars []*context.Variable) (*weights.File, error) {
	f := &weights.File{Config: m.Config.JSON(), Metadata: map[string]string{}}
	for k, v := range m.Metadata {
		f.Metadata[k] = v
	}
	for _, v := range vars {
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("model: read %s: %w", VariableName(v), err)
		}
		f.Tensors = append(f.Tensors, weights.Tensor{
			Name: VariableName(v), DType: "F32", Shape: val.Shape().Dimensions,
			Data: toFloat32(val),
		})
	}
	return f, nil
}

// toFloat32 copies a tensor's values as float32 (scalar counters of other
// types included).
func toFloat32(t *tensors.Tensor) []float32 {
	switch x := t.Value().(type) {
	case float32:
		return []float32{x}
	case int64:
		return []float32{float32(x)}
	case float64:
		return []float32{float32(x)}
	}
	return tensors.MustCopyFlatData[float32](t)
}

// Load reads a weights file, builds the model its config describes and sets
// its weights. Names, shapes and dtypes are checked against the model; any
// mismatch is an error listing every difference.
func Load(backend backends.Backend, path string) (*Model, error) {
	f, err := weights.Load(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	cfg, err := ParseConfig(f.Config)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	m, err := New(backend, cfg, 0)
	if err != nil {
		return nil, err
	}
	if err := m.SetWeights(f, false); err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	for k, v := range f.Metadata {
		m.Metadata[k] = v
	}
	return m, nil
}

// SetWeights sets the model's variables from f after checking f against
// Specs. With extra, variables in f that are not network variables
// (optimizer state of a checkpoint) are created in the context too.
func (m *Model) SetWeights(f *weights.File, extra bool) error {
	var netTensors []weights.Tensor
	for _, t := range f.Tensors {
		if IsNetworkVariable(t.Name) {
			netTensors = append(netTensors, t)
		}
	}
	check := &weights.File{Config: f.Config, Tensors: netTensors}
	if err := check.Check(m.Specs()); err != nil {
		return err
	}
	byName := map[string]*context.Variable{}
	for _, v := range m.NetworkVariables() {
		byName[VariableName(v)] = v
	}
	for _, t := range f.Tensors {
		val := tensors.FromFlatDataAndDimensions(append([]float32(nil), t.Data...), t.Shape...)
		if v, ok := byName[t.Name]; ok {
			if err := v.SetValue(val); err != nil {
				return fmt.Errorf("set %s: %w", t.Name, err)
			}
			continue
		}
		if !extra {
			continue
		}
		scope, name := "/"+filepath.Dir(t.Name), filepath.Base(t.Name)
		if strings.HasSuffix(t.Name, "global_step") || strings.HasSuffix(name, "_step") {
			// Counters are int64 scalars in GoMLX's optimizers.
			m.Ctx.InAbsPath(scope).VariableWithValue(name, int64(t.Data[0]))
			continue
		}
		if v := m.Ctx.GetVariableByScopeAndName(scope, name); v != nil {
			if err := v.SetValue(val); err != nil {
				return fmt.Errorf("set %s: %w", t.Name, err)
			}
			continue
		}
		m.Ctx.InAbsPath(scope).VariableWithValue(name, val)
	}
	return nil
}

// DefaultName is the file name of the default model.
const DefaultName = "pssr-tiny-x4.safetensors"

// DefaultPath finds the default model file: $PSSR_MODEL when set, else
// models/pssr-tiny-x4.safetensors next to the executable, one level above it,
// or under the current directory and its parents (a source checkout). It
// returns an error saying that no default model is installed when none exists.
func DefaultPath() (string, error) {
	if p := os.Getenv("PSSR_MODEL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("model: $PSSR_MODEL=%s: %w", p, err)
		}
		return p, nil
	}
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		dirs = append(dirs, d, filepath.Dir(d))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "models", DefaultName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("model: no default model is installed (looked for models/%s next to the pssr binary and in the current directory and its parents; set $PSSR_MODEL or pass --model FILE)", DefaultName)
}
