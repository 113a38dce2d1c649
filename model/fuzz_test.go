package model

import (
	"testing"
)

// FuzzParseConfig feeds arbitrary JSON to the config parser: an accepted
// config must be within every bound, so that building it is bounded too.
// Run longer with go test ./model -run '^$' -fuzz FuzzParseConfig.
func FuzzParseConfig(f *testing.F) {
	for _, c := range []Config{Tiny(), Small(), Fixture()} {
		f.Add([]byte(c.JSON()))
	}
	f.Add([]byte(`{"ae":{"patch":1048576,"latent_channels":4,"width":16},"dit":{"patch":2,"width":16777216,"blocks":3,"heads":2,"mlp":32,"window":2,"time_dim":16},"draft":{"k_select":1.5}}`))
	f.Add([]byte(`{"draft":{"k_select":1e308}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		for _, l := range configLimits {
			if v := l.get(c); v < l.min || v > l.max {
				t.Fatalf("%s = %d accepted", l.name, v)
			}
		}
		if c.approxParameters() > MaxParameters || len(c.KeptBlocks()) == 0 || c.PixelMultiple() <= 0 || c.DiT.Width%c.DiT.Heads != 0 {
			t.Fatalf("accepted %+v", c)
		}
	})
}
