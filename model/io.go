package model

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	mlmodel "github.com/gomlx/gomlx/ml/model"
	"github.com/pssr/pssr/internal/searchdirs"
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
	var vars []*mlmodel.Variable
	for v := range m.Store.IterVariables() {
		vars = append(vars, v)
	}
	f, err := variablesFile(m, vars)
	if err != nil {
		return err
	}
	return weights.Save(path, f)
}

func variablesFile(m *Model, vars []*mlmodel.Variable) (*weights.File, error) {
	f := &weights.File{Config: m.Config.JSON(), Metadata: map[string]string{}}
	for k, v := range m.Metadata {
		f.Metadata[k] = v
	}
	for _, v := range vars {
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("model: read %s: %w", VariableName(v), err)
		}
		data, err := toFloat32(val)
		if err != nil {
			return nil, fmt.Errorf("model: save %s: %w", VariableName(v), err)
		}
		f.Tensors = append(f.Tensors, weights.Tensor{
			Name: VariableName(v), DType: "F32", Shape: val.Shape().Dimensions, Data: data,
		})
	}
	return f, nil
}

// toFloat32 copies a tensor's values as float32: float32 tensors as they
// are, float64 and int64 ones (step counters) converted. Other dtypes are
// an error rather than a silently wrong checkpoint.
func toFloat32(t *tensors.Tensor) ([]float32, error) {
	switch t.DType() {
	case dtypes.Float32:
		return tensors.MustCopyFlatData[float32](t), nil
	case dtypes.Float64:
		return convertFlat(tensors.MustCopyFlatData[float64](t)), nil
	case dtypes.Int64:
		return convertFlat(tensors.MustCopyFlatData[int64](t)), nil
	}
	return nil, fmt.Errorf("dtype %s cannot be saved as float32", t.DType())
}

func convertFlat[T float64 | int64](in []T) []float32 {
	out := make([]float32, len(in))
	for i, x := range in {
		out[i] = float32(x)
	}
	return out
}

// readFile reads a weights file and its model config. The header is read
// and checked against its config (CheckHeader) before the tensors are.
func readFile(path string) (*weights.File, Config, error) {
	cfg, err := ReadConfig(path)
	if err != nil {
		return nil, Config{}, err
	}
	f, err := weights.Load(path)
	if err != nil {
		return nil, Config{}, fmt.Errorf("model: %w", err)
	}
	return f, cfg, nil
}

// ReadConfig returns the model config stored in a weights file, reading
// only the file's header: the config must be valid (Config.Validate) and
// the tensors the header lists must agree with it (CheckHeader).
func ReadConfig(path string) (Config, error) {
	h, err := weights.ReadHeader(path)
	if err != nil {
		return Config{}, fmt.Errorf("model: %w", err)
	}
	cfg, err := ParseConfig(h.Config)
	if err != nil {
		return Config{}, fmt.Errorf("model: %s: %w", path, err)
	}
	if err := CheckHeader(cfg, h); err != nil {
		return Config{}, fmt.Errorf("model: %s: %w", path, err)
	}
	return cfg, nil
}

