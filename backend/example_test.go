package backend_test

import (
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"

	"github.com/pssr/pssr/backend"
)

func Example() {
	// "auto" would use a CUDA PJRT plugin where one works; "go" always works.
	b, desc, err := backend.New("go", slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Finalize()
	name, _, _ := strings.Cut(desc, " (parallelism") // the worker count depends on the machine
	fmt.Println(name)
	// Output: go (Go Portable Compute Backend
}
