// Command lpips-convert turns the LPIPS-SqueezeNet v0.1 weights, received as
// NumPy archives, into the safetensors file that package metrics/lpips loads:
//
//	go run ./cmd/lpips-convert \
//	    -backbone ../shared/models/perceptual/lpips-squeeze/squeeze-backbone.npz \
//	    -heads ../shared/models/perceptual/lpips-squeeze/squeeze-heads-v0.1.npz \
//	    -out models/perceptual/lpips-squeeze-v0.1.safetensors
//
// The backbone archive holds torchvision's squeezenet1_1 "features" state
// dict (keys such as "0.weight", "3.squeeze.weight"), the heads archive the
// seven LPIPS linear layers ("lin0.model.1.weight" ... "lin6..."). Tensors
// keep their PyTorch layout and values; backbone keys gain the prefix
// "features.". The conversion is deterministic, so rerunning it reproduces
// the committed file byte for byte.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/pssr/pssr/internal/npz"
	"github.com/pssr/pssr/weights"
)

func main() {
	backbone := flag.String("backbone", "", "squeeze-backbone.npz (torchvision squeezenet1_1 features)")
	heads := flag.String("heads", "", "squeeze-heads-v0.1.npz (LPIPS linear heads)")
	out := flag.String("out", "models/perceptual/lpips-squeeze-v0.1.safetensors", "output safetensors file")
	flag.Parse()
	if *backbone == "" || *heads == "" {
		fmt.Fprintln(os.Stderr, "lpips-convert: -backbone and -heads are required")
		flag.Usage()
		os.Exit(2)
	}
	if err := convert(*backbone, *heads, *out); err != nil {
		fmt.Fprintln(os.Stderr, "lpips-convert:", err)
		os.Exit(1)
	}
}

// convert reads both archives and writes the safetensors file.
func convert(backbonePath, headsPath, out string) error {
	bb, err := npz.ReadFile(backbonePath)
	if err != nil {
		return fmt.Errorf("backbone: %w", err)
	}
	hd, err := npz.ReadFile(headsPath)
	if err != nil {
		return fmt.Errorf("heads: %w", err)
	}
	var ts []weights.Tensor
	n := 0
	for _, name := range npz.Names(bb) {
		a := bb[name]
		ts = append(ts, weights.Tensor{Name: "features." + name, DType: "F32", Shape: a.Shape, Data: a.Data})
		n += len(a.Data)
	}
	for _, name := range npz.Names(hd) {
		if !strings.HasPrefix(name, "lin") {
			return fmt.Errorf("heads: unexpected key %q", name)
		}
		a := hd[name]
		ts = append(ts, weights.Tensor{Name: name, DType: "F32", Shape: a.Shape, Data: a.Data})
		n += len(a.Data)
	}
	if len(bb) != 50 || len(hd) != 7 {
		return fmt.Errorf("got %d backbone and %d head tensors, want 50 and 7", len(bb), len(hd))
	}
	config, err := json.Marshal(map[string]string{"net": "squeeze", "version": "0.1", "layout": "pytorch-nchw-oihw"})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	f := &weights.File{
		Format: "lpips/1",
		Config: config,
		Metadata: map[string]string{
			"lpips.source.heads":    "github.com/richzhang/PerceptualSimilarity@082bb24f lpips/weights/v0.1/squeeze.pth (BSD-2-Clause)",
			"lpips.source.backbone": "torchvision squeezenet1_1(pretrained=True).features, re-saved in github.com/delldu/LPIPS@77473a15 (BSD-3-Clause torchvision weights)",
			"lpips.params":          fmt.Sprint(n),
		},
		Tensors: ts,
	}
	if err := weights.Save(out, f); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d tensors, %d parameters\n", out, len(ts), n)
	return nil
}