// Load reads a weights file, builds the model its config describes and sets
// its weights. Names, shapes and dtypes are checked against the model; any
// mismatch is an error listing every difference.
func Load(backend compute.Backend, path string) (*Model, error) {
	f, cfg, err := readFile(path)
	if err != nil {
		return nil, err
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

// LoadGrown reads a weights file like Load, but builds the model with a
// decoder fine stage of fineBlocks residual blocks (AEConfig.FineBlocks),
// which must be at least the file's count. Every tensor of the file is set
// (names and shapes checked: a file tensor the model has no place for, or a
// model variable the file lacks other than those of the new blocks, is an
// error matching weights.ErrMismatch); the new blocks keep their
// initialisation, with fc2 zero so that each starts as the identity and the
// grown model decodes exactly as the file's. The file's metadata is kept and
// the growth recorded under "model.fine_blocks_grown" ("1->3"; earlier
// growths stay listed before it). With fineBlocks equal to the file's
// count, LoadGrown is Load.
func LoadGrown(backend compute.Backend, path string, fineBlocks int) (*Model, error) {
	f, cfg, err := readFile(path)
	if err != nil {
		return nil, err
	}
	had := cfg.AE.FineBlockCount()
	if fineBlocks < had {
		return nil, fmt.Errorf("model: %s has %d decoder fine blocks; cannot grow it to %d", path, had, fineBlocks)
	}
	if fineBlocks > had {
		cfg.AE.FineBlocks = fineBlocks
	}
	m, err := New(backend, cfg, 0)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	var fresh []string
	for i := had; i < fineBlocks; i++ {
		fresh = append(fresh, ScopeAE+"/dec/"+FineBlockScope(i)+"/")
	}
	isFresh := func(name string) bool {
		for _, p := range fresh {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
		return false
	}
	if err := m.setWeights(f, false, isFresh); err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	for k, v := range f.Metadata {
		m.Metadata[k] = v
	}
	if fineBlocks > had {
		recordChange(m.Metadata, MetaFineBlocksGrown, fmt.Sprintf("%d->%d", had, fineBlocks))
	}
	return m, nil
}

// recordChange appends change to the comma-separated record meta[key] of
// the changes made to a model's shape (LoadGrown, LoadDraft).
func recordChange(meta map[string]string, key, change string) {
	if prev := meta[key]; prev != "" {
		change = prev + "," + change
	}
	meta[key] = change
}

// LoadDraft reads a weights file like Load, but builds the draft that
// draft describes (DraftConfig: the base blocks it keeps and its width)
// instead of the file's: a lighter draft made from a trained one. Draft
// variables the file has with the same shape keep their trained values;
// the rest of the file's draft (dropped blocks and fusion layers, or all of
// it when the width changes) is left out; draft variables it lacks start
// as InitDraftFromBase starts them (copies of the base's where the shapes
// agree, fusion layers as the identity, fresh seeded weights otherwise).
// Every other network tensor must match as in Load. The changes are
// recorded in the metadata under MetaDraftKSelect ("1.5->6") and
// MetaDraftSize ("width 128->64"), after any earlier ones.
func LoadDraft(backend compute.Backend, path string, draft DraftConfig) (*Model, error) {
	f, cfg, err := readFile(path)
	if err != nil {
		return nil, err
	}
	had := cfg
	cfg.Draft = draft
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model: %s: draft k_select %g, width %d: %w", path, draft.KSelect, draft.Width, err)
	}
	m, err := New(backend, cfg, 0)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	wanted := map[string][]int{}
	for _, s := range m.Specs() {
		wanted[s.Name] = s.Shape
	}
	inFile := map[string]bool{}
	kept := &weights.File{Config: f.Config, Metadata: f.Metadata}
	for _, t := range f.Tensors {
		if strings.HasPrefix(t.Name, ScopeDraft+"/") && !slices.Equal(wanted[t.Name], t.Shape) {
			continue // a dropped block's, or of another width
		}
		inFile[t.Name] = true
		kept.Tensors = append(kept.Tensors, t)
	}
	added := map[string]bool{}
	for name := range wanted {
		if strings.HasPrefix(name, ScopeDraft+"/") && !inFile[name] {
			added[name] = true
		}
	}
	isAdded := func(name string) bool { return added[name] }
	if err := m.setWeights(kept, false, isAdded); err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	if len(added) > 0 { // after the base's weights are set
		if _, err := m.initDraftFromBase(isAdded); err != nil {
			return nil, fmt.Errorf("model: %s: %w", path, err)
		}
	}
	for k, v := range f.Metadata {
		m.Metadata[k] = v
	}
	if draft.KSelect != had.Draft.KSelect {
		recordChange(m.Metadata, MetaDraftKSelect, fmt.Sprintf("%g->%g", had.Draft.KSelect, draft.KSelect))
	}
	was, now := had.DraftDiT(), cfg.DraftDiT()
	var size []string
	for _, c := range []struct {
		name     string
		was, now int
	}{{"width", was.Width, now.Width}, {"heads", was.Heads, now.Heads}, {"mlp", was.MLP, now.MLP}} {
		if c.was != c.now {
			size = append(size, fmt.Sprintf("%s %d->%d", c.name, c.was, c.now))
		}
	}
	if len(size) > 0 {
		recordChange(m.Metadata, MetaDraftSize, strings.Join(size, " "))
	}
	return m, nil
}

// MetaDraftKSelect is the metadata key where LoadDraft records changes of
// the draft's block selection, e.g. "1.5->6".
const MetaDraftKSelect = "model.draft_k_select_changed"

// MetaDraftSize is the metadata key where LoadDraft records changes of the
// draft's width, heads or feed-forward size, e.g. "width 128->64 mlp 256->128".
const MetaDraftSize = "model.draft_size_changed"

// MetaFineBlocksGrown is the metadata key where LoadGrown records the
// growths of the decoder's fine stage, e.g. "1->3".
const MetaFineBlocksGrown = "model.fine_blocks_grown"

// SetWeights sets the model's variables from f after checking f against
// Specs. With extra, variables in f that are not network variables
// (optimizer state of a checkpoint) are created in the context too.
func (m *Model) SetWeights(f *weights.File, extra bool) error {
	return m.setWeights(f, extra, nil)
}

// setWeights is SetWeights, except that the network variables for which
// keep reports true must be absent from f and keep their current value.
func (m *Model) setWeights(f *weights.File, extra bool, keep func(name string) bool) error {
	var netTensors []weights.Tensor
	for _, t := range f.Tensors {
		if IsNetworkVariable(t.Name) {
			netTensors = append(netTensors, t)
		}
	}
	var specs []weights.Spec
	for _, s := range m.Specs() {
		if keep == nil || !keep(s.Name) {
			specs = append(specs, s)
		}
	}
	check := &weights.File{Config: f.Config, Tensors: netTensors}
	if err := check.Check(specs); err != nil {
		return err
	}
	byName := map[string]*mlmodel.Variable{}
	for _, v := range m.NetworkVariables() {
		byName[VariableName(v)] = v
	}
	for _, t := range f.Tensors {
		if v, ok := byName[t.Name]; ok {
			val := tensors.FromFlatDataAndDimensions(append([]float32(nil), t.Data...), t.Shape...)
			if err := v.SetValue(val); err != nil {
				return fmt.Errorf("set %s: %w", t.Name, err)
			}
			continue
		}
		if !extra {
			continue
		}
		if err := m.setExtra(t); err != nil {
			return err
		}
	}
	return nil
}

// setExtra sets (or creates) a variable of a checkpoint that is not a
// network variable: optimizer state and counters. Files store every tensor
// as float32; a variable that already exists keeps its dtype, and a new
// one is float32 unless it is a step counter, which GoMLX's optimizers and
// training loop keep as an int64 scalar ("global_step" at the root and in
// the optimizer's scope, "train_last_global_step"). Counters are exact up
// to 2^24 steps. Optimizer state is never trainable.
func (m *Model) setExtra(t weights.Tensor) error {
	path := "/" + t.Name
	name := t.Name[strings.LastIndex(t.Name, "/")+1:]
	dtype := dtypes.Float32
	v := m.Store.GetVariable(path)
	if v != nil {
		dtype = v.Shape().DType
		if !slices.Equal(v.Shape().Dimensions, t.Shape) {
			return fmt.Errorf("set %s: shape %v in file, %v in the model", t.Name, t.Shape, v.Shape().Dimensions)
		}
	} else if strings.HasSuffix(name, "_step") && len(t.Shape) == 0 {
		dtype = dtypes.Int64
	}
	var val *tensors.Tensor
	switch dtype {
	case dtypes.Float32:
		val = tensors.FromFlatDataAndDimensions(append([]float32(nil), t.Data...), t.Shape...)
	case dtypes.Int64:
		data := make([]int64, len(t.Data))
		for i, x := range t.Data {
			data[i] = int64(x)
		}
		val = tensors.FromFlatDataAndDimensions(data, t.Shape...)
	default:
		return fmt.Errorf("set %s: cannot restore a %s variable from a float32 tensor", t.Name, dtype)
	}
	if v == nil {
		nv, err := m.Store.CreateVariable(path, val)
		if err != nil {
			return fmt.Errorf("set %s: %w", t.Name, err)
		}
		nv.SetTrainable(false)
		return nil
	}
	if err := v.SetValue(val); err != nil {
		return fmt.Errorf("set %s: %w", t.Name, err)
	}
	v.SetTrainable(false)
	return nil
}

// DefaultName is the file name of the default model (x4).
const DefaultName = "pssr-tiny-x4.safetensors"

// DefaultNameFor is the file name of the default model for an upscaling
// factor: pssr-tiny-x2.safetensors, pssr-tiny-x4.safetensors.
func DefaultNameFor(scale int) string { return fmt.Sprintf("pssr-tiny-x%d.safetensors", scale) }

// MetaScale is the metadata key holding the upscaling factor a model was
// trained for ("2" or "4").
const MetaScale = "model.scale"

// DefaultPath finds the default x4 model: DefaultPathFor(4).
func DefaultPath() (string, error) { return DefaultPathFor(4) }

// DefaultPathFor finds the default model for an upscaling factor:
// $PSSR_MODEL when set, else models/DefaultNameFor(scale), falling back to
// models/pssr-tiny-x4.safetensors, next to the executable, one level above
// it, or under the current directory and its parents (a source checkout).
// It returns an error saying that no default model is installed when none
// exists.
func DefaultPathFor(scale int) (string, error) {
	if p := os.Getenv("PSSR_MODEL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("model: $PSSR_MODEL=%s: %w", p, err)
		}
		return p, nil
	}
	dirs := searchdirs.Dirs()
	for _, name := range []string{DefaultNameFor(scale), DefaultName} {
		for _, d := range dirs {
			p := filepath.Join(d, "models", name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("model: no default model is installed (looked for models/%s next to the pssr binary and in the current directory and its parents; set $PSSR_MODEL or pass --model FILE)", DefaultName)
}

// ScopeTeacher is the scope under which training keeps a frozen copy of a
// draft to distil from ("teacher/draft/..."). Its variables are not network
// variables: Save leaves them out, SaveAll (a checkpoint) keeps them.
const ScopeTeacher = "teacher"

// AddTeacherDraft copies f's draft tensors into the model as the frozen
// variables ScopeTeacher+"/draft/...", never trainable, for a teacher draft
// built with f's config under scope ScopeTeacher. It returns how many it
// copied; a file without a draft is an error.
func (m *Model) AddTeacherDraft(f *weights.File) (int, error) {
	n := 0
	for _, t := range f.Tensors {
		if !strings.HasPrefix(t.Name, ScopeDraft+"/") {
			continue
		}
		t.Name = ScopeTeacher + "/" + t.Name
		if err := m.setExtra(t); err != nil {
			return n, fmt.Errorf("model: teacher: %w", err)
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("model: teacher: the file has no draft tensors")
	}
	return n, nil
}
