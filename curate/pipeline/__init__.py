"""`curate run RECIPE`: every stage of a dataset recipe, in order, each one resumable.

Steps: ingest (one per [[sources]] table) → embed → filter → prefilter → split →
check-leakage → score (demo and scrape collections) → [train → evaluate] → report.
Embed runs before the filter, over every stored image, so that the filter's
near-duplicate links have embedding evidence for every pair (brightness edits, crops,
rotations and burst frames move a pHash too far to be found by it alone). The
pre-classifier runs before the split so the split's shares are computed over the photos
that stay (see docs/recipes.md).

Every step's settings are checked against its stage's config before anything runs,
so a bad recipe fails at once with one line naming its first invalid field.

Modules: `settings` (recipe values checked against the stage configs), `sources` (one
ingest step per [[sources]] table), `steps` (the stage steps and `plan`), `training` (the
train and evaluate steps, registered by classify so that curate never imports it), `runner`
(`run_pipeline` and the journal). Library code: steps answer one summary line each (a
`StepSummary` with the warnings of the stage's report), and the runner hands each line to
`echo` and each warning to `warn` (the `curate run` command prints them).

Resuming: after each step, `<workspace>/journal/run-<recipe>.json` records the step's
name, a fingerprint of its settings and the catalog's sha256 afterwards. The next
`curate run` skips the longest run of leading steps that finished with unchanged
settings, and continues from there. That is safe because a stage recomputes its own
flags from scratch and reinstates later stages' drops. If the catalog on disk is not
the one the last recorded step left (someone ran a command by hand), every step runs
again; each is idempotent (ingest fetches nothing it already has). A stage step whose
stage reads as stale (curate.freshness: an earlier stage re-ran after it, e.g. a
`curate embed` by hand that left the catalog as it was) runs again with everything after
it. A step whose work outlives the run (train, evaluate) can tell that what it reads is
unchanged since it made its outputs (`Step.unchanged`: classify records what a run folder was
trained and evaluated on): it is then skipped, with a line saying why, even after a step before
it ran again; `--from` runs it anyway. Inside a step, resuming is the stage's own: ingest
journals (and the sources' cursors), the embedding cache, training checkpoints (`--resume`).
"""

from curate.pipeline.runner import (
    PIPELINE_STAGES,
    Step,
    StepOutcome,
    StepSummary,
    Unchanged,
    finished_steps,
    missing_inputs,
    recipe_ref,
    restart_index,
    run_pipeline,
    stale_stages,
    state_path,
)
from curate.pipeline.settings import EvaluateSettings, ReportSettings, asdict_plain, build_config, fingerprint
from curate.pipeline.sources import SOURCE_STEPS, _split_keys
from curate.pipeline.steps import _evaluate, _filter, check_devices, export_step, plan, stage_steps
from curate.pipeline.training import TrainingSteps, register_training, registered_training, training_steps

__all__ = ["PIPELINE_STAGES", "SOURCE_STEPS", "EvaluateSettings", "ReportSettings", "Step", "StepOutcome",
           "StepSummary", "TrainingSteps", "Unchanged",
           "_evaluate", "_filter", "_split_keys", "asdict_plain", "build_config", "check_devices",
           "export_step", "finished_steps", "fingerprint", "missing_inputs", "plan", "recipe_ref", "register_training",
           "registered_training", "restart_index", "run_pipeline", "stage_steps", "stale_stages", "state_path",
           "training_steps"]
