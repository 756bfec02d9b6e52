"""`curate split`'s stage, `split_catalog` (a pure function over the catalog), its report, its per-label
table, and its I/O edge `run_split` (curate.split)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from curate import schema
from curate.errors import UsageError
from curate.groups import blank_as_missing
from curate.schema import NO_LABEL, SPLITS
from curate.split import earlier
from curate.split import notes as split_notes
from curate.split.config import (
    TOLERANCE,
    SplitConfig,
    changed_settings,
    grouping,
    one_group_by_column,
    one_group_error,
)
from curate.split.losses import cross_label_copies, cross_label_copy_warnings, label_losses, lost_label_warnings
from curate.split.placement import assign_groups, sessions, split_groups
from curate.workspace import changes_workspace


@dataclass
class SplitReport:
    config: dict
    per_label: pd.DataFrame
    groups: int
    photos_without_owner: int
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    empty_splits: dict[str, str] = field(default_factory=dict)  # requested split left empty -> its warning
    earlier: dict = field(default_factory=dict)  # what became of an earlier split's photos (curate.split.earlier)

    def to_dict(self) -> dict:
        return {"config": self.config, "groups": self.groups, "photos_without_owner": self.photos_without_owner,
                "notes": self.notes, "warnings": self.warnings, "empty_splits": self.empty_splits,
                "earlier": self.earlier, "per_label": self.per_label.replace({np.nan: None}).to_dict("records")}

    def summary(self) -> str:
        """One line for `curate split` and `curate run`: the groups and the photos per split (each command
        prints the warnings on lines of their own)."""
        photos = "/".join(f"{int(self.per_label[f'{name}_photos'].sum()):,}" if len(self.per_label) else "0"
                          for name in ("train", "val", "test"))
        return (f"{self.groups:,} group{'s' if self.groups != 1 else ''} ({grouping(self.config.get('by', 'owner'))}); "
                f"train/val/test photos {photos}")


def split_catalog(catalog: pd.DataFrame, config: SplitConfig,
                  earlier_settings: dict | None = None) -> tuple[pd.DataFrame, SplitReport]:
    """Assign `split` to every kept photo (null for dropped ones); returns (catalog, report). With
    `earlier_settings` (the earlier split's saved config; {}: not known), a photo the catalog's `split`
    already places keeps it (curate.split.earlier) unless `config.reshuffle` or those settings differ;
    None: every photo is placed afresh and the catalog's `split` plays no part (a comparison's random split)."""
    out = catalog.copy()
    out["split"] = None
    kept_mask = (out["status"] == schema.KEPT).to_numpy()
    if not kept_mask.any():
        raise UsageError("the catalog has no kept photos to split; check `curate status` (everything was dropped)")
    kept = catalog[kept_mask]
    walks = sessions(kept) if config.by != "none" else pd.Series(dtype=object)  # once: the groups and the note
    group = split_groups(kept, config.by, walks)
    if one_group_by_column(config, group, lambda: split_groups(kept, "owner", walks)):
        raise UsageError(one_group_error(config.by))
    label_codes, label_names = pd.factorize(kept["label"].fillna(NO_LABEL), sort=True)
    before = earlier.codes(kept["split"]) if earlier_settings is not None else np.full(len(kept), -1)
    changed = changed_settings(config, earlier_settings)
    keep = not config.reshuffle and not changed
    fixed = earlier.group_splits(group, before, config.fractions) if keep else None
    assignment = assign_groups(group, label_codes, len(label_names), config.fractions, config.seed, fixed=fixed)
    out.loc[kept_mask, "split"] = np.array(SPLITS, dtype=object)[assignment[group]]
    left = int(((catalog["status"] != schema.KEPT) & catalog["split"].notna()).sum()) \
        if earlier_settings is not None else 0  # photos of the earlier split dropped since
    moves = earlier.moves(before, assignment[group], left, None if fixed is None else fixed[group])
    no_owner = int(kept["owner_id"].isna().sum()) if config.by != "none" else 0
    notes = split_notes.no_owner_notes(no_owner, int(walks.notna().sum()), int(walks.nunique()))
    if config.by != "none" and walks.notna().any():
        notes += split_notes.walk_heavy_notes(split_notes.walk_table(kept, walks))
    if config.by not in ("owner", "none"):
        blank = int(blank_as_missing(kept[config.by]).isna().sum())
        notes += split_notes.empty_column_notes(config.by, blank, len(kept))
    per_label = split_table(out[kept_mask], group, config)
    notes += split_notes.off_share_notes(per_label, config)
    empty = split_notes.empty_split_reasons(per_label, config)
    warnings = split_notes.by_none_warnings(config) + split_notes.ungrouped_duplicates_warning(kept, config)
    warnings += split_notes.empty_split_warnings(empty)
    warnings += earlier.held_empty_warnings(group, label_codes, len(label_names), config.fractions, config.seed, fixed,
                                            assignment)
    largest = split_notes.largest_group(group, kept["owner_id"].reset_index(drop=True)) if config.by != "none" \
        else (0, 0)
    warnings += split_notes.short_split_warnings(per_label, config, empty, largest)
    warnings += split_notes.unevaluated_label_warnings(per_label, config, empty)
    if config.by != "none":
        warnings += split_notes.undated_cluster_warnings(*split_notes.undated_clusters(kept))
    warnings += lost_label_warnings(label_losses(catalog))
    warnings += cross_label_copy_warnings(*cross_label_copies(kept))
    earlier_notes, earlier_warnings = earlier.lines(moves, keep, changed)
    if not split_notes.kept_collage_clusters(kept):  # the advice on kept collages only where one is kept, joined
        warnings = [split_notes.without_collage_advice(line) for line in warnings]
        empty = {name: split_notes.without_collage_advice(line) for name, line in empty.items()}
    return out, SplitReport(asdict(config), per_label, int(group.max()) + 1, no_owner, earlier_notes + notes,
                            earlier_warnings + warnings, empty, moves if moves["earlier"] else {})


def split_table(kept: pd.DataFrame, group: np.ndarray, config: SplitConfig) -> pd.DataFrame:
    """Per label: photos and photographers in each split (`<split>_owners`: distinct known owners, as
    curate.filters.owners counts them; each photo without an owner is a group of its own but no
    photographer, counted in `no_owner`), requested vs achieved val/test shares."""
    frame = kept.assign(label=kept["label"].fillna(NO_LABEL), group=group)
    photos = pd.crosstab(frame["label"], frame["split"]).reindex(columns=list(SPLITS), fill_value=0)
    owners = frame.groupby(["label", "split"])["owner_id"].nunique().unstack(fill_value=0)
    owners = owners.reindex(columns=list(SPLITS), fill_value=0)
    return shares_table(photos, owners, frame["owner_id"].isna().groupby(frame["label"]).sum(), config)


def shares_table(photos: pd.DataFrame, owners: pd.DataFrame, no_owner: pd.Series, config: SplitConfig) -> pd.DataFrame:
    """`split_table` from photos and distinct known owners per label (rows) x split (columns) and the
    photos without an owner per label, counted in memory or in SQL."""
    table = pd.DataFrame({"label": photos.index, "photos": photos.sum(axis=1).to_numpy()})
    table["no_owner"] = no_owner.reindex(photos.index, fill_value=0).astype("int64").to_numpy()
    for name in SPLITS:
        table[f"{name}_photos"] = photos[name].to_numpy()
        table[f"{name}_owners"] = owners[name].reindex(photos.index, fill_value=0).to_numpy()
    table["val_requested"], table["test_requested"] = config.val, config.test
    table["val_achieved"] = table["val_photos"] / table["photos"]
    table["test_achieved"] = table["test_photos"] / table["photos"]
    table["within_tolerance"] = ((table["val_achieved"] - config.val).abs() <= TOLERANCE + 1e-9) & \
        ((table["test_achieved"] - config.test).abs() <= TOLERANCE + 1e-9)
    return table.reset_index(drop=True)


def earlier_settings(ws) -> dict:
    """The settings of the split the workspace holds (its saved report's config); {} without one or when the
    report is unreadable: the catalog's split is then kept as it is (split elsewhere), as `split_catalog` reads {}."""
    from curate.errors import DataContractError
    from curate.stage_reports import load_stage_report

    try:
        report = load_stage_report(ws, "split")
    except DataContractError:
        return {}
    return report.get("config") if isinstance(report, dict) and isinstance(report.get("config"), dict) else {}


@changes_workspace
def run_split(ws, config: SplitConfig, engine: str | None = None) -> SplitReport:
    """The I/O edge of `curate split`: read the catalog, split it, write it and reports/split.json.

    `engine`: "pandas", "duckdb" (out of core, the same split: curate.outofcore.split) or "auto"
    (DuckDB above curate.outofcore.AUTO_ROWS rows); None: $CURATE_CATALOG_ENGINE, else auto."""
    from curate import freshness
    from curate.catalog_batches import CatalogFile
    from curate.freshness_advice import workspace_flag
    from curate.freshness_workspace import load_reports
    from curate.outofcore import choose_engine
    from curate.stage_reports import mark_writing, save_stage_report

    started = time.monotonic()
    if choose_engine(engine, ws.catalog_path if ws.catalog_path.exists() else None) == "duckdb":
        from curate.outofcore.run import run_split_duckdb

        # judged in batches, as the split reads it
        reset = freshness.reset_before(CatalogFile(ws.catalog_path), load_reports(ws), "split",
                                       workspace_flag(ws)) if ws.catalog_path.exists() else []
        return run_split_duckdb(ws, config, reset, started)
    from curate.workspace import catalog_sha256, read_catalog, write_catalog

    catalog = read_catalog(ws)
    input_hash = catalog_sha256(ws)
    result, report = split_catalog(catalog, config, earlier_settings(ws))
    report.warnings[:0] = freshness.reset_before(catalog, load_reports(ws), "split", workspace_flag(ws))
    mark_writing(ws, "split")
    write_catalog(ws, result)
    save_stage_report(ws, "split", input_hash, report.to_dict(), started)
    return report
