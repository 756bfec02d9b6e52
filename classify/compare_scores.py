"""What the comparisons of classify.compare found, scored and said: both models scored like for like on
the clean test photos both can be scored on (`score_on_common_photos`, with the photos left out counted
and explained: `left_out_line`), the worth counting a missing class as an error, the sandals test of both
models, the standard errors (over training seeds, or over test photographers by bootstrap), and the
sentences and table the command line and `curate run` show (`curation_headline`, `comparison_lines`,
`comparison_table`). Pure: no files, no training.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from classify.evaluate import no_sandals_line
from curate import schema
from curate.report.explain import difference_se

# where the standard error of what curation is worth is measured when one run has only one seed
SEEDS_BENCH = "bench/curation_worth.py, docs/benchmarks.md"


def worth_counting_missing_classes(common: pd.DataFrame, left_out: pd.DataFrame, curated_photos: pd.DataFrame
                                   ) -> dict | None:
    """The worth over the common photos plus those of labels only the uncurated model lacks, counted as its
    errors (it cannot name them: losing a class is a cost of not curating, which the like-for-like figure
    leaves out); None when no photo is left out that way. {"pp", "photos", "curated_right", "line"}.

    >>> common = pd.DataFrame({"curated_correct": [True, True], "uncurated_correct": [True, False]})
    >>> left = pd.DataFrame({"photo_id": ["f1", "f2"], "label": "fungus", "model": "uncurated",
    ...                      "reason": "no_class"})
    >>> answers = pd.DataFrame({"photo_id": ["f1", "f2"], "label": "fungus", "predicted": ["fungus", "dog"]})
    >>> worth_counting_missing_classes(common, left, answers)["pp"]  # (2 + 1 right) - 1 right, over 4 photos
    50.0
    """
    lacking = left_out[(left_out["model"] == "uncurated") & (left_out["reason"] == "no_class")]
    if lacking.empty:
        return None
    answers = curated_photos.set_index(schema.PHOTO_ID)
    right = (answers["predicted"] == answers["label"]).reindex(lacking[schema.PHOTO_ID].to_numpy())
    scored = right.notna().to_numpy()
    if not scored.any():
        return None
    curated_right = int(right[scored].astype(bool).sum())
    photos = len(common) + int(scored.sum())
    pp = (int(common["curated_correct"].sum()) + curated_right - int(common["uncurated_correct"].sum())) / photos * 100
    line = (f"counting the {int(scored.sum())} photo{'s' if scored.sum() != 1 else ''} of labels the uncurated model "
            f"has no class for as its errors (the curated model got {curated_right} right), the worth over "
            f"{photos} photos would be {pp:+.1f} pp: losing a class is a cost of not curating that the like-for-"
            "like figure leaves out")
    return {"pp": round(float(pp), 4), "photos": photos, "curated_right": curated_right, "line": line}


def score_on_common_photos(clean_test: pd.DataFrame, scored: dict[str, pd.DataFrame],
                           classes: dict[str, Sequence[str]], unreadable: dict[str, Iterable[str]] | None = None
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each clean test photo's result per model, split into the photos every model scored and the others.

    A like-for-like comparison needs one set of photos: a model with no class for a test photo's label
    (the uncurated model's labels are ingest's, not the curated ones, so it can lack one) cannot be scored on it, and
    scoring the other model on it alone would compare accuracies over different photos.

    Args:
        clean_test: the test photos (photo_id, owner_id, label).
        scored: model name -> the photos it was scored on (photo_id, label, predicted), as
            `RunEvaluation.photos`.
        classes: model name -> its classes (to tell a label it lacks from an image it could not read).
        unreadable: model name -> the photo ids its evaluation skipped as unreadable (`RunEvaluation.unreadable`);
            when given, a photo a model did not score for another reason is `trained_on`: its evaluation left it
            out because the run trained or chose its epoch on it, or on a photo of its group (the split changed
            since). Without it, every such photo counts as unreadable.
    Returns:
        (common: photo_id, owner_id, label and `<model>_correct` (bool) per model, the photos every model
         scored; left_out: photo_id, label, model (a model's name, or "both" when every model missed it
         for that reason), reason ("no_class" before "unreadable" before "trained_on"), the other clean test
         photos).

    >>> test = pd.DataFrame({"photo_id": ["a", "b"], "owner_id": "o", "label": ["cat", "fungus"]})
    >>> answers = pd.DataFrame({"photo_id": ["a", "b"], "label": ["cat", "fungus"], "predicted": ["cat", "cat"]})
    >>> common, left_out = score_on_common_photos(test, {"curated": answers, "uncurated": answers[:1]},
    ...                                           {"curated": ["cat", "fungus"], "uncurated": ["cat"]})
    >>> common["photo_id"].tolist(), left_out[["label", "model", "reason"]].values.tolist()
    (['a'], [['fungus', 'uncurated', 'no_class']])
    """
    photos = clean_test[[schema.PHOTO_ID, "owner_id", "label"]].reset_index(drop=True)
    label = photos["label"].astype(object).where(photos["label"].notna(), schema.NO_LABEL)
    names = list(scored)
    missing, no_class = {}, {}
    for name in names:
        answers = scored[name].set_index(schema.PHOTO_ID)
        correct = (answers["predicted"] == answers["label"]).reindex(photos[schema.PHOTO_ID].to_numpy())
        photos[f"{name}_correct"] = correct.to_numpy(dtype=object)
        missing[name] = correct.isna().to_numpy()
        no_class[name] = missing[name] & ~label.isin(set(classes[name])).to_numpy()
    in_all = ~np.logical_or.reduce([missing[name] for name in names])
    common = photos[in_all].reset_index(drop=True)
    for name in names:
        common[f"{name}_correct"] = common[f"{name}_correct"].astype(bool)
    ids = photos[schema.PHOTO_ID]
    unread = {name: missing[name] & ~no_class[name] & (ids.isin(set(unreadable.get(name, ()))).to_numpy()
                                                        if unreadable is not None else True) for name in names}
    any_no_class = np.logical_or.reduce([no_class[name] for name in names])
    any_unread = np.logical_or.reduce([unread[name] for name in names]) & ~any_no_class
    why = {name: np.select([any_no_class, any_unread], [no_class[name], unread[name]], missing[name])
           for name in names}
    model = np.select([np.logical_and.reduce([why[name] for name in names])] + [why[name] for name in names],
                      ["both", *names], default="both")
    rest = ~in_all
    reason = np.select([any_no_class, any_unread], ["no_class", "unreadable"], "trained_on")
    left_out = pd.DataFrame({schema.PHOTO_ID: ids[rest].to_numpy(),
                             "label": label[rest].to_numpy(), "model": model[rest], "reason": reason[rest]})
    return common, left_out


