"""What a `classify train` run keeps in its folder, and reading it back to resume.

`RunFiles` (mixed into classify.trainer.Trainer) writes checkpoint.pt after every epoch,
model.json's metadata, metrics.csv, left_out.csv and trained_on.parquet; `load_checkpoint_state` and `resumed_config`
read an interrupted run back; the content hashes say which catalog and which split a run trained on.
"""

from __future__ import annotations

import io
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import torch

from classify.config import TrainConfig
from classify.model import CHECKPOINT, META, RunMeta
from classify.plots import plot_curves
from curate import schema
from curate.errors import UsageError
from curate.workspace import atomic_write_bytes

LEFT_OUT = "left_out.csv"  # photos left out because their image would not decode, with the reason
# the photos a run learned from (train) or was chosen on (val): `classify evaluate` leaves them out of a split
# it scores, should that split hold them now (a re-split after training)
TRAINED_ON = "trained_on.parquet"
CHECKPOINT_KEYS = {"config", "classes", "next_epoch", "stage", "model", "optimizer", "scheduler", "history",
                   "best_val", "bad_epochs", "catalog_sha256"}  # what save_checkpoint writes


class RunFiles:
    """The run-folder half of `Trainer`: it reads the trainer's state (model, optimiser, scheduler,
    history, config, datasets, `dist`) and writes the files above (rank 0 alone)."""

    def save_checkpoint(self) -> None:
        if not self.dist.main:
            return
        state = {"config": asdict(self.config), "classes": self.classes, "next_epoch": self.next_epoch,
                 "stage": self.stage, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "history": self.history, "best_val": self.best_val,
                 "bad_epochs": self.bad_epochs, "catalog_sha256": self.catalog_sha256,
                 "split_sha256": self.split_sha256, "labels_sha256": self.started_labels_sha256}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.run_dir / CHECKPOINT, buffer.getvalue())

    def load_checkpoint(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        # the labels its first epochs learned, kept through every resume (a checkpoint before 2026-12-07 has none)
        self.started_labels_sha256 = state.get("labels_sha256") or self.started_labels_sha256
        self.next_epoch = state["next_epoch"]
        self.history, self.best_val, self.bad_epochs = state["history"], state["best_val"], state["bad_epochs"]
        self._set_stage(state["stage"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def meta(self) -> RunMeta:
        last = self.history[-1] if self.history else {}
        best = min((h for h in self.history if h.get("val_loss") is not None), key=lambda h: h["val_loss"],
                   default=last)
        return RunMeta(classes=self.classes, backbone=self.config.backbone, preprocess=self.eval_preprocess.to_dict(),
                       dropout=self.config.dropout, config={**asdict(self.config), "leaky_split": self.leaky,
                                                         "world_size": self.dist.world_size},
                       catalog_sha256=self.catalog_sha256, off_topic_output=self.off_topic_output,
                       metrics={"best_epoch": best.get("epoch"), "val_loss": best.get("val_loss"),
                                "val_accuracy": best.get("val_accuracy"), "epochs_run": len(self.history),
                                "train_photos": self.train_photos(), "val_photos": len(self.data["val"].rows),
                                "off_topic_train_photos": len(self.data["train"].rows) - self.train_photos(),
                                "test_photos": len(self.data["test"].rows),
                                "left_out_photos": len(self.left_out())})

    def left_out(self) -> pd.DataFrame:
        """The photos left out of every split because their image would not decode, with the reason."""
        parts = [self.data[split].left_out for split in self.data if self.data[split].left_out is not None]
        columns = [schema.PHOTO_ID, "split", "label", "reason"]
        return pd.concat([part[columns] for part in parts], ignore_index=True) if parts else pd.DataFrame(
            columns=columns)

    def write_trained_on(self) -> None:
        """`trained_on.parquet` in the run folder: the photo id and image of every train and val photo."""
        if not self.dist.main:
            return
        rows = pd.concat([self.data[split].rows.assign(split=split) for split in ("train", "val")], ignore_index=True)
        buffer = io.BytesIO()
        rows[[schema.PHOTO_ID, "sha256", "split"]].astype(str).to_parquet(buffer, index=False)
        atomic_write_bytes(self.run_dir / TRAINED_ON, buffer.getvalue())

    def write_left_out(self) -> None:
        """`left_out.csv` in the run folder when some images would not decode (removed when none)."""
        if not self.dist.main:
            return
        left_out, path = self.left_out(), self.run_dir / LEFT_OUT
        if len(left_out):
            atomic_write_bytes(path, left_out.to_csv(index=False).encode("utf-8"))
        else:
            path.unlink(missing_ok=True)

    def write_metrics(self, plot: bool = False) -> None:
        if not self.dist.main:
            return
        frame = pd.DataFrame(self.history)
        atomic_write_bytes(self.run_dir / "metrics.csv", frame.to_csv(index=False).encode("utf-8"))
        if plot and len(frame):
            plot_curves(frame, self.run_dir / "learning_curves.png")


def split_sha256(rows: pd.DataFrame) -> str:
    """A content hash of which photo is in which split (`labelled_rows`' photo ids and splits):
    what a resumed run must share with its first epochs, whatever else in the catalog changed."""
    return _pairs_sha256(rows, "split")


def labels_sha256(rows: pd.DataFrame) -> str:
    """A content hash of each photo's label (`labelled_rows`' photo ids and labels): what a run's first epochs
    learned. `curate run --train` resumes an interrupted run only on the labels it started on (review DJ 3).

    >>> rows = pd.DataFrame({"photo_id": ["a", "b"], "label": ["x", "y"], "split": ["train", "val"]})
    >>> labels_sha256(rows) == labels_sha256(rows[::-1]), labels_sha256(rows) == labels_sha256(rows.assign(label="x"))
    (True, False)
    """
    return _pairs_sha256(rows, "label")


def _pairs_sha256(rows: pd.DataFrame, column: str) -> str:
    import hashlib

    pairs = rows[[schema.PHOTO_ID, column]].astype(str).sort_values([schema.PHOTO_ID, column])
    return hashlib.sha256(pd.util.hash_pandas_object(pairs, index=False).to_numpy().tobytes()).hexdigest()


def frame_sha256(catalog: pd.DataFrame) -> str:
    """A content hash of an in-memory catalog (photo ids, labels, statuses and splits)."""
    import hashlib

    columns = catalog[[schema.PHOTO_ID, "label", "status", "split"]].astype(str)
    return hashlib.sha256(pd.util.hash_pandas_object(columns, index=False).to_numpy().tobytes()).hexdigest()


def load_checkpoint_state(run_dir: Path) -> dict:
    """The resume state saved after the last finished epoch of the run in `run_dir`."""
    checkpoint = Path(run_dir) / CHECKPOINT
    if not checkpoint.is_file():
        raise UsageError(f"nothing to resume in {run_dir} (no {CHECKPOINT}); start without --resume")
    damaged = (f"{checkpoint} is damaged or not a checkpoint of `classify train`; delete it to train the run "
               "again from the start")
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - unpickling a truncated or foreign file can raise anything
        raise UsageError(f"{damaged} ({type(exc).__name__}: {exc})"[:400]) from None
    if not isinstance(state, dict) or not CHECKPOINT_KEYS <= state.keys():
        raise UsageError(damaged)
    return state


def resumed_config(state: dict, changes: dict) -> TrainConfig:
    """The interrupted run's settings (from its `load_checkpoint_state`) with `changes` applied
    (e.g. the flags given again); UsageError naming any change other than device and workers."""
    saved = TrainConfig.from_dict(state["config"])
    refuse_changes(saved.comparable(), {**saved.comparable(), **changes})
    return replace(saved, **changes)


def refuse_changes(saved: dict, given: dict) -> None:
    """UsageError naming the settings of `given` that differ from the interrupted run's (`saved`)."""
    changed = sorted(k for k, v in given.items() if k in saved and saved[k] != v)
    if changed:
        raise UsageError(f"--resume needs the same settings as the interrupted run; these differ: {changed}")


def holds_trained_model(run_dir: Path) -> bool:
    """`run_dir` has the model.json of a training that ran to its end (checkpoint or not)."""
    try:
        return RunMeta.from_file(Path(run_dir) / META).finished
    except UsageError:  # none, or unreadable: nothing finished to protect
        return False
