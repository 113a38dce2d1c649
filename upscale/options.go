package upscale

import (
	"fmt"

	"github.com/pssr/pssr/pipeline"
	"github.com/pssr/pssr/schedule"
)

// Choices are the upscale options that are given by name (flags of
// `pssr upscale`, form fields of `pssr serve`) and need resolving into
// pipeline.Options.
type Choices struct {
	// Mode is pssr, pssr-nofuse, base or base-4step.
	Mode string
	// Fuse is latent, final, per-step or off (off turns pssr into
	// pssr-nofuse).
	Fuse string
	// DraftSteps is the number of draft steps (3 gives 599, 499, 399).
	DraftSteps int
	// DraftTimesteps, when not nil, are explicit draft timesteps.
	DraftTimesteps []int
}

// DefaultChoices returns the choices of pipeline.DefaultOptions.
func DefaultChoices() Choices {
	o := pipeline.DefaultOptions()
	return Choices{Mode: string(o.Mode), Fuse: string(o.Fuse), DraftSteps: len(o.Plan.Draft)}
}

// Apply sets opt's mode, fusion and plan from c and validates all of opt;
// errors name the flag at fault.
func (c Choices) Apply(opt *pipeline.Options) error {
	var err error
	if opt.Mode, err = pipeline.ParseMode(c.Mode); err != nil {
		return fmt.Errorf("--mode: %w", err)
	}
	if opt.Fuse, err = pipeline.ParseFuseMode(c.Fuse); err != nil {
		return err
	}
	if c.Fuse == string(pipeline.FuseOff) && opt.Mode == pipeline.ModePSSR {
		opt.Mode = pipeline.ModePSSRNoFuse
	}
	if opt.Plan, err = schedule.PlanWithDrafts(c.DraftSteps); err != nil {
		return fmt.Errorf("--draft-steps: %w", err)
	}
	if c.DraftTimesteps != nil {
		opt.Plan.Draft = c.DraftTimesteps
		if err := opt.Plan.Validate(); err != nil {
			return fmt.Errorf("--draft-timesteps: %w", err)
		}
	}
	return opt.Validate()
}