def left_out_reasons(left_out: pd.DataFrame) -> list[dict]:
    """The left-out photos (`score_on_common_photos`) counted by model, reason and label, for JSON."""
    counts = left_out.groupby(["model", "reason", "label"], sort=True).size()
    return [{"model": model, "reason": reason, "label": label, "photos": int(count)}
            for (model, reason, label), count in counts.items()]


def left_out_line(left_out: pd.DataFrame) -> str | None:
    """The clean test photos left out of both models' scores (`score_on_common_photos`), counted and
    explained in one line; None when there are none.

    >>> left_out_line(pd.DataFrame({"photo_id": ["b", "c"], "label": ["fungus", "fish"],
    ...                             "model": "uncurated", "reason": "no_class"}))
    '2 test photos of fish, fungus left out of both: the uncurated model has no fish or fungus class'
    """
    if left_out.empty:
        return None
    labels = sorted(left_out["label"].unique())
    shown = ", ".join(labels[:6]) + (f" and {len(labels) - 6} more labels" if len(labels) > 6 else "")
    parts = []
    for (model, reason), group in left_out.groupby(["model", "reason"], sort=True):
        if reason == "unreadable":
            whose = "neither model could" if model == "both" else f"the {model} model could not"
            parts.append(f"{whose} read the image of {len(group)}")
            continue
        if reason == "trained_on":
            whose = "both models" if model == "both" else f"the {model} model"
            parts.append(f"{whose} trained on {len(group)} of them, or on photos of their groups (the split changed "
                         "since it was trained)")
            continue
        named = sorted(set(group["label"]) - {schema.NO_LABEL})
        whose = "neither model has" if model == "both" else f"the {model} model has"
        if named:
            parts.append(f"{whose} no {' or '.join([', '.join(named[:-1]), named[-1]] if len(named) > 1 else named)} "
                         "class")
        if len(named) < group["label"].nunique():
            parts.append(f"{int((group['label'] == schema.NO_LABEL).sum())} of them have no label")
    photos = len(left_out)
    return f"{photos} test photo{'s' if photos != 1 else ''} of {shown} left out of both: {'; '.join(parts)}"


