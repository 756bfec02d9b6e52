"""`classify train`: two-stage transfer learning with exact resume.

Stage 1 trains the new head on a frozen backbone (batch-norm statistics frozen too);
stage 2 unfreezes everything with discriminative rates (backbone at
`lr * backbone_lr_factor`, head at `lr`). AdamW; a one-cycle schedule per stage by
default, or ReduceLROnPlateau on validation loss. Early stopping watches validation loss;
the best epoch's weights are what `model.safetensors` holds.

Every epoch ends with an atomic `checkpoint.pt` (weights, optimiser, scheduler, history).
Each epoch re-seeds every random generator from (seed, epoch), and each sample's augmentation
has its own seed (`classify.data.EpochSampler`), so loader workers can persist across epochs
and `--resume` after an
interruption continues exactly as if the run had not stopped.

Under `torchrun --nproc_per_node N` the same command trains with DistributedDataParallel
(NCCL on GPUs, gloo on CPUs): each process takes its shard of every
epoch (`--batch-size` per process), gradients are averaged, rank 0 alone writes files.

Run directory: model.safetensors + model.json (see classify.model), metrics.csv,
learning_curves.png, checkpoint.pt, and left_out.csv when some images would not decode.

This module checks the split and starts or resumes the run (`train`); the loop is
classify.trainer (`Trainer`), the run folder's files and reading them back classify.run_files.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from pathlib import Path

import pandas as pd

from classify.config import TrainConfig, check_out_folder
from classify.data import labelled_rows
from classify.distributed import leave_distributed
from classify.model import CHECKPOINT, META, RunMeta, save_meta
from classify.run_files import holds_trained_model, load_checkpoint_state, refuse_changes, split_sha256
from classify.trainer import Trainer
from curate import schema
from curate.errors import DataContractError, UsageError
from curate.freshness_workspace import require_fresh_split
from curate.leakage import find_leakage
from curate.vision.backbones import cpu_speed
from curate.workspace import Workspace, read_catalog

RUN_LOCK = ".lock"  # in a run folder while a training writes it (`run_folder_lock`)
log = logging.getLogger(__name__)


def check_split(catalog: pd.DataFrame, allow_leakage: bool, warn: bool = True) -> bool:
    """Refuse a leaky split (exit 3) unless allowed; returns whether it leaks. `warn`: say loudly
    that scores will be inflated (not for a comparison that leaks on purpose to measure it)."""
    leaks = find_leakage(catalog)
    if leaks.empty:
        return False
    summary = ", ".join(f"{n} {kind}" for kind, n in leaks["kind"].value_counts().items())
    if not allow_leakage:
        raise DataContractError(f"the split leaks ({summary} found in 2+ splits; `curate check-leakage` lists them): "
                                "run `curate split` again, or pass --allow-leakage to train anyway")
    if warn:
        log.warning(f"WARNING: training on a leaky split ({summary}). Validation and test accuracy "
                    "will be inflated: the model is scored on photographers and near-copies it has seen.")
    return True


def check_workspace_split(ws: Workspace, allow_leakage: bool = False, warn: bool = True,
                          probe: bool = False) -> tuple[pd.DataFrame, bool]:
    """The workspace's catalog, after the checks every command that trains on it runs first:
    DataContractError (exit 3) for a stale split (`require_fresh_split`) or, unless allowed,
    a leaky one (`check_split`). Returns (catalog, whether the split leaks). `probe`: what trains is a
    linear probe (the empty-val warning says what that means for it)."""
    catalog = read_catalog(ws)
    require_fresh_split(ws, catalog)  # a stale split would train on whatever photos it still holds
    leaky = check_split(catalog, allow_leakage, warn=warn)
    for line in empty_split_warnings(catalog, probe):
        log.warning(line)
    return catalog, leaky


def empty_split_warnings(catalog: pd.DataFrame, probe: bool = False) -> list[str]:
    """A warning for an empty val split (no early stopping, no val accuracy; a probe, which has no epochs to stop,
    chooses its L2 strength by cross-validation on the train photos instead) and one for an empty test split
    (`classify evaluate` has nothing to score), each pointing at the split's own reason."""
    kept = catalog.loc[catalog["status"] == schema.KEPT, "split"]
    why = "`curate split` says why (reports/split.json: e.g. one photographer per label, or labels too small)"
    val = ("no val accuracy, and the probe's L2 strength is chosen by cross-validation on the train photos "
           "(a default with too few)"
           if probe else "no early stopping and no val accuracy")
    lines = {"val": val, "test": "`classify evaluate` will have nothing to score"}
    return [f"warning: the {name} split has no kept photos: {effect}; {why}"
            for name, effect in lines.items() if not (kept == name).any()]


def train(ws: Workspace, run_dir: Path, config: TrainConfig, resume: bool = False, allow_leakage: bool = False,
          stop_after: int | None = None, catalog: pd.DataFrame | None = None,
          checkpoint_state: dict | None = None, warn_leakage: bool = True, gate: bool = True,
          name: str | None = None) -> Trainer:
    """Check the split, build (or resume) the run in `run_dir`, fit. `catalog` overrides the workspace's.

    `checkpoint_state`: with `resume`, the run's `load_checkpoint_state` when the caller has
    already read it (the checkpoint holds the weights and optimiser state: read it once).
    `warn_leakage`: False for a run that leaks on purpose (`classify evaluate`'s comparisons).
    `gate`: fit the topic gate when training ends (`record_gate`; `trainer.gate` says what happened).
    `name`: what the warnings call a model that is not the run the user asked for (`Trainer.named`).
    Two trainings into one `run_dir` at once: the second stops with one line (`run_folder_lock`)."""
    run_dir = Path(run_dir)
    check_out_folder(run_dir)
    with run_folder_lock(run_dir):
        return _train(ws, run_dir, config, resume, allow_leakage, stop_after, catalog, checkpoint_state, warn_leakage,
                      gate, name)


