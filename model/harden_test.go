package model

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pssr/pssr/internal/testbackend"
	"github.com/pssr/pssr/weights"
)

// mutateConfig returns the fixture config's JSON with one field set.
func mutateConfig(t *testing.T, section, field string, v any) []byte {
	t.Helper()
	var m map[string]any
	b, _ := json.Marshal(Fixture())
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m[section].(map[string]any)[field] = v
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostileConfigs gives ParseConfig configs that used to allocate
// without bound (dit.width 2^24, dit.blocks 2^20: fatal out of memory) or
// panic (ae.patch 2^20) while the model was built: each must be refused
// with an error naming the field.
func TestHostileConfigs(t *testing.T) {
	for _, tc := range []struct {
		section, field string
		v              any
		want           string
	}{
		{"dit", "width", 1 << 24, "dit.width"},
		{"dit", "blocks", 1 << 20, "dit.blocks"},
		{"ae", "patch", 1 << 20, "ae.patch"},
		{"ae", "patch", 3, "ae.patch"},
		{"ae", "width", 1 << 20, "ae.width"},
		{"ae", "latent_channels", 1 << 20, "ae.latent_channels"},
		{"ae", "enc_blocks", 1 << 20, "ae.enc_blocks"},
		{"ae", "dec_blocks", -1, "ae.dec_blocks"},
		{"dit", "patch", 1 << 10, "dit.patch"},
		{"dit", "heads", 1 << 20, "dit.heads"},
		{"dit", "mlp", 1 << 30, "dit.mlp"},
		{"dit", "window", 1 << 16, "dit.window"},
		{"dit", "time_dim", 1 << 30, "dit.time_dim"},
		{"draft", "k_select", 1e300, "draft.k_select"},
		{"draft", "k_select", -1, "draft.k_select"},
	} {
		t.Run(tc.field+"="+strings.TrimSpace(string(mustJSON(tc.v))), func(t *testing.T) {
			_, err := ParseConfig(mutateConfig(t, tc.section, tc.field, tc.v))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseConfig: %v, want an error naming %s", err, tc.want)
			}
		})
	}
	// Every field within its range, the whole too large.
	big := Fixture()
	big.DiT.Width, big.DiT.Heads, big.DiT.MLP, big.DiT.Blocks = 8192, 8, 65536, 256
	if err := big.Validate(); err == nil || !strings.Contains(err.Error(), "parameters") {
		t.Errorf("Validate of a %g-parameter config: %v, want an error about the parameter count", big.approxParameters(), err)
	}
	for _, c := range []Config{Tiny(), Small(), Fixture()} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// TestCheckHeaderBeforeBuild writes the fixture's tensors under configs
// that do not describe them: ReadConfig, which reads the header only, must
// find the mismatch (naming the tensors), and Load must fail without
// building the networks the config describes.
func TestCheckHeaderBeforeBuild(t *testing.T) {
	be := testbackend.New(t)
	m, err := New(be, Fixture(), 1)
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.File()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"256 blocks", func(c *Config) { c.DiT.Blocks = 256 }, `"base/block_255/fc1/w": missing`},
		{"fewer blocks", func(c *Config) { c.DiT.Blocks = 2; c.Draft.KSelect = 1 }, `"base/block_2/`},
		{"wide", func(c *Config) { c.DiT.Width, c.DiT.MLP = 2048, 8192 }, `"base/embed/w": shape`},
		{"ae patch", func(c *Config) { c.AE.Patch = 32 }, `"ae/enc/in/w": shape`},
		{"mlp", func(c *Config) { c.DiT.MLP = 64 }, `"base/block_0/fc1/w": shape [16 32] in file`},
		{"window", func(c *Config) { c.DiT.Window = 8 }, "window_pos/emb"},
		{"enc blocks", func(c *Config) { c.AE.EncBlocks = 30 }, `"ae/enc/block_29/fc1/w": missing`},
		{"fine blocks", func(c *Config) { c.AE.FineBlocks = 8 }, `"ae/dec/fine_block_7/fc1/w": missing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Fixture()
			tc.mutate(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the case's config is invalid: %v", err)
			}
			g := *f
			g.Config = cfg.JSON()
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".safetensors")
			if err := weights.Save(path, &g); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadConfig(path); !errors.Is(err, weights.ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadConfig: %v, want a mismatch naming %s", err, tc.want)
			}
			start := time.Now()
			if _, err := Load(be, path); !errors.Is(err, weights.ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load: %v, want a mismatch naming %s", err, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Load took %v to refuse", d)
			}
		})
	}
	// The bundled models agree with their headers.
	for _, name := range []string{"pssr-tiny-x4.safetensors", "pssr-tiny-x2.safetensors"} {
		path := filepath.Join("..", "models", name)
		if _, err := ReadConfig(path); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
