package progress_test

import (
	"os"

	"github.com/pssr/pssr/progress"
)

func Example() {
	// Progress goes to stderr: a live bar on a terminal, a line every few
	// seconds in a log.
	bar := progress.New(os.Stderr, 3, "upscale", false)
	for range 3 {
		// ... process one frame ...
		bar.Add(1)
	}
	bar.Finish()
}
