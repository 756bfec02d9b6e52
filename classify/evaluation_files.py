"""`RunEvaluation` (one model scored on one split, with what it left out and why) and the files
`classify evaluate` writes for it in RUN/evaluation/ (`write_evaluation`, `evaluation_folder`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from classify.evaluate import EvalReport, few_photos_warning, unmeasured_classes_warning
from classify.evaluate_figures import plot_confusion, plot_top_losses
from curate import objectstore, schema
from curate.schema import NO_LABEL
from curate.workspace import Workspace, atomic_write_bytes


@dataclass
class RunEvaluation:
    """One model scored on one split: the report plus what was left out and why."""

    run_dir: Path
    split: str
    report: EvalReport
    photos: pd.DataFrame  # the evaluated photos: photo_id, owner_id, label, image_path, predicted
    unknown_labels: dict[str, int] = field(default_factory=dict)  # label -> photos not scored
    unreadable: list[dict] = field(default_factory=list)  # photo_id, reason
    catalog_sha256: str | None = None
    model_catalog_sha256: str | None = None
    device: str = "cpu"
    comparisons: dict = field(default_factory=dict)  # classify.compare results, when asked for
    sandals_test: dict | None = None  # off-topic photos of the split's photographers: how many get a label
    trained_on: int = 0  # photos of the split the run trained on (or chose its epoch on), left out
    touching_trained: int = 0  # more photos of the split that share a photographer or a copy with those, left out
    # curate.freshness_workspace.stale_split_line of the workspace, when its split is stale
    stale_split: str | None = None
    flagged: int = 0  # scored photos the prefilter flagged as label issues (kept, not dropped), no reviewer decided
    unflagged: tuple[int, int] | None = None  # (photos, right answers) of the scored photos not flagged, when some are

    @property
    def warnings(self) -> list[str]:
        """What the figures leave out, one line each: the split's photos the run learned from, photos skipped
        (a label the model lacks, an unreadable image), a catalog other than the one trained on, the classes
        with no photo in the split. `classify evaluate` and `curate run`'s evaluate step print them all."""
        lines = []
        if self.stale_split:  # training refuses a stale split; scoring an old run on one is allowed, and said
            lines.append(f"warning: {self.stale_split}, then train and evaluate again; these figures are on the "
                         f"{self.split} photos the stale split holds, which a fresh split may change")
        if self.flagged:  # audit AP: 8 of 49 test photos were flagged, 5 of them truly wrong labels, unsaid
            one = self.flagged == 1
            lines.append(f"note: {self.flagged:,} of the {self.report.photos:,} {self.split} photos scored "
                         f"{'is' if one else 'are'} flagged as a likely wrong label (kept, not dropped); a wrong label "
                         f"in {self.split} counts as the model's mistake: look at {'it' if one else 'them'} with "
                         "`curate review` (queue label_issues)" + self._unflagged_clause())
        if self.trained_on:
            one = self.trained_on == 1
            what = (f"{self.trained_on:,} {self.split} photo{' was' if one else 's were'} this run's training or "
                    f"validation photo{'' if one else 's'} (the split changed since it was trained, or this workspace "
                    "is another collection holding the same images)")
            lines.append(left_out_line(self.trained_on, what))
        if self.touching_trained:
            one = self.touching_trained == 1
            what = (f"{self.touching_trained:,} more {self.split} photo{'' if one else 's'} share{'s' if one else ''} "
                    "a photographer or a copy with the photos this run learned from (`curate split` would have kept "
                    "them in one split)")
            lines.append(left_out_line(self.touching_trained, what))
        if self.split != "test":
            used = "trained on" if self.split == "train" else "chose its best epoch (a probe: its strength) on"
            lines.append(f"warning: the {self.split} split holds photos this run {used}, so these figures are not "
                         "a held-out measure (--split test is)")
        # these three were said by `classify evaluate` alone, not `curate run` (audit AW4)
        foreign = {label: n for label, n in self.unknown_labels.items() if label != NO_LABEL}
        if foreign:
            total = sum(foreign.values())
            detail = ", ".join(f"{label}: {n}" for label, n in foreign.items())
            lines.append(f"warning: {total} {self.split} photo{'' if total == 1 else 's'} skipped, left out of every "
                         "figure: label not among "
                         f"the model's classes ({detail})")
        if self.unknown_labels.get(NO_LABEL):
            count = self.unknown_labels[NO_LABEL]
            lines.append(f"note: {count} {self.split} photo{' has' if count == 1 else 's have'} no label, so "
                         "nothing to score against: left out")
        if self.unreadable:
            first = self.unreadable[0]
            count = len(self.unreadable)
            lines.append(f"warning: {count} {self.split} image{' is' if count == 1 else 's are'} unreadable, skipped "
                         f"(e.g. {first['photo_id']}: {first['reason']})")
        if self.catalog_changed:
            lines.append("note: the catalog is not the one this model was trained on (it changed since, or this is "
                         "another workspace); if the split changed, test photos may have been trained on")
        line = unmeasured_classes_warning(self.report.classes_without_photos, len(self.report.classes), self.split)
        few = few_photos_warning(self.report.photos, self.report.correct, self.split)  # audit T3: 6 test photos
        return lines + [text for text in (line, few) if text]

    @property
    def catalog_changed(self) -> bool:
        """The model was trained on another catalog version (the split may differ from training's)."""
        return bool(self.model_catalog_sha256) and self.model_catalog_sha256 != self.catalog_sha256

    def _unflagged_clause(self) -> str:
        """"; on the other N photos accuracy is A%" for the flagged-photos note ("" when none is left)."""
        if not self.unflagged or not self.unflagged[0]:
            return ""
        photos, right = self.unflagged
        return f"; on the other {photos:,} {self.split} photos accuracy is {right / photos:.1%}"

    def to_dict(self) -> dict:
        return {"run": str(self.run_dir), "split": self.split, "device": self.device,
                "catalog_sha256": self.catalog_sha256, "model_catalog_sha256": self.model_catalog_sha256,
                "catalog_changed_since_training": self.catalog_changed, "left_out_trained_on": self.trained_on,
                "left_out_touching_trained_on": self.touching_trained,
                "stale_split": self.stale_split, "flagged_label_issues": self.flagged,
                "unflagged_accuracy": None if not self.unflagged or not self.unflagged[0]
                else round(self.unflagged[1] / self.unflagged[0], 4),
                "skipped": {"unknown_label": dict(self.unknown_labels), "unreadable": list(self.unreadable)},
                **self.report.to_dict(), **({"sandals_test": self.sandals_test} if self.sandals_test else {}),
                **({"comparisons": self.comparisons} if self.comparisons else {})}


