package main

import (
	"log/slog"
	"strconv"

	"github.com/pssr/pssr/model"
)

// warnModelScale logs a warning when the model was trained for another
// upscaling factor than the one asked for: it runs, but a model trained for
// x4 over-sharpens and invents detail on a x2 input.
func warnModelScale(log *slog.Logger, m *model.Model, path string, scale int) {
	s, ok := m.Metadata[model.MetaScale]
	if !ok {
		return
	}
	if trained, err := strconv.Atoi(s); err == nil && trained != scale {
		log.Warn("the model was trained for another scale: expect worse quality than with a matching model",
			"model", path, "trained_scale", trained, "scale", scale)
	}
}
