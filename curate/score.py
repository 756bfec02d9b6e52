"""`curate score`: how well the stages' flags match the demo collection's ground truth.

Pure functions over (catalog, truth). Each scorecard row has the same shape: metric,
precision, recall, true/false positives, false negatives, the target and whether it is
met. Later stages (split, prefilter) add their own rows.

Definitions (populations are chosen so each filter is judged only where it could act):
- geo_outlier: rows that reached the geo filter (labelled, kept by ingest and the
  ambiguity filter, with coordinates). Positive: the recorded position is farther than
  max_km from the city its tags name
  (`true_distance_km`; the true city, except for mislabelled photos and photos taken
  elsewhere, whose tags name another city). Predicted: drop_reason geo_outlier, or
  rescued by the prefilter (geo_rescued).
- exact_duplicate grouping: pairs of stored photos. Positive pair: same truth
  `exact_dup_group`. Predicted pair: same catalog `exact_dup_group`.
- burst near-duplicates: recall over pairs of the same burst (both stored) found in
  one near-duplicate cluster; precision over pairs the clustering joined, counting as
  correct a pair from one burst or one exact-duplicate group. Pairs within the sandals
  series (near-identical by design) count neither way.
- broken files: Positive: truth broken_kind set. Predicted: dropped at ingest as a bad image.
- sandals photographer: flagged when it is the top owner of a label with at least
  DOMINANT_SHARE of the label's kept photos (before any cap and the prefilter).
- near_duplicate: pairs of photos the filter hashed, out of the sandals series. Positive
  pair: same truth `near_dup_group` (an original, its edited copies, burst frames and
  exact copies). Predicted pair: joined by the filter's near-duplicate clusters or exact
  groups. Then one recall row per edit kind (`near_dup:<kind>`): pairs of an edited copy
  and the photo it copies (`edit_of`) found together; crops are split at LARGE_CROP.
- off_topic: rows the pre-classifier scored (topic_score set). Positive: not on topic
  (truth `is_on_topic` false; `is_skyline` in truth files written before it). Predicted:
  drop_reason off_topic.
- sandals_photos_dropped: share of the sandals photographer's stored photos dropped by
  any stage (target SANDALS_DROPPED_TARGET), with how many the prefilter dropped.
- label_issue: kept photos with a label that confident learning examined
  (is_label_issue set). Positive: truth `true_label` differs from the label as ingest gave
  it (`original_label` after a relabel; an off-topic photo, whose true_label is null, counts
  as wrongly labelled). Predicted: is_label_issue. Then the same row in two parts without
  targets: `label_issue:on_topic` (photos truly of a label) and `label_issue:off_topic` (off-topic
  photos the topic cut kept; recall only).
- relabel (after `curate prefilter --relabel`): the same photos. Predicted: relabelled; right
  when the new label is the true one; missed: a wrong label whose true label is among the
  labels, left unchanged.
- geo_rescued: the geo outliers the prefilter judged (`geo_rescued` set). Positive: right label
  and on topic (only the geotag is wrong). Predicted: geo_rescued.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate import schema
from curate.errors import UsageError
from curate.filters.owners import concentration
from curate.groups import components
from curate.scrape.config import LARGE_CROP

BAD_IMAGE_REASONS = {"empty_file", "not_an_image", "truncated_image", "too_small", "decompression_bomb", "animated"}
DOMINANT_SHARE = 0.10
TARGETS = {"geo_outlier": (0.98, 0.95), "exact_duplicate": (1.0, 1.0), "burst_near_duplicate": (0.95, 0.95),
           "broken_file": (1.0, 1.0), "off_topic": (0.9, 0.9), "label_issue": (0.5, 0.5)}
# A scrape of real photos (curate ingest scrape) is held to issue H's targets.
SCRAPE_TARGETS = {**TARGETS, "off_topic": (0.95, 0.95), "label_issue": (0.7, 0.7), "near_duplicate": (0.98, 0.95)}
NEAR_DUP_RECALL_TARGET = 0.95  # per edit kind, on a scrape, except the kinds below
NO_TARGET_EDITS = ("flip", "crop>5%")  # not expected of the pHash detector (issue J's)
SANDALS_DROPPED_TARGET = 0.95


def _row(metric: str, tp: int, fp: int, fn: int, precision: float | None = None, recall: float | None = None,
         targets: dict | None = None, **extra) -> dict:
    """One scorecard row; precision/recall default to tp/(tp+fp) and tp/(tp+fn); targets
    default to the demo's."""
    if precision is None:
        precision = tp / (tp + fp) if tp + fp else None
    if recall is None:
        recall = tp / (tp + fn) if tp + fn else None
    target_p, target_r = (TARGETS if targets is None else targets).get(metric, (None, None))
    met = None
    if target_p is not None and recall is not None and (precision is not None or target_p == 0):
        met = (precision is None or precision >= target_p) and recall >= target_r
    return {"metric": metric, "precision": precision, "recall": recall, "tp": tp, "fp": fp, "fn": fn,
            "target_precision": target_p, "target_recall": target_r, "met": met, **extra}