@contextlib.contextmanager
def run_folder_lock(run_dir: Path):
    """Hold `run_dir`'s lock while a training writes it: audit N2 started two `classify train` into one
    --out at once, both passed the "already holds a trained model" check, both exited 0 naming the run,
    and only the second's model was left. A second training stops at once with one line. A POSIX record
    lock (`lockf`, as `curate.workspace.exclusive`: released by the OS however the process ends, not
    inherited by DataLoader workers) on `run_dir/.lock`, removed again on the way out (with the folder,
    when this made it and nothing else is in it), so no file is left in the user's folder; a lock file
    replaced under us is taken again. Ranks other than 0 of a distributed run (torchrun sets RANK) work
    in their rank 0's folder. Where `fcntl` is missing (Windows) there is no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
    if os.environ.get("RANK", "0") != "0" or fcntl is None:
        yield
        return
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RUN_LOCK
    for _ in range(5):
        handle = open(path, "a")
        try:
            fcntl.lockf(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                raise UsageError(f"another classify train is writing to {run_dir} right now; wait for it to finish, "
                                 "or choose another --out") from None
            raise
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break  # the lock file at the path: ours
        except FileNotFoundError:
            pass
        handle.close()  # a training that was leaving removed it: lock the one there now
    else:
        raise UsageError(f"the lock file in {run_dir} keeps changing; is another program writing to that folder?")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # still under the lock; closing the file releases it
        handle.close()
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()


def _train(ws: Workspace, run_dir: Path, config: TrainConfig, resume: bool, allow_leakage: bool,
           stop_after: int | None, catalog: pd.DataFrame | None, checkpoint_state: dict | None, warn_leakage: bool,
           gate: bool, name: str | None) -> Trainer:
    """`train` under its run folder's lock."""
    checkpoint = run_dir / CHECKPOINT
    state = None
    if resume:
        state = checkpoint_state if checkpoint_state is not None else load_checkpoint_state(run_dir)
        refuse_changes(TrainConfig.from_dict(state["config"]).comparable(), config.comparable())
    elif checkpoint.exists():
        raise UsageError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    elif holds_trained_model(run_dir):
        raise UsageError(f"{run_dir} already holds a trained model; choose another --out or delete that folder")
    elif (run_dir / META).exists():  # a model.json training would overwrite: only a run's own may be
        try:
            RunMeta.from_file(run_dir / META)
        except UsageError:
            raise UsageError(f"--out {run_dir} holds a {META} that is not a classify run's (it cannot be read as "
                             "one); choose another --out, or move that file away") from None
    if catalog is None:  # a variant catalog (comparison sub-runs, finetune folds) brings its own split
        own, leaky = check_workspace_split(ws, allow_leakage, warn=warn_leakage, probe=config.probe)
    else:
        leaky = check_split(catalog, allow_leakage, warn=warn_leakage)
    if state:
        _check_same_split(run_dir, state, own if catalog is None else catalog)
    trainer = Trainer(ws, run_dir, config, classes=state["classes"] if state else None, catalog=catalog, name=name)
    trainer.leaky = leaky
    trainer.write_left_out()
    trainer.write_trained_on()
    if state:
        if state["catalog_sha256"] != trainer.catalog_sha256:
            log.warning("note: the catalog changed since this run started, but not its split; resuming"
                        if "split_sha256" in state else
                        "warning: the catalog changed since this run started; resuming on the new one")
        trainer.load_checkpoint(state)
    trainer.fit(stop_after=stop_after)
    if gate and trainer.dist.main and trainer.next_epoch >= config.total_epochs:
        trainer.gate = record_gate(ws, run_dir, own if catalog is None else catalog, trainer)
    leave_distributed(trainer.dist)
    return trainer


def _check_same_split(run_dir: Path, state: dict, catalog: pd.DataFrame) -> None:
    """DataContractError when the split changed since the run in `run_dir` started: its first
    epochs trained on photos that may now be val or test photos (a leak no later check sees).
    A checkpoint from before split hashes were recorded is let through (the caller warns)."""
    saved = state.get("split_sha256")
    if saved is None or saved == split_sha256(labelled_rows(catalog)):
        return
    done = int(state["next_epoch"])
    epochs = "epoch 1" if done == 1 else f"epochs 1..{done}"
    raise DataContractError(f"the split changed since the run in {run_dir} started ({epochs} trained on "
                            "another split, so photos it learned from may now be val or test photos); start a new "
                            "run with another --out, or restore the catalog")


def record_gate(ws: Workspace, run_dir: Path, catalog: pd.DataFrame, trainer: Trainer) -> dict:
    """Fit the topic gate on the finished run (`classify.gate.fit_run_gate`) and record in
    model.json which gate belongs with the run (or why it has none)."""
    from classify.gate import fit_run_gate

    with cpu_speed(trainer.device):
        info = fit_run_gate(ws, run_dir, catalog, trainer.device, cache_side=trainer.config.cache_side,
                            seed=trainer.config.seed)
    meta = RunMeta.from_file(run_dir / META)
    meta.gate = info
    save_meta(run_dir, meta)
    return info
