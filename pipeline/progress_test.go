package pipeline

import (
	"slices"
	"testing"

	"github.com/pssr/pssr/tiling"
)

// TestOnComputed checks that Run reports each window as it is computed,
// with the windows' sizes, before their frames are all written: what the
// progress ETA follows.
func TestOnComputed(t *testing.T) {
	m := fixtureModel(t)
	opt := DefaultOptions()
	opt.Mode, opt.WindowT, opt.OverlapT, opt.Tile = ModeBase, 3, 1, 0
	var got []int
	opt.OnComputed = func(frames int) { got = append(got, frames) }
	out := runStream(t, m, opt, testClip(7, 16, 16))
	spans, err := tiling.Windows(7, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, s := range spans {
		want = append(want, s.Len())
	}
	if len(out) != 7 || !slices.Equal(got, want) {
		t.Errorf("%d frames out, windows reported %v, want %v", len(out), got, want)
	}
}
