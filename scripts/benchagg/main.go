// Command benchagg aggregates the JSON reports of pssr bench over shots:
//
//	go run ./scripts/benchagg DIR
//
// DIR holds one folder per degradation preset (DIR/bicubic, DIR/realesrgan,
// ...), each with one `pssr bench --json` report per shot (SHOT.json).
// benchagg writes DIR/ablation.json and DIR/ablation.md: for every preset
// and mode, PSNR-Y, SSIM-Y, LPIPS, warp error and seconds per frame as the
// frame-weighted mean over the shots (each shot weighs its number of
// frames; a shot where a number is missing, e.g. a skipped mode, is left
// out of that number's mean), and the ground truth's own warp error (the
// reports' gt_warp_err), the reference a mode's warp error is read against.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// report is the part of a pssr bench JSON report benchagg reads.
type report struct {
	Input   string   `json:"input"`
	Frames  int      `json:"frames"`
	Machine string   `json:"machine"`
	Backend string   `json:"backend"`
	GTWarp  *float64 `json:"gt_warp_err"`
	Modes   []struct {
		Name            string   `json:"name"`
		SecondsPerFrame *float64 `json:"seconds_per_frame"`
		PSNRY           *float64 `json:"psnr_y"`
		SSIMY           *float64 `json:"ssim_y"`
		LPIPS           *float64 `json:"lpips"`
		TemporalErr     *float64 `json:"temporal_err"`
		Skipped         string   `json:"skipped"`
	} `json:"modes"`
}

// metricNames are the aggregated numbers, in table order.
var metricNames = []string{"psnr_y", "ssim_y", "lpips", "warp_err", "seconds_per_frame"}

// Mode is one mode's frame-weighted means; nil where no shot measured it.
type Mode struct {
	Name    string              `json:"name"`
	Means   map[string]*float64 `json:"means"`
	Skipped []string            `json:"skipped,omitempty"`
}

// Shot is one input of a preset.
type Shot struct {
	Shot   string `json:"shot"`
	Frames int    `json:"frames"`
	Input  string `json:"input"`
}

// Preset is the aggregate of one preset's folder.
type Preset struct {
	Preset  string `json:"preset"`
	Frames  int    `json:"frames"`
	Machine string `json:"machine"`
	Backend string `json:"backend"`
	Shots   []Shot `json:"shots"`
	Modes   []Mode `json:"modes"`
	// GTWarpErr is the frame-weighted mean of the shots' gt_warp_err (nil
	// when no report has one).
	GTWarpErr *float64 `json:"gt_warp_err,omitempty"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchagg DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "benchagg:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	var presets []Preset
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		p, err := aggregate(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		if len(p.Shots) > 0 {
			presets = append(presets, p)
		}
	}
	if len(presets) == 0 {
		return fmt.Errorf("no bench reports (PRESET/SHOT.json) in %s", dir)
	}
	sort.SliceStable(presets, func(i, j int) bool { return order(presets[i].Preset) < order(presets[j].Preset) })
	b, err := json.MarshalIndent(map[string]any{"weighting": "frame-weighted mean over shots", "presets": presets}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ablation.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing ablation.json: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "ablation.md"), []byte(markdown(presets)), 0o644)
}

// order puts bicubic first, then the other presets by name.
func order(p string) string {
	if p == "bicubic" {
		return ""
	}
	return p
}

func aggregate(dir string) (Preset, error) {
	p := Preset{Preset: filepath.Base(dir)}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return p, err
	}
	sort.Strings(files)
	type acc struct{ sum, w float64 }
	sums := map[string]map[string]*acc{}
	skipped := map[string][]string{}
	var names []string
	var gtWarp acc
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return p, fmt.Errorf("reading %s: %w", f, err)
		}
		var r report
		if err := json.Unmarshal(b, &r); err != nil {
			return p, fmt.Errorf("%s is not a pssr bench report: %w", f, err)
		}
		if r.Frames < 1 {
			return p, fmt.Errorf("%s: %d frames", f, r.Frames)
		}
		shot := strings.TrimSuffix(filepath.Base(f), ".json")
		p.Shots = append(p.Shots, Shot{Shot: shot, Frames: r.Frames, Input: r.Input})
		p.Frames += r.Frames
		p.Machine, p.Backend = r.Machine, r.Backend
		w := float64(r.Frames)
		if r.GTWarp != nil && !math.IsNaN(*r.GTWarp) {
			gtWarp.sum += *r.GTWarp * w
			gtWarp.w += w
		}
		for _, m := range r.Modes {
			if sums[m.Name] == nil {
				sums[m.Name] = map[string]*acc{}
				names = append(names, m.Name)
			}
			if m.Skipped != "" {
				skipped[m.Name] = append(skipped[m.Name], shot+": "+m.Skipped)
			}
			for k, v := range map[string]*float64{"psnr_y": m.PSNRY, "ssim_y": m.SSIMY, "lpips": m.LPIPS,
				"warp_err": m.TemporalErr, "seconds_per_frame": m.SecondsPerFrame} {
				if v == nil || math.IsNaN(*v) {
					continue
				}
				a := sums[m.Name][k]
				if a == nil {
					a = &acc{}
					sums[m.Name][k] = a
				}
				a.sum += *v * w
				a.w += w
			}
		}
	}
	for _, n := range names {
		m := Mode{Name: n, Means: map[string]*float64{}, Skipped: skipped[n]}
		for _, k := range metricNames {
			if a := sums[n][k]; a != nil && a.w > 0 {
				v := a.sum / a.w
				m.Means[k] = &v
			} else {
				m.Means[k] = nil
			}
		}
		p.Modes = append(p.Modes, m)
	}
	if gtWarp.w > 0 {
		v := gtWarp.sum / gtWarp.w
		p.GTWarpErr = &v
	}
	return p, nil
}

func markdown(presets []Preset) string {
	var b strings.Builder
	formats := map[string]string{"psnr_y": "%.2f", "ssim_y": "%.4f", "lpips": "%.4f", "warp_err": "%.4f", "seconds_per_frame": "%.3g"}
	for _, p := range presets {
		var shots []string
		for _, s := range p.Shots {
			shots = append(shots, fmt.Sprintf("%s (%d)", s.Shot, s.Frames))
		}
		fmt.Fprintf(&b, "### %s preset\n\n%d frames: %s. Frame-weighted means over the shots; %s, %s.\n\n",
			p.Preset, p.Frames, strings.Join(shots, ", "), p.Machine, p.Backend)
		b.WriteString("| mode | PSNR-Y | SSIM-Y | LPIPS | warp err | s/frame |\n|---|---|---|---|---|---|\n")
		for _, m := range p.Modes {
			fmt.Fprintf(&b, "| %s |", m.Name)
			for _, k := range metricNames {
				if v := m.Means[k]; v != nil {
					fmt.Fprintf(&b, " "+formats[k]+" |", *v)
				} else {
					b.WriteString(" - |")
				}
			}
			b.WriteString("\n")
		}
		if p.GTWarpErr != nil {
			fmt.Fprintf(&b, "| ground truth (its own warp err) | - | - | - | %.4f | - |\n", *p.GTWarpErr)
		}
		b.WriteString("\n")
	}
	return b.String()
}
