package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pssr/pssr/frame"
	"github.com/pssr/pssr/peers"
)

// ResizeMode returns a baseline mode that upscales every frame with
// frame.Resize and kernel k, clamping the result to [0, 1] (the overshoot of
// bicubic and Lanczos would not survive an 8-bit output either).
func ResizeMode(name string, k frame.Kernel) Mode {
	return Mode{
		Name: name,
		Kind: KindBaseline,
		Run: func(ctx context.Context, lq []*frame.Image, scale int) ([]*frame.Image, error) {
			out := make([]*frame.Image, len(lq))
			for i, f := range lq {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				out[i] = frame.Resize(f, f.W*scale, f.H*scale, k).Clamp()
			}
			return out, nil
		},
	}
}

// Baselines returns the modes "bicubic" (frame.Bicubic) and "lanczos"
// (frame.Lanczos3).
func Baselines() []Mode {
	return []Mode{ResizeMode("bicubic", frame.Bicubic), ResizeMode("lanczos", frame.Lanczos3)}
}

// PeerMode returns a mode, named after p, that writes the frames as PNGs to
// a temporary folder, runs p.Upscale on it and reads the upscaled PNGs back.
// When p is not available (p.Available() != nil) the mode is skipped with
// that error as its note. When p implements ChildRSSReporter, its tool's
// peak memory is passed to the bench with ReportChildRSS.
func PeerMode(p peers.Peer) Mode {
	m := Mode{Name: p.Name(), Kind: KindPeer, Skip: p.Available()}
	m.Run = func(ctx context.Context, lq []*frame.Image, scale int) (out []*frame.Image, err error) {
		tmp, err := os.MkdirTemp("", "pssr-bench-"+p.Name()+"-")
		if err != nil {
			return nil, err
		}
		defer func() {
			if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
				err = rerr
			}
		}()
		inDir, outDir := filepath.Join(tmp, "in"), filepath.Join(tmp, "out")
		if err := os.Mkdir(inDir, 0o755); err != nil {
			return nil, err
		}
		names := make([]string, len(lq))
		for i, f := range lq {
			names[i] = fmt.Sprintf("%06d.png", i+1)
			if err := frame.SavePNG(filepath.Join(inDir, names[i]), f); err != nil {
				return nil, err
			}
		}
		if err := p.Upscale(ctx, inDir, outDir, scale); err != nil {
			return nil, err
		}
		if r, ok := p.(ChildRSSReporter); ok {
			ReportChildRSS(ctx, r.LastMaxRSS())
		}
		out = make([]*frame.Image, len(lq))
		for i, n := range names {
			if out[i], err = frame.Load(filepath.Join(outDir, n)); err != nil {
				return nil, fmt.Errorf("reading %s's output: %w", p.Name(), err)
			}
		}
		return out, nil
	}
	return m
}

// PeerModes returns PeerMode of every peer of peers.All(root), in the order
// of peers.Names.
func PeerModes(root string) []Mode {
	var ms []Mode
	for _, p := range peers.All(root) {
		ms = append(ms, PeerMode(p))
	}
	return ms
}

// Select returns the modes of all that list names, in the order of list.
// list is a comma-separated list of mode names and kinds ("baseline",
// "pssr", "peer", or the plurals "baselines", "pssrs", "peers"), a kind
// standing for every mode of that kind in the order of all; a mode's name
// wins over a kind (so "pssr" is the mode of that name when there is one);
// "" or "all" selects every mode. A mode named twice is kept once. An unknown name is an error that
// lists the known ones.
func Select(all []Mode, list string) ([]Mode, error) {
	list = strings.TrimSpace(list)
	if list == "" || list == "all" {
		return slices.Clone(all), nil
	}
	var out []Mode
	seen := map[string]bool{}
	add := func(m Mode) {
		if !seen[m.Name] {
			seen[m.Name] = true
			out = append(out, m)
		}
	}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		found := false
		for _, m := range all {
			if m.Name == item {
				add(m)
				found = true
			}
		}
		if kind := strings.TrimSuffix(item, "s"); !found && (isKind(kind) || item == "all") {
			for _, m := range all {
				if m.Kind == kind || item == "all" {
					add(m)
					found = true
				}
			}
		}
		if !found {
			names := make([]string, len(all))
			for i, m := range all {
				names[i] = m.Name
			}
			return nil, fmt.Errorf("bench: unknown mode %q (known: %s; or a kind: baseline, pssr, peer; or all)",
				item, strings.Join(names, ", "))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no modes selected by %q", list)
	}
	return out, nil
}

func isKind(s string) bool { return s == KindBaseline || s == KindPSSR || s == KindPeer }