def left_out_line(count: int, what: str) -> str:
    """The warning on `count` photos of the split left out of every figure, `what` saying which and why.

    >>> left_out_line(1, "1 test photo was this run's").endswith("; it is left out of every figure (train a new run "
    ...                                                          "on this split to score them all)")
    True
    """
    return (f"warning: {what}; {'it is' if count == 1 else 'they are'} left out of every figure (train a new run on "
            "this split to score them all)")


def write_evaluation(evaluation: RunEvaluation, ws: Workspace, out_dir: Path | None = None) -> dict[str, Path]:
    """Write evaluation.json, the CSVs and the two PNGs (each atomically); return {name: path}.

    The test split's go to RUN/evaluation/, the held-out figures `curate report` shows; `--split val` or
    `train`'s to RUN/evaluation-val/ or RUN/evaluation-train/ (audit R: written to RUN/evaluation/, a
    train split's 100 % replaced the test evaluation and its comparisons, and the report showed it)."""
    if out_dir is None:
        out_dir = evaluation_folder(evaluation.run_dir, evaluation.split, foreign_workspace(evaluation.run_dir, ws))
    out_dir = Path(out_dir)
    report = evaluation.report
    files = {"evaluation.json": out_dir / "evaluation.json", "confusion.png": out_dir / "confusion.png",
             "top_losses.png": out_dir / "top_losses.png", "per_class.csv": out_dir / "per_class.csv",
             "per_owner.csv": out_dir / "per_owner.csv", "top_losses.csv": out_dir / "top_losses.csv"}
    for name, frame in (("per_class.csv", report.per_class), ("per_owner.csv", report.per_owner),
                        ("top_losses.csv", report.top_losses)):
        atomic_write_bytes(files[name], frame.to_csv(index=False).encode("utf-8"))
    atomic_write_bytes(files["confusion.png"], plot_confusion(report.confusion, report.classes))
    path_of = dict(zip(evaluation.photos[schema.PHOTO_ID], evaluation.photos["image_path"]))
    image_paths = [objectstore.locate(ws, path_of[photo_id]) for photo_id in report.top_losses[schema.PHOTO_ID]]
    atomic_write_bytes(files["top_losses.png"], plot_top_losses(report.top_losses, image_paths))
    payload = {**evaluation.to_dict(), "files": {name: str(path) for name, path in files.items()}}
    atomic_write_bytes(files["evaluation.json"], json.dumps(payload, indent=2).encode("utf-8"))
    return files


def evaluation_folder(run_dir: Path, split: str, other: str | None = None) -> Path:
    """Where `classify evaluate RUN --split SPLIT` writes: RUN/evaluation for test, else RUN/evaluation-SPLIT;
    on a workspace that is not the run's own (`other`, its folder's name: `foreign_workspace`), a folder of its
    own beside them, so that the run's own held-out figures, which `curate report` shows, stay (audit DH 4).

    >>> evaluation_folder(Path("runs/a"), "test").as_posix(), evaluation_folder(Path("runs/a"), "val").as_posix()
    ('runs/a/evaluation', 'runs/a/evaluation-val')
    >>> evaluation_folder(Path("runs/a"), "test", "night").as_posix()
    'runs/a/evaluation-on-night'
    """
    name = "evaluation" if split == "test" else f"evaluation-{split}"
    return Path(run_dir) / (f"{name}-on-{other}" if other else name)


def foreign_workspace(run_dir: Path, ws: Workspace) -> str | None:
    """The name of `ws`'s folder when the run in `run_dir` belongs to another workspace (it lies in another one's
    runs/ folder, at any depth: `classify tune`'s trials are runs/<search>/<trial>, review DJ 5); None for the
    run's own workspace, or a run kept outside any workspace's runs/ (`--out`)."""
    run_dir = Path(run_dir).resolve()
    homes = [folder.parent for folder in run_dir.parents if folder.name == "runs"
             and (folder.parent / "catalog.parquet").exists()]
    if not homes or homes[0] == Path(ws.root).resolve():
        return None
    return Path(ws.root).resolve().name or "workspace"
