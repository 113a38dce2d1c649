package backend_test

import (
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/pssr/pssr/backend"
)

func Example() {
	// "auto" would use a CUDA PJRT plugin where one works; "go" always works.
	b, desc, err := backend.New("go", slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Finalize()
	fmt.Println(desc)
	// Output: go (Simple Go Portable Backend)
}
