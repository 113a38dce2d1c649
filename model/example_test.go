package model_test

import (
	"fmt"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/model"
)

// ExampleNew builds the pssr-tiny networks with random weights and shows
// the sizes that the pipeline and the memory planning work from. A trained
// model is opened with model.Load (and model.ReadConfig reads only a
// file's header).
func ExampleNew() {
	be, _, err := backend.New("go", nil)
	if err != nil {
		panic(err)
	}
	defer be.Finalize()
	cfg := model.Tiny()
	m, err := model.New(be, cfg, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println("frame sides: multiples of", cfg.PixelMultiple())
	fmt.Println("base blocks kept by the draft:", cfg.KeptBlocks())
	fmt.Println("parameters: base", m.NumParameters(model.ScopeBase), "draft", m.NumParameters(model.ScopeDraft))
	// Output:
	// frame sides: multiples of 16
	// base blocks kept by the draft: [5]
	// parameters: base 2174656 draft 464192
}