def rejudge(row: dict, targets: dict) -> dict:
    """`row` held to `targets` (rows whose metric has no target there keep theirs)."""
    if "precision" not in row or row["metric"] not in targets:
        return row
    kept = {key: value for key, value in row.items() if key not in ("target_precision", "target_recall", "met")}
    return _row(**kept, targets=targets)


def _counts(predicted: np.ndarray, actual: np.ndarray) -> tuple[int, int, int]:
    return int((predicted & actual).sum()), int((predicted & ~actual).sum()), int((~predicted & actual).sum())


def pair_count(keys: pd.Series) -> int:
    """Number of unordered pairs of rows sharing a (non-null) key."""
    sizes = keys.dropna().value_counts().to_numpy()
    return int((sizes * (sizes - 1) // 2).sum())


def pairs_together(first: pd.Series, second: pd.Series) -> int:
    """Pairs of rows that share a key in `first` AND a key in `second`."""
    both = pd.DataFrame({"a": first, "b": second}).dropna()
    return pair_count(both["a"].astype(str) + "\x00" + both["b"].astype(str))


def score_geo(frame: pd.DataFrame, max_km: float) -> dict:
    before_geo = (frame["drop_stage"].isna() | (frame["drop_stage"] != "ingest")) & \
        (frame["drop_reason"] != "ambiguous_label")
    evaluated = before_geo & frame["label"].notna() & frame["lat"].notna()
    sub = frame[evaluated]
    # a geo outlier the prefilter rescued (its pixels vouch for the label) was still found by the filter
    rescued = sub["geo_rescued"].eq(True) if "geo_rescued" in sub else False
    predicted = ((sub["drop_reason"] == "geo_outlier") | rescued).to_numpy(bool)
    actual = (sub["true_distance_km"] > max_km).fillna(False).to_numpy(bool)
    return _row("geo_outlier", *_counts(predicted, actual), evaluated=int(evaluated.sum()))


def score_exact(frame: pd.DataFrame) -> dict:
    stored = frame[frame["sha256"].notna()]
    truth = stored["truth_exact_dup_group"].astype("string")
    # a predicted group is named by its kept photo; give singletons no key so only real groups pair up
    group = stored["exact_dup_group"]
    predicted = group.where(group.map(group.value_counts()) > 1)
    tp = pairs_together(truth, predicted)
    kept_copies = stored[(stored["status"] == schema.KEPT) & predicted.notna()].groupby("exact_dup_group").size()
    return _row("exact_duplicate", tp, pair_count(predicted) - tp, pair_count(truth) - tp,
                groups_with_two_kept_copies=int((kept_copies > 1).sum()))


def score_bursts(frame: pd.DataFrame) -> dict:
    stored = frame[frame["phash"].notna()]
    if stored.empty:
        return _row("burst_near_duplicate", 0, 0, 0, note="no perceptual hashes: run curate filter on images")
    cluster = stored["near_dup_cluster"]
    burst = stored["burst_id"].astype("string")
    exact = stored["truth_exact_dup_group"].astype("string")
    sandals = pd.Series(np.where(stored["is_sandals"], "sandals", None), index=stored.index)
    found = pairs_together(burst, cluster)
    # pairs inside the sandals series are near-identical by design: left out of precision either way
    joined = pair_count(cluster) - pairs_together(sandals, cluster)
    # a pair from one burst, one exact group or one truth near-duplicate group (a scrape's edits) is right
    near = stored["near_dup_group"].astype("string").where(~stored["is_sandals"])
    related = pd.Series(components(burst, exact, near), index=stored.index)
    correct = pairs_together(related, cluster)
    burst_pairs = pair_count(burst)
    return _row("burst_near_duplicate", found, joined - correct, burst_pairs - found,
                precision=correct / joined if joined else None, recall=found / burst_pairs if burst_pairs else None)


def score_near_duplicates(frame: pd.DataFrame, targets: dict | None = None) -> list[dict]:
    """The near_duplicate row and one recall row per edit kind (see the module docstring)."""
    stored = frame[frame["phash"].notna()].reset_index(drop=True)
    if stored.empty or stored["near_dup_group"].isna().all():
        return []
    predicted = pd.Series(components(stored["near_dup_cluster"], stored["exact_dup_group"]))
    sandals = stored["is_sandals"].to_numpy(bool)
    truth = stored["near_dup_group"].astype("string").where(~sandals)
    found = pairs_together(truth, predicted)
    joined = pair_count(predicted) - pairs_together(predicted.where(sandals), predicted)
    rows = [_row("near_duplicate", found, joined - found, pair_count(truth) - found, targets=targets,
                 evaluated=len(stored))]
    position = pd.Series(range(len(stored)), index=stored[schema.PHOTO_ID])
    copies = stored[stored["edit_of"].notna() & ~sandals & stored["edit_of"].isin(position.index)]
    together = (predicted.to_numpy()[position[copies["edit_of"]].to_numpy()]
                == predicted.to_numpy()[position[copies[schema.PHOTO_ID]].to_numpy()])
    for kind, hits in pd.Series(together, index=copies.index).groupby(edit_label(copies)):
        target = None if kind in NO_TARGET_EDITS or targets is None else NEAR_DUP_RECALL_TARGET
        recall = float(hits.mean())
        rows.append({"metric": f"near_dup:{kind}", "precision": None, "recall": recall, "tp": int(hits.sum()),
                     "fp": 0, "fn": int((~hits).sum()), "target_precision": None if target is None else 0.0,
                     "target_recall": target, "met": None if target is None else recall >= target})
    return rows


def edit_label(copies: pd.DataFrame) -> pd.Series:
    """A copy's edit kind for scoring: crops split at LARGE_CROP of a side."""
    kind = copies["edit_kind"].astype(object)
    if "edit_strength" in copies:
        crop = kind == "crop"
        large = crop & (copies["edit_strength"].astype(float) > LARGE_CROP)
        kind = kind.where(~crop, np.where(large, f"crop>{LARGE_CROP:.0%}", f"crop<={LARGE_CROP:.0%}"))
    return kind


def score_broken(frame: pd.DataFrame) -> dict:
    predicted = (frame["drop_stage"] == "ingest") & frame["drop_reason"].isin(BAD_IMAGE_REASONS)
    actual = frame["broken_kind"].notna()
    return _row("broken_file", *_counts(predicted.to_numpy(bool), actual.to_numpy(bool)))


def score_sandals(frame: pd.DataFrame) -> dict:
    sandals_owners = set(frame.loc[frame["is_sandals"].astype(bool), "owner_id"].dropna())
    # as the filter saw them: before any owner cap and before the prefilter
    before_cap = frame[((frame["status"] == schema.KEPT) | (frame["drop_reason"] == "owner_cap")
                        | (frame["drop_stage"] == "prefilter")) & frame["label"].notna()]
    table = concentration(before_cap["label"], before_cap["owner_id"])
    dominant = table[table["top_owner_share"] >= DOMINANT_SHARE]
    hit = dominant[dominant["top_owner"].isin(sandals_owners)]
    share = float(hit["top_owner_share"].max()) if len(hit) else None
    return {"metric": "sandals_photographer_flagged", "flagged": bool(len(hit)), "labels": hit["label"].tolist(),
            "top_owner_share": share, "dominant_share_threshold": DOMINANT_SHARE, "met": bool(len(hit))}


def score_split(frame: pd.DataFrame, requested_test: float | None) -> list[dict]:
    """Split rows: owners shared across splits, truth burst / duplicate groups split apart
    (both must be 0), and each label's achieved test share vs the requested one."""
    placed = frame[(frame["status"] == schema.KEPT) & frame["split"].notna()]
    spread = lambda column: int((placed.dropna(subset=[column]).groupby(column)["split"].nunique() > 1).sum())  # noqa: E731
    rows = [{"metric": "owners_shared_across_splits", "count": spread("owner_id"), "target": 0},
            {"metric": "bursts_split_across_sides", "count": spread("burst_id"), "target": 0},
            {"metric": "exact_duplicate_groups_split_across_sides", "count": spread("truth_exact_dup_group"),
             "target": 0}]
    for row in rows:
        row["met"] = row["count"] == 0
    shares = placed.groupby("label")["split"].apply(lambda s: float((s == "test").mean()))
    rows.append({"metric": "test_share_per_label", "requested": requested_test,
                 "achieved": {label: round(share, 4) for label, share in shares.items()},
                 "met": None if requested_test is None else bool(((shares - requested_test).abs() <= 0.02).all())})
    return rows


def score_prefilter(frame: pd.DataFrame) -> list[dict]:
    scored = frame[frame["topic_score"].notna()]
    predicted = (scored["drop_reason"] == "off_topic").to_numpy(bool)
    actual = ~scored["is_on_topic"].fillna(False).to_numpy(bool)
    rows = [_row("off_topic", *_counts(predicted, actual), evaluated=len(scored))]
    sandals = frame[frame["is_sandals"] & frame["sha256"].notna()]
    dropped = sandals["status"] == schema.DROPPED
    share = float(dropped.mean()) if len(sandals) else None
    rows.append({"metric": "sandals_photos_dropped", "share": share, "photos": len(sandals),
                 "dropped": int(dropped.sum()), "by_prefilter": int((sandals["drop_stage"] == "prefilter").sum()),
                 "target": SANDALS_DROPPED_TARGET, "met": share is not None and share >= SANDALS_DROPPED_TARGET})
    examined = frame[(frame["status"] == schema.KEPT) | (frame["drop_reason"] == "label_issue")]
    examined = examined[examined["is_label_issue"].notna() & examined["label"].notna()]
    if len(examined):
        predicted = examined["is_label_issue"].astype(bool).to_numpy()
        given = schema.given_label(examined)  # as ingest gave it: a relabelled photo was an issue all the same
        actual = (examined["true_label"].astype(object).fillna("") != given).to_numpy(bool)
        rows.append(_row("label_issue", *_counts(predicted, actual), evaluated=len(examined)))
        rows += label_issue_parts(predicted, actual, examined["is_on_topic"].fillna(False).to_numpy(bool))
        rows += score_relabel(examined)
    rows += score_geo_rescue(frame)
    return rows


def label_issue_parts(predicted: np.ndarray, actual: np.ndarray, on_topic: np.ndarray) -> list[dict]:
    """The label_issue row in two parts, without targets: `label_issue:on_topic` (photos of one of
    the labels: a wrong label there is a mislabel confident learning can name the right label for)
    and `label_issue:off_topic` (off-topic photos the topic cut kept: each counts as a wrong label,
    but none of the labels is right for it; recall only)."""
    rows = [_row("label_issue:on_topic", *_counts(predicted[on_topic], actual[on_topic]),
                 evaluated=int(on_topic.sum()))]
    off = ~on_topic
    if off.any():
        hits = predicted[off] & actual[off]
        rows.append({"metric": "label_issue:off_topic", "precision": None, "recall": float(hits.mean()),
                     "tp": int(hits.sum()), "fp": 0, "fn": int((~hits).sum()), "target_precision": None,
                     "target_recall": None, "met": None, "evaluated": int(off.sum())})
    return rows


def score_relabel(examined: pd.DataFrame) -> list[dict]:
    """relabel: photos confident learning examined. Predicted: relabelled (original_label set);
    right when the new label is the truth's. Missed: a photo with a wrong label whose true label is
    one of the labels examined, left as it was. No row when nothing was relabelled."""
    if "original_label" not in examined or examined["original_label"].isna().all():
        return []
    relabelled = examined["original_label"].notna().to_numpy(bool)
    truth = examined["true_label"].astype(object)
    right = (truth == examined["label"].astype(object)).to_numpy(bool)
    fixable = (truth.isin(set(examined["label"].dropna())) & (truth != schema.given_label(examined))).to_numpy(bool)
    return [_row("relabel", int((relabelled & right).sum()), int((relabelled & ~right).sum()),
                 int((~relabelled & fixable).sum()), evaluated=len(examined), relabelled=int(relabelled.sum()))]


def score_geo_rescue(frame: pd.DataFrame) -> list[dict]:
    """geo_rescued: the filter's geo outliers the prefilter judged (geo_rescued set). Positive: the
    label is right and the photo on topic (a mis-geotag); taken elsewhere (pixels of another label)
    and off-topic photos should stay dropped. Predicted: geo_rescued. No row when none was judged."""
    if "geo_rescued" not in frame or frame["geo_rescued"].isna().all():
        return []
    judged = frame[frame["geo_rescued"].notna()]
    predicted = judged["geo_rescued"].astype(bool).to_numpy()
    actual = ((judged["true_label"].astype(object) == schema.given_label(judged))
              & judged["is_on_topic"].fillna(False).astype(bool)).to_numpy(bool)
    return [_row("geo_rescued", *_counts(predicted, actual), evaluated=len(judged), rescued=int(predicted.sum()))]


def join_truth(catalog: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Catalog rows with the truth columns needed for scoring (truth's exact group renamed).
    A demo truth written before the shared columns existed gets them from its own columns."""
    truth = truth.copy()
    if "is_on_topic" not in truth and "is_skyline" in truth:
        truth["is_on_topic"] = truth["is_skyline"]
    for name in ("near_dup_group", "edit_kind", "edit_of", "edit_strength"):
        if name not in truth:
            truth[name] = None
    wanted = [schema.PHOTO_ID, "true_distance_km", "burst_id", "exact_dup_group", "broken_kind", "is_sandals",
              "is_on_topic", "true_label", "near_dup_group", "edit_kind", "edit_of", "edit_strength"]
    missing = [c for c in wanted if c not in truth.columns]
    if missing:
        raise UsageError(f"demo_truth.parquet lacks columns {missing}; re-run `curate ingest demo` in a new workspace")
    truth = truth[wanted].rename(columns={"exact_dup_group": "truth_exact_dup_group"})
    frame = catalog.merge(truth, on=schema.PHOTO_ID, how="left", validate="one_to_one")
    frame["is_sandals"] = frame["is_sandals"].fillna(False).astype(bool)
    return frame


def scorecard(catalog: pd.DataFrame, truth: pd.DataFrame, max_km: float | None,
              requested_test: float | None = None, targets: dict | None = None) -> list[dict]:
    """All scorecard rows available for this catalog (filter rows need `curate filter`,
    prefilter rows `curate prefilter`, split rows `curate split`), held to `targets`
    (default: the demo's TARGETS; a scrape's are SCRAPE_TARGETS)."""
    frame = join_truth(catalog, truth)
    rows = [score_broken(frame)]
    if frame["drop_stage"].eq("filter").any() or frame["exact_dup_group"].notna().any():
        rows += [score_geo(frame, max_km if isinstance(max_km, int | float) else 5.0),  # "off": 5 km
                 score_exact(frame), score_bursts(frame), score_sandals(frame)]
        rows += score_near_duplicates(frame, targets)
    if frame["topic_score"].notna().any():
        rows += score_prefilter(frame)
    if frame["split"].notna().any():
        rows += score_split(frame, requested_test)
    return [rejudge(row, targets) for row in rows] if targets else rows


def workspace_scorecard(ws) -> tuple[list[dict], float | None]:
    """The I/O edge of `curate score`: (scorecard rows, the filter's max_km or None) for a demo workspace.

    Raises UsageError when the workspace has no demo ground truth.
    """
    from curate.errors import UsageError
    from curate.ingest.demo import read_truth
    from curate.stage_reports import load_stage_report
    from curate.workspace import read_catalog

    if not ws.truth_path.exists():
        raise UsageError(f"no ground truth at {ws.truth_path}: `curate score` works on a generated collection "
                         "(run `curate ingest demo` or `curate ingest scrape` in this workspace first)")
    max_km = (load_stage_report(ws, "filter") or {}).get("config", {}).get("max_km")
    requested_test = (load_stage_report(ws, "split") or {}).get("config", {}).get("test")
    truth, config = read_truth(ws)
    targets = SCRAPE_TARGETS if type(config).__name__ == "ScrapeConfig" else None
    return scorecard(read_catalog(ws), truth, max_km, requested_test, targets), max_km
