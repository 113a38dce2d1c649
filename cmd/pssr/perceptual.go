package main

import (
	"fmt"

	"github.com/pssr/pssr/backend"
	"github.com/pssr/pssr/metrics/lpips"
)

// openLPIPS loads the LPIPS-SqueezeNet weights (lpips.DefaultPath: $PSSR_LPIPS
// or models/perceptual/) on a backend of spec. close releases the backend;
// desc describes it.
func openLPIPS(a *app, spec string) (m *lpips.Metric, desc string, close func(), err error) {
	path, err := lpips.DefaultPath()
	if err != nil {
		return nil, "", nil, fmt.Errorf("%w (pass --no-lpips to score without it)", err)
	}
	be, desc, err := backend.New(spec, a.log)
	if err != nil {
		return nil, "", nil, fmt.Errorf("--backend: %w", err)
	}
	m, err = lpips.Load(be, path)
	if err != nil {
		be.Finalize()
		return nil, "", nil, err
	}
	a.log.Info("lpips", "weights", path, "backend", desc)
	return m, desc, be.Finalize, nil
}
