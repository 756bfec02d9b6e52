"""Copies of another collection's photos: is a benchmark's test set (or any held-out set) in this one?

The leakage check (curate.leakage) looks inside one workspace. A scrape also leaks when it holds copies of
the photos a model will be tested on elsewhere: a public benchmark's test set, a client's evaluation set.
`copies_of(ws, other)` links this workspace's kept photos with every stored photo of another workspace by
the filter's own near-duplicate rule (curate.filters.clusters: pHash and its mirror, the thumbnail check,
EfficientNet-Lite0 embeddings with the window and overlap matches when both workspaces are embedded; its
near-duplicate settings as `curate filter` last ran in this workspace, else the defaults) run over the images
of both, and lists each photo of ours that shares a cluster with one of theirs. Byte-identical copies are
`exact`, the others `near`. Caches (thumbnails, hashes for images ingested before ingest computed them) may be
written in either workspace; no catalog is changed. `save_copies_report` keeps the result in
`reports/contamination.json`, which `curate report` shows under its splits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from curate import schema
from curate.errors import DataContractError, UsageError
from curate.workspace import Workspace, atomic_write_bytes, read_catalog, swap_aside

COLUMNS = ["photo_id", "split", "label", "kind", "other_photos", "other_photo_ids", "other_labels"]
SHOWN_OTHERS = 3  # other photo ids listed per photo of ours
REPORT = "contamination"  # reports/contamination.json: the last check's result
SAVED_COPIES = 1000  # copies listed in that report (all are counted)


@dataclass
class CopiesReport:
    copies: pd.DataFrame  # one row per photo of ours with a copy in the other workspace (COLUMNS)
    checked: int  # our kept photos with a stored image
    other_images: int  # distinct stored images of the other workspace
    notes: list[str] = field(default_factory=list)

    def summary(self, other: str) -> str:
        if self.copies.empty:
            return (f"no copies: none of {self.checked:,} kept photos is a copy of one of the {self.other_images:,} "
                    f"images in {other}")
        split = self.copies["split"].astype(object)
        per_split = split.where(split.notna(), "no split").value_counts()
        splits = ", ".join(f"{name} {count:,}" for name, count in per_split.items())
        exact = int((self.copies["kind"] == "exact").sum())
        return (f"{len(self.copies):,} of {self.checked:,} kept photos ({splits}) are copies of images in {other} "
                f"({exact:,} byte for byte, {len(self.copies) - exact:,} near)")

    def to_dict(self, other: str) -> dict:
        """The saved form (`save_copies_report`): counts, the summary line, notes and the first copies."""
        split = self.copies["split"].astype(object)
        per_split = split.where(split.notna(), "no split").value_counts()
        return {"against": other, "summary": self.summary(other), "checked": int(self.checked),
                "other_images": int(self.other_images), "copies_count": int(len(self.copies)),
                "exact": int((self.copies["kind"] == "exact").sum()),
                "per_split": {str(name): int(count) for name, count in per_split.items()},
                "notes": list(self.notes),
                "copies": [{name: None if pd.isna(value) else value for name, value in row.items()}
                           for row in self.copies.head(SAVED_COPIES).to_dict("records")]}


def is_workspace(ws: Workspace) -> bool:
    """Whether `ws` holds a catalog (a file, or a folder of Parquet parts)."""
    return ws.has_catalog() or swap_aside(ws.catalog_path).is_dir()


def against_fingerprint(path: Path) -> str | None:
    """What `curate run`'s check-leakage step remembers of the other collection, so that it runs again when
    that changes: a workspace's catalog hash, or for a folder of photos the names, sizes and times of its
    files; None when there is nothing there."""
    from curate.ingest.folder_scan import folder_fingerprint
    from curate.workspace import catalog_sha256

    other = Workspace(Path(path))
    if is_workspace(other):
        return catalog_sha256(other) if other.catalog_path.exists() else None
    return folder_fingerprint(other.root)


def against_workspace(ws: Workspace, path: Path, workers: int = 2) -> tuple[Workspace, list[str]]:
    """The workspace to check `ws` against, and notes: `path` itself when it is a workspace; when it is a
    folder of photos, a workspace of its own under `ws`'s cache (`cache/against/<name>-<hash>`), ingested
    (and embedded with the near-duplicate rule's backbone when `ws` is, so that both sides carry the same
    evidence) on the first check and brought up to date on the next ones (photos already there are not read
    again)."""
    from curate.embed import EmbedConfig, EmbeddingCache, run_embed
    from curate.filters import verify
    from curate.ingest.folder import FolderOptions, ingest_folder

    path = Path(path).expanduser()
    other = Workspace(path)
    if is_workspace(other):
        return other, []
    if not path.is_dir():
        raise UsageError(f"--against {path} is neither a workspace nor a folder of photos; give one of those")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    other = Workspace(ws.root / "cache" / "against" / f"{path.resolve().name or 'folder'}-{digest}")
    if other.root.resolve().is_relative_to(path.resolve()) or ws.root.resolve() == path.resolve():
        raise UsageError(f"--against {path} holds this workspace; give the other collection's own folder")
    report = ingest_folder(other, FolderOptions(folder=path, workers=workers))
    if not report.stored:  # nothing to compare with: say so, not "run curate ingest"
        reasons = ", ".join(f"{count:,} {reason}" for reason, count in sorted(report.dropped_by_reason.items()))
        raise UsageError(f"--against {path} holds no readable image ({reasons or 'no photos'}); give a folder of "
                         "photos or a workspace")
    notes = [f"{path} ingested as a workspace of its own, {other.root} ({report.fetched:,} new images read, "
             f"{report.already_done:,} there already); pass that workspace to --against next time, or the folder "
             f"again to bring it up to date"]
    # how the folder was read, as `curate ingest folder` would say it (audit P: its sidecar's label column lost to
    # the label folders without a word, so the copies' other_labels read as the folder's name)
    notes += [f"{path}: {line}" for line in report.warnings + report.notes]
    if report.warnings:
        notes.append(f"to read {path} otherwise (the options those lines name), ingest it yourself with `curate ingest "
                     "folder` and pass that workspace to --against")
    if EmbeddingCache(ws, verify.EMBEDDING_BACKBONE).dir.is_dir():
        embedded = run_embed(other, EmbedConfig(backbone=verify.EMBEDDING_BACKBONE))
        notes.append(f"{path} embedded as this workspace is ({embedded.computed:,} images computed), for the "
                     "embedding and window matches")
    return other, notes


def rule_config(ws: Workspace):
    """(FilterConfig, note): the near-duplicate settings `curate filter` last ran with in `ws` (its
    reports/filter.json: a recipe's [filter] or the flags given then), so that a copy between collections is
    what the filter calls a copy within one; the defaults when the filter has not run or its report is
    unreadable. The note names the settings taken when they differ from the defaults."""
    from curate.filters.config import FilterConfig
    from curate.settings_fields import SettingError
    from curate.stage_reports import load_stage_report

    try:
        saved = (load_stage_report(ws, "filter") or {}).get("config") or {}
    except DataContractError:
        saved = {}
    defaults = asdict(FilterConfig())
    chosen = {name: value for name, value in saved.items() if name.startswith("near_dup_") and name in defaults}
    try:
        config = FilterConfig(**chosen)
    except (SettingError, TypeError, ValueError):  # a report written by another version: the defaults
        return FilterConfig(), None
    changed = {name: value for name, value in asdict(config).items() if value != defaults[name]}
    if not changed:
        return config, None
    shown = ", ".join(f"{name} {'off' if value is None else value}" for name, value in sorted(changed.items()))
    return config, f"near-duplicate settings as `curate filter` last ran here: {shown}"


def copies_of(ws: Workspace, other: Workspace, workers: int = 2, config=None) -> CopiesReport:
    """Our kept photos that are exact or near copies of the other workspace's stored images, by the
    near-duplicate rule with `config`'s settings (a FilterConfig; None: `rule_config(ws)`)."""
    from curate.filters import clusters
    from curate.filters.run import ensure_phashes, ensure_thumbnails, grey_reader, load_embeddings

    if not is_workspace(other):
        raise UsageError(f"{other.root} holds no catalog; ingest the other collection into a workspace of its own "
                         f"first (curate ingest folder DIR -w {other.root})")
    if other.root.resolve() == ws.root.resolve():
        raise UsageError("--against names this workspace; give the workspace of the other collection")
    ours = read_catalog(ws)
    ours = ours[(ours["status"] == schema.KEPT) & ours["sha256"].notna() & ours["image_path"].notna()]
    theirs = read_catalog(other)
    theirs = theirs[theirs["sha256"].notna() & theirs["image_path"].notna()]
    report = CopiesReport(pd.DataFrame(columns=COLUMNS), len(ours), int(theirs["sha256"].nunique()))
    if ours.empty or theirs.empty:
        return report
    if config is None:
        config, note = rule_config(ws)
        report.notes += [note] if note else []
    ours, theirs = ensure_phashes(ws, ours, workers), ensure_phashes(other, theirs, workers)
    columns = [name for name in clusters.IMAGE_COLUMNS if name in ours and name in theirs]
    both = pd.concat([ours[columns], theirs[columns]], ignore_index=True)
    images = both[both["phash"].notna()].drop_duplicates("sha256")
    thumbnails = {**ensure_thumbnails(other, theirs, workers), **ensure_thumbnails(ws, ours, workers)}
    ours_vectors, theirs_vectors = load_embeddings(ws, ours), load_embeddings(other, theirs)
    embeddings = None
    read_ours, read_theirs = grey_reader(ws, ours), grey_reader(other, theirs)  # pixel matches (turns need no vectors)
    our_shas = set(ours["sha256"])
    read_grey = lambda sha: read_ours(sha) if sha in our_shas else read_theirs(sha)  # noqa: E731
    if ours_vectors is not None and theirs_vectors is not None:
        shas = pd.Index(ours_vectors[0] + theirs_vectors[0])
        first = ~shas.duplicated()  # an image in both workspaces (a byte copy) is one node, one vector
        embeddings = (shas[first].tolist(), np.vstack([ours_vectors[1], theirs_vectors[1]])[first])
    else:
        missing = " and ".join(str(w.root) for w, v in ((ws, ours_vectors), (other, theirs_vectors)) if v is None)
        report.notes.append(f"copies found by pHash alone: {missing} not embedded (crops, brightness and burst "
                            f"copies are mostly missed); run `curate embed` in each, then check again")
    cluster_notes: list[str] = []
    # every link counts here, a collage's too: a collage holding a benchmark photo holds its pixels
    labels = clusters.image_clusters(images, config, thumbnails, embeddings, cluster_notes, read_grey,
                                     workers).joined
    cluster_of = dict(zip(images["sha256"], labels))
    report.notes += [note for note in cluster_notes if note != clusters.NO_EMBEDDINGS_NOTE]
    report.copies = _copies(ours, theirs, cluster_of)
    return report


def _copies(ours: pd.DataFrame, theirs: pd.DataFrame, cluster_of: dict) -> pd.DataFrame:
    """One row per photo of ours whose image shares a cluster (or its bytes) with an image of theirs, in ours'
    order (COLUMNS). A photo's group of theirs is its cluster's photos, or, when its image is in no cluster (its
    pHash could not be read), those with its bytes: `other_photos` counts the group, `other_photo_ids` names its
    first SHOWN_OTHERS (byte-identical ones first, then theirs' order) and `other_labels` its distinct labels,
    sorted. `sha256` is never null here (`copies_of` keeps stored images only).

    >>> ours = pd.DataFrame({"photo_id": ["o1", "o2"], "sha256": ["a", "b"], "split": "test", "label": "cat"})
    >>> theirs = pd.DataFrame({"photo_id": ["t1", "t2"], "sha256": ["c", "a"], "label": ["cat", "dog"]})
    >>> _copies(ours, theirs, {"a": 0, "c": 0, "b": 1})[["photo_id", "kind", "other_photo_ids", "other_labels"]]
      photo_id   kind other_photo_ids other_labels
    0       o1  exact          t2, t1     cat, dog
    """
    # Group codes shared by both sides: one per cluster (-1: in none), then one per image after those.
    shas = pd.concat([ours["sha256"], theirs["sha256"]], ignore_index=True)
    clusters = pd.factorize(shas.map(cluster_of))[0]
    images = pd.factorize(shas)[0] + clusters.max(initial=-1) + 1
    our_cluster, their_cluster = np.split(clusters, [len(ours)])
    our_image, their_image = np.split(images, [len(ours)])
    near = np.isin(our_cluster, their_cluster[their_cluster >= 0])  # its cluster holds an image of theirs
    exact = np.isin(our_image, their_image)
    found = near | exact
    if not found.any():
        return pd.DataFrame([], columns=COLUMNS)
    group = np.where(near, our_cluster, our_image)[found]
    # each photo of theirs is a member of its cluster's group and of its image's (kept where a photo of ours needs it)
    their = theirs[[schema.PHOTO_ID, "label"]].reset_index(drop=True).assign(position=np.arange(len(theirs)),
                                                                             image=their_image)
    members = pd.concat([their.assign(group=their_cluster)[their_cluster >= 0], their.assign(group=their_image)])
    members = members[members["group"].isin(np.concatenate([group, our_image[exact]]))]
    counts = members.groupby("group").size().reindex(group).to_numpy()
    labels = members.dropna(subset=["label"]).groupby("group")["label"].agg(
        lambda named: ", ".join(sorted({str(label) for label in named})))
    ids = _first_ids(members, group, our_image[found], exact[found])
    rows = ours[found]
    columns = [rows[schema.PHOTO_ID].tolist(), _none_if_missing(rows["split"]), _none_if_missing(rows["label"]),
               np.where(exact[found], "exact", "near").tolist(), counts.tolist(),
               (ids + np.where(counts > SHOWN_OTHERS, ", …", "")).tolist(),
               labels.astype(object).reindex(group, fill_value="").tolist()]
    # built from a list of rows, so that pandas infers the columns' dtypes as it did for the loop this replaced
    return pd.DataFrame(list(zip(*columns)), columns=COLUMNS)


def _first_ids(members: pd.DataFrame, group: np.ndarray, image: np.ndarray, exact: np.ndarray) -> pd.Series:
    """The first SHOWN_OTHERS photo ids of each copy's group (`group`: its code; `image`: its image's code), ", "
    joined: those with its bytes first (when `exact`), then theirs' order. Only the groups' first SHOWN_OTHERS
    members are paired with the copies: a photo's first others in its group are among them, as at most
    SHOWN_OTHERS of its own bytes come before them (its image's first ones are paired apart)."""
    heads = members.groupby("group").head(SHOWN_OTHERS)
    copies = pd.DataFrame({"row": np.arange(len(group)), "group": group, "our_image": image})
    by_group = copies.merge(heads, on="group").drop(columns="group")
    by_image = copies[exact].drop(columns="group").merge(heads.rename(columns={"group": "our_image"}), on="our_image")
    shown = (pd.concat([by_group, by_image]).drop_duplicates(["row", "position"])
             .assign(other=lambda pairs: pairs["image"] != pairs["our_image"])
             .sort_values(["row", "other", "position"]).groupby("row").head(SHOWN_OTHERS))
    return shown.groupby("row")[schema.PHOTO_ID].agg(", ".join).reindex(copies["row"])


def _none_if_missing(values: pd.Series) -> list:
    """The values, None where missing."""
    return np.where(values.isna(), None, values.to_numpy(dtype=object)).tolist()


def save_copies_report(ws: Workspace, report: CopiesReport, other: str) -> None:
    """Keep the check's result in reports/contamination.json (with the hash of the catalog it read, so that
    `curate report` can tell when the catalog has changed since)."""
    from curate.stage_reports import save_stage_report
    from curate.workspace import catalog_sha256

    save_stage_report(ws, REPORT, catalog_sha256(ws), report.to_dict(other))


def last_check(ws: Workspace, catalog_hash: str | None = None) -> tuple[dict | None, bool]:
    """(the saved result of the last check against another collection, whether the catalog has changed since):
    (None, False) when no check ran or its file is unreadable (`curate report` says so). `catalog_hash`: the
    catalog's `catalog_sha256` when the caller has it (a large catalog takes time to hash)."""
    from curate.stage_reports import load_stage_report
    from curate.workspace import catalog_sha256

    try:
        saved = load_stage_report(ws, REPORT)
    except DataContractError:
        return None, False
    if not saved:
        return None, False
    return saved, saved.get("input_catalog_sha256") != (catalog_hash or catalog_sha256(ws))


def copies_line(saved: dict | None, stale: bool) -> str | None:
    """One line for `curate status`, `curate report` and `curate export` when the last check found copies of
    the other collection's photos in this one (None when it found none, or none ran).

    >>> copies_line({"against": "bench", "copies_count": 3, "per_split": {"train": 2, "test": 1}}, False).split("; ")[0]
    'the last `curate check-leakage --against bench` found 3 kept photos (train 2, test 1) that copy its images'
    """
    count = int((saved or {}).get("copies_count") or 0)
    if not count:
        return None
    splits = ", ".join(f"{name} {number:,}" for name, number in (saved.get("per_split") or {}).items())
    when = " (before the catalog last changed: run it again)" if stale else ""
    return (f"the last `curate check-leakage --against {saved.get('against')}` found {count:,} kept "
            f"photo{'s' if count != 1 else ''} ({splits}) that cop{'y' if count != 1 else 'ies'} its images{when}; "
            "`--drop-decisions FILE` and then `curate review --import-decisions FILE` drop them")


def drop_copies_commands(against: str) -> str:
    """The two commands that drop the copies `check-leakage --against` found (what `curate check-leakage` and the
    recipe's step say after the copies; audit CB: the command found them and named no way to drop them).

    >>> print(drop_copies_commands("../bench"))  # doctest: +NORMALIZE_WHITESPACE
    `curate check-leakage --against ../bench --drop-decisions copies.jsonl`, then
    `curate review --import-decisions copies.jsonl`, drops them
    """
    return (f"`curate check-leakage --against {against} --drop-decisions copies.jsonl`, then `curate review "
            "--import-decisions copies.jsonl`, drops them")


def write_drop_decisions(report: CopiesReport, other: Workspace, out: Path) -> int:
    """Write a review `drop` decision for each copy to `out` (JSON Lines, curate.review.journal's records; queue
    `copies`), which `curate review --import-decisions` applies; returns how many. A decision's id comes from
    the photo and the other workspace, so the same check written twice imports once."""
    from curate.review.journal import new_decision

    decisions = []
    for row in report.copies.itertuples():
        decision = new_decision(row.photo_id, "drop", queue="copies")
        decision["id"] = hashlib.sha256(f"copies\x1f{other.root.resolve()}\x1f{row.photo_id}".encode()).hexdigest()[:16]
        decisions.append(decision)
    if out.is_dir():
        raise UsageError(f"--drop-decisions {out} is a folder; give a file path such as {out / 'copies.jsonl'}")
    try:
        atomic_write_bytes(out, "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in decisions).encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write {out} ({exc.strerror or exc}); give a path you can write to") from None
    return len(decisions)