def sandals_comparison(curated: dict | None, uncurated: dict | None) -> dict:
    """The sandals test of both models as flat numbers: off-topic photos of test photographers, the
    share each answers with a label (uncurated alone, curated behind its gate when it has one), and
    the on-topic test photos the gate wrongly answers as off-topic, and each model's on-topic test photos
    answered by the same rule (a model unsure of everything would pass the sandals test). {} when either
    was not measured."""
    if not curated or not uncurated:
        return {}
    wrongly = curated.get("on_topic_wrongly_gated") or {}
    return {"sandals_photos": curated["photos"], "uncurated_sandals_answered_share": uncurated["answered_share"],
            "curated_sandals_answered_share": curated["answered_share"],
            "curated_behind_gate": curated["behind_gate"],
            "curated_alone_sandals_answered_share": curated["model_alone_answered_share"],
            "on_topic_wrongly_gated_share": wrongly.get("share"),
            "uncurated_on_topic_answered_share": (uncurated.get("on_topic_answered") or {}).get("share"),
            "curated_on_topic_answered_share": (curated.get("on_topic_answered") or {}).get("share"),
            "off_topic_dropped": curated.get("off_topic_dropped"),
            "off_topic_elsewhere": curated.get("off_topic_elsewhere")}


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean (sample s.d. / sqrt(n)); NaN for fewer than two values."""
    values = np.asarray(list(values), dtype=np.float64)
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")


def owner_bootstrap_se(curated, uncurated, resamples: int = 2000, seed: int = 0) -> float | None:
    """Standard error (pp) of curated − uncurated accuracy over the test photographers: the owners
    resampled with replacement, both models' photos of each drawn owner counted (`per_owner` frames
    or records of the two evaluations: owner_id, photos, correct). Test photos come in
    photographers' batches, so this is the error the test set itself adds to one comparison
    (seeds add their own; a `--probe` fit has none). None with fewer than two test photographers.

    >>> rows = [{"owner_id": "a", "photos": 10, "correct": 9}, {"owner_id": "b", "photos": 10, "correct": 5}]
    >>> owner_bootstrap_se(rows, rows)
    0.0
    """
    c = pd.DataFrame(curated)
    if len(c) < 2:
        return None
    c = c.set_index("owner_id")[["photos", "correct"]]
    u = pd.DataFrame(uncurated).set_index("owner_id")[["photos", "correct"]].reindex(c.index).fillna(0)
    picks = np.random.default_rng(seed).integers(0, len(c), size=(resamples, len(c)))

    def accuracy(frame: pd.DataFrame) -> np.ndarray:
        correct, photos = frame["correct"].to_numpy(float)[picks], frame["photos"].to_numpy(float)[picks]
        return correct.sum(1) / np.maximum(photos.sum(1), 1)

    return float(np.std((accuracy(c) - accuracy(u)) * 100, ddof=1))


def worth_se(common: pd.DataFrame) -> tuple[float | None, int]:
    """(`owner_bootstrap_se` of the curated − uncurated accuracy over `common`'s test photographers, how many of its
    photos have none): `common` holds owner_id, photo_id, curated_correct, uncurated_correct. A photo without a
    photographer is a group of its own, as in `curate split` (audit DH 2: all of them were one "(unknown)"
    photographer, and with none at all the unpaired binomial error was given, 7.4 pp where both models gave the
    same answer on every photo).

    >>> same = pd.DataFrame({"owner_id": [None] * 4, "photo_id": list("abcd"), "curated_correct": [1, 0, 1, 1],
    ...                      "uncurated_correct": [1, 0, 1, 1]})
    >>> worth_se(same)
    (0.0, 4)
    """
    from classify.evaluate import owner_accuracy

    ownerless = common["owner_id"].isna()
    groups = common["owner_id"].where(~ownerless, "\x00photo " + common[schema.PHOTO_ID].astype(str))
    se = owner_bootstrap_se(*(owner_accuracy(groups, common[f"{name}_correct"]) for name in ("curated", "uncurated")))
    return se, int(ownerless.sum())


def curation_headline(worth_pp: Sequence[float], clean_test_photos: int | None = None,
                      sandals: dict | None = None, owner_se: float | None = None,
                      test_split_photos: int | None = None, photo_se: float | None = None,
                      ownerless: bool = False) -> str:
    """What curation is worth in one sentence: curated − uncurated test accuracy (mean and standard
    error over training seeds; with one seed, the standard error over test photographers when given
    as `owner_se`, else the one from the test photos alone, `photo_se`, as the report gives it beside
    the figure (audit CB: the headline said none could be given), else where it is measured) on the
    `clean_test_photos` both models were scored on ("53 of the 54" when `test_split_photos` says the
    test split holds more), "within noise of zero" when the worth is under two standard errors (audit EG F6: -9.1 pp
    at s.e. 7.9 read as a loss), then the sandals test (`sandals_comparison`'s keys) when given.

    >>> curation_headline([2.0, 4.0, 3.0]).split(" of ")[0]
    'what curation is worth: +3.0 pp (s.e. 0.6 over 3 training seeds)'
    >>> curation_headline([1.0], owner_se=2.04).split(" of ")[0]
    'what curation is worth: +1.0 pp (s.e. 2.0 over test photographers, one training seed)'
    >>> curation_headline([2.5], 40, photo_se=5.43).split(" of ")[0]
    'what curation is worth: +2.5 pp (s.e. about 5.4 from the 40 test photos alone, one training seed)'
    """
    worth = [float(value) for value in worth_pp]
    of = f" of the {test_split_photos}" if clean_test_photos and (test_split_photos or 0) > clean_test_photos else ""
    on = f" on the same {clean_test_photos}{of} clean test photos" if clean_test_photos else ""
    if len(worth) > 1:
        head = (f"what curation is worth: {np.mean(worth):+.1f} pp (s.e. {standard_error(worth):.1f} over "
                f"{len(worth)} training seeds) of curated − uncurated test accuracy{on}")
    elif owner_se is not None:  # `ownerless`: some test photos have no photographer, each its own group
        over = "test photographers and photos without one" if ownerless else "test photographers"
        head = (f"what curation is worth: {worth[0]:+.1f} pp (s.e. {owner_se:.1f} over {over}, one "
                f"training seed) of curated − uncurated test accuracy{on}")
    elif photo_se is not None:  # no photographers to resample: the binomial one, an upper bound
        photos = f" from the {clean_test_photos} test photos alone" if clean_test_photos else ""
        head = (f"what curation is worth: {worth[0]:+.1f} pp (s.e. about {photo_se:.1f}{photos}, one training "
                f"seed) of curated − uncurated test accuracy{on}")
    else:
        head = (f"what curation is worth: {worth[0]:+.1f} pp of curated − uncurated test accuracy{on}, from one "
                f"training seed (its standard error needs several seeds: {SEEDS_BENCH})")
    se = standard_error(worth) if len(worth) > 1 else owner_se if owner_se is not None else photo_se
    if se is not None and abs(float(np.mean(worth))) < 2 * se:  # as the README reads the demo's +0.6 pp (s.e. 1.3)
        head += ", within noise of zero"
    return f"{head}; {sandals_phrase(sandals)}" if sandals else head


def sandals_phrase(sandals: dict) -> str:
    """The sandals test in words, e.g. 'sandals test: of 57 off-topic photos by test photographers,
    the uncurated model labels 61%, the curated model behind its gate 3% (gate: 1% of on-topic test
    photos wrongly gated)'."""
    photos = sandals.get("sandals_photos") or 0
    if not photos:
        return no_sandals_line(sandals)
    curated = "the curated model behind its gate" if sandals.get("curated_behind_gate") else \
        "the curated model (no gate)"
    wrongly = sandals.get("on_topic_wrongly_gated_share")
    gate_cost = "" if wrongly is None else f" (gate: {wrongly:.0%} of on-topic test photos wrongly gated)"
    return (f"sandals test: of {photos} off-topic photos by test photographers, the uncurated model labels "
            f"{sandals['uncurated_sandals_answered_share']:.0%}, {curated} "
            f"{sandals['curated_sandals_answered_share']:.0%}{gate_cost}")


def comparison_table(comparisons: dict) -> pd.DataFrame:
    """One row per scored model: what it is, which test photos, how many, accuracy."""
    rows = []
    if "random_split" in comparisons:
        c = comparisons["random_split"]
        rows += [("owner split (RUN)", "workspace test split (owner-disjoint)", c["owner_split"]),
                 ("random split", "its own random test split (leaky)", c["random_split"])]
    if "uncurated" in comparisons:
        c = comparisons["uncurated"]
        # both on the clean test photos both can be scored on (all of the split unless a note says otherwise)
        test = "clean test split" if not c.get("left_out_photos") else "clean test photos both know"
        rows += [("curated (RUN)", test, c["curated"]), ("uncurated", test, c["uncurated"])]
    return pd.DataFrame([{"model": name, "scored on": test, "test photos": s["photos"],
                          "train photos": s["train_photos"], "accuracy": f"{s['accuracy']:.1%}"}
                         for name, test, s in rows])


def comparison_lines(comparisons: dict) -> list[str]:
    """The headline numbers in words, one line each."""
    lines = []
    if "random_split" in comparisons:
        c = comparisons["random_split"]
        leak = c["random_split_leakage"]
        inflation_se = c.get("leakage_inflation_se_pp")
        error = f", s.e. about {inflation_se:.1f} from the two test sets alone" \
            if isinstance(inflation_se, (int, float)) else ""
        lines.append(f"leakage inflation: {c['leakage_inflation_pp']:+.1f} pp (random − owner split{error}). In the "
                     f"random split {leak['owners_spanning_splits']} of {leak['owners']} photographers and "
                     f"{leak['near_dup_clusters_spanning_splits']} of {leak['near_dup_clusters']} near-duplicate "
                     f"clusters span splits; {leak['test_photos_whose_owner_is_in_train']:.0%} of its test photos "
                     f"are by a photographer seen in training (sub-run {c['sub_run']}).")
    if "uncurated" in comparisons:
        c = comparisons["uncurated"]
        s = c["uncurated_set"]
        excluded = s["excluded_touching_clean_test"]
        photos = c.get("common_test_photos", c["clean_test_photos"])
        lines.append(curation_headline([c["curation_worth_pp"]], photos, c if "sandals_photos" in c else None,
                                       c.get("curation_worth_se_owners_pp"), c["clean_test_photos"],
                                       difference_se(c.get("curated_accuracy"), c.get("uncurated_accuracy"),
                                                     photos), bool(c.get("test_photos_without_owner"))) + ".")
        lines.append(f"Uncurated set: {s['photos']} decodable photos "
                     f"({s['brought_back']} that curation dropped brought back); {sum(excluded.values())} left out of "
                     f"its training for touching the clean test set (test photos {excluded['in_clean_test']}, "
                     f"by test photographers {excluded['clean_test_owner']}, duplicates of test photos "
                     f"{excluded['clean_test_duplicate']}; sub-run {c['sub_run']}).")
        lines += [f"note: {note}" for note in c["notes"]]
    return lines
