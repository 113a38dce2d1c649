package trainer

import (
	"fmt"
	"slices"

	"github.com/pssr/pssr/model"
	"github.com/pssr/pssr/weights"
)

// MetaTeacher is the metadata key holding the config (JSON) of the teacher
// a draft was distilled from (Config.DistillWeight): the --init model's.
const MetaTeacher = "train.draft.teacher_config"

// openTeacher sets r.teacher for a distilling run: on a fresh run it copies
// the --init model's draft into the model as frozen teacher variables
// (model.AddTeacherDraft) and records the teacher's config in the
// metadata; on --resume the checkpoint already holds both. The teacher must
// read the same base features as the student (the same kept blocks).
func (r *run) openTeacher() error {
	if r.cfg.DistillWeight <= 0 {
		return nil
	}
	if !r.cfg.Resume {
		f, err := weights.Load(r.cfg.Init)
		if err != nil {
			return fmt.Errorf("trainer: teacher: %w", err)
		}
		n, err := r.m.AddTeacherDraft(f)
		if err != nil {
			return fmt.Errorf("trainer: %s: %w", r.cfg.Init, err)
		}
		r.m.Metadata[MetaTeacher] = string(f.Config)
		r.log.Info("distilling from the --init model's draft", "variables", n)
	}
	raw := r.m.Metadata[MetaTeacher]
	if raw == "" {
		return fmt.Errorf("trainer: --distill-weight: the checkpoint has no teacher (it was not a distilling run)")
	}
	tc, err := model.ParseConfig([]byte(raw))
	if err != nil {
		return fmt.Errorf("trainer: teacher config: %w", err)
	}
	if !slices.Equal(tc.KeptBlocks(), r.m.Config.KeptBlocks()) {
		return fmt.Errorf("trainer: --distill-weight: the teacher keeps base blocks %v, the draft trained %v: distil between drafts that read the same base features",
			tc.KeptBlocks(), r.m.Config.KeptBlocks())
	}
	r.teacher = &tc
	return nil
}
