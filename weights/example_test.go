package weights_test

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/pssr/pssr/weights"
)

func Example() {
	dir, err := os.MkdirTemp("", "weights-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	config, _ := json.Marshal(map[string]int{"channels": 4})
	err = weights.Save(path, &weights.File{
		Format:   weights.FormatV1,
		Config:   config,
		Metadata: map[string]string{"model": "tiny", "step": "1000"},
		Tensors: []weights.Tensor{
			{Name: "proj/weights", DType: "F32", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	f, err := weights.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Format, string(f.Config), f.Metadata["model"])
	w, _ := f.Get("proj/weights")
	fmt.Println(w.Shape, w.Data)
	fmt.Println(f.Check([]weights.Spec{{Name: "proj/weights", Shape: []int{3, 3}}}))
	// Output:
	// pssr-weights/1 {"channels":4} tiny
	// [2 2] [1 2 3 4]
	// weights: tensor "proj/weights": shape [2 2] in file, model wants [3 3]
}
