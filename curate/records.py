"""Pure functions that turn source metadata into catalog rows.

Every source (demo, scrape, folder, urls, flickr, commons) first maps its metadata onto the
canonical record fields below, then `records_to_rows` normalises tags, coordinates,
dates and labels the same way for all of them. No I/O here.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd

from curate import schema
from curate.coordinates import clean_coordinates
from curate.dates import parse_taken_at
from curate.licences import canonical_licences
from curate.recipes import Recipe, squash
from curate.redact import redact_url
from curate.tags import parse_tags, tag_and_value

RECORD_FIELDS = ("source_id", "owner_id", "owner_name", "title", "tags", "label",
                 "lat", "lon", "geo_accuracy", "taken_at", "license", "url", "page_url")


def geo_accuracy(values: pd.Series, lat: pd.Series) -> pd.Series:
    """A source's position accuracy as a whole number 1..16 (Flickr's scale), null where it is
    missing, not a whole number in range, or the position itself is unusable.

    >>> geo_accuracy(pd.Series(["16", 3, "0", "x", 11]), pd.Series([1.0, 1.0, 1.0, 1.0, None])).tolist()
    [16, 3, <NA>, <NA>, <NA>]
    """
    numbers = pd.Series([to_float(value) for value in values], index=values.index, dtype="float64")
    usable = numbers.between(1, 16) & (numbers == numbers.round()) & pd.Series(lat).notna().to_numpy()
    return numbers.where(usable).astype("Int8")


def to_float(value: object) -> float | None:
    """A source's number (text or JSON) as a finite float, else None: `true`, "", "nan" are not numbers.

    >>> to_float("41.88"), to_float(" 7 "), to_float(3), to_float(""), to_float(None), to_float("nan"), to_float(True)
    (41.88, 7.0, 3.0, None, None, None, None)
    """
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def match_labels(tags: list[str], recipe: Recipe | None, indexes: tuple[dict, dict] | None = None,
                 words: list[str] | None = None) -> list[str]:
    """Recipe labels named by `tags` (a machine tag by its value too; a label of two or three words by as
    many adjacent `words`, the tags in their given order with repeats: `tags` by default), in recipe order
    (`indexes`: a prebuilt (recipe.tag_index(), recipe.phrase_index())).

    >>> from curate.recipes import Label
    >>> recipe = Recipe("r", (Label("oak", "Oak", ("quercus",)), Label("new_york", "New York")))
    >>> match_labels(["taxonomy:genus=quercus", 'dc:coverage="new york"', "genus=oak"], recipe)
    ['oak', 'new_york']

    A label of several words given as adjacent tags (`new`, `york`: how Flickr splits a typed "new
    york") is matched, and a label named only by a word of the matched spelling of another label
    (`york` of `New York`) gives way to it; a one-word label is never named by joined tags:

    >>> recipe = Recipe("r", (Label("york", "York"), Label("new_york", "New York"), Label("bedroom", "Bedroom")))
    >>> match_labels(["new", "york", "skyline"], recipe), match_labels(["newyork", "york"], recipe)
    (['new_york'], ['new_york'])
    >>> match_labels(["york", "minster"], recipe), match_labels(["garden", "bed", "room"], recipe)
    (['york'], [])
    """
    if recipe is None or not tags:
        return []
    index, phrase_index = (recipe.tag_index(), recipe.phrase_index()) if indexes is None else indexes
    found: dict[int, set[str]] = {}
    for key in map(squash, tag_and_value(tags)):
        if key in index:
            found.setdefault(index[key], set()).add(key)
    squashed = [squash(word) for word in (tags if words is None else words)]
    for n in (2, 3):
        for i in range(len(squashed) - n + 1):
            key = "".join(squashed[i:i + n])
            if key in phrase_index:
                found.setdefault(phrase_index[key], set()).add(key)
    if len(found) < 2:
        return [recipe.labels[p].name for p in sorted(found)]
    parts = set().union(*(recipe.labels[p].parts_of(key) for p, keys in found.items() for key in keys))
    return [recipe.labels[p].name for p in sorted(found) if not found[p] <= parts]


def tags_and_labels(raw_tags: pd.Series, recipe: Recipe | None) -> tuple[pd.Series, pd.Series]:
    """Parsed tags and the recipe labels they name, computed once per distinct raw value."""
    indexes = (recipe.tag_index(), recipe.phrase_index()) if recipe is not None else None

    def parse(value):
        tags = parse_tags(value)
        words = parse_tags(value, unique=False) if recipe is not None else tags  # adjacency before repeats go
        return tags, match_labels(tags, recipe, indexes, words)

    raw = raw_tags.astype(object)
    raw = raw.where(raw.map(lambda v: not isinstance(v, float) or not math.isnan(v)), None)
    if raw.map(lambda v: v is None or isinstance(v, str)).all():
        parsed = {value: parse(value) for value in pd.unique(raw)}
        pairs = raw.map(parsed.__getitem__)
    else:
        pairs = raw.map(parse)
    return pairs.map(lambda pair: list(pair[0])), pairs.map(lambda pair: list(pair[1]))


def unique_photo_ids(source: str, source_ids: pd.Series,
                     usable: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """'<source>:<id>' for each record; a repeated id gets '#2', '#3'... and is flagged.

    Returns (photo_id, is_repeat). Repeats are kept as rows (never lose data) but
    dropped with reason duplicate_photo_id. A suffix never lands on an id that is taken:
    with ids `a`, `a`, `a#2` the second `a` becomes `a#3` (same input, same ids). The first
    row of an id is the one kept, unless `usable` (e.g. "has an image URL") says a later one
    is usable and it is not: then the first usable row is (a photo listed twice, once
    without its URL, is not lost).

    >>> unique_photo_ids("f", pd.Series(["a", "a", "a#2"]))[0].tolist()
    ['f:a', 'f:a#3', 'f:a#2']
    >>> unique_photo_ids("u", pd.Series(["7", "7"]), pd.Series([False, True]))[1].tolist()
    [True, False]
    """
    base = source + ":" + source_ids.astype(str)
    is_repeat = base.duplicated()
    if usable is not None and is_repeat.any():
        order = pd.DataFrame({"base": base.to_numpy(), "unusable": ~usable.fillna(False).to_numpy(bool),
                              "position": np.arange(len(base))})
        kept = order.sort_values(["base", "unusable", "position"], kind="stable").drop_duplicates("base")["position"]
        is_repeat = pd.Series(~np.isin(np.arange(len(base)), kept.to_numpy()), index=base.index)
    photo_id = base.copy()
    if is_repeat.any():  # rare: a plain loop over the repeats only
        taken = set(base)
        next_suffix: dict[str, int] = {}
        for position in np.flatnonzero(is_repeat.to_numpy()):
            stem = base.iat[position]
            suffix = next_suffix.get(stem, 2)
            while f"{stem}#{suffix}" in taken:
                suffix += 1
            taken.add(f"{stem}#{suffix}")
            next_suffix[stem] = suffix + 1
            photo_id.iat[position] = f"{stem}#{suffix}"
    return photo_id, is_repeat


def records_to_rows(records: pd.DataFrame, source: str, recipe: Recipe | None = None, *,
                    id_prefix: str | None = None, keep_url_secrets: bool = False) -> pd.DataFrame:
    """Canonical records -> catalog rows (status kept unless the record is unusable).

    `records` must have `source_id`; the other RECORD_FIELDS are optional. A record
    may carry `drop_reason` (e.g. unsafe_path) decided by its source.
    A label given by the source (folder, column) wins; otherwise the single recipe
    label named by the tags; two or more named labels leave `label` null (ambiguous).
    photo_id is `<id_prefix>:<source_id>` (id_prefix defaults to `source`). URLs are
    stored redacted (see `curate.redact.redact_url`) unless `keep_url_secrets`.
    """
    frame = records.reset_index(drop=True)
    column = lambda name: frame[name] if name in frame.columns else pd.Series(None, index=frame.index, dtype="object")  # noqa: E731
    shown = (lambda values: values) if keep_url_secrets else _redacted  # noqa: E731
    urls = column("url")
    has_url = urls.notna() & (urls.astype("string").str.strip() != "").fillna(False).astype(bool)
    photo_id, is_repeat = unique_photo_ids(id_prefix or source, column("source_id"),
                                           has_url if has_url.any() else None)
    tags, tag_labels = tags_and_labels(column("tags"), recipe)
    given_label = clean_text(column("label").map(one_label).map(_no_controls))
    tag_label = tag_labels.map(lambda names: names[0] if len(names) == 1 else None)
    lat, lon, coord_issue = clean_coordinates(column("lat"), column("lon"), column("geo_accuracy"))
    rows = pd.DataFrame({
        schema.PHOTO_ID: photo_id,
        "source": source,
        "source_id": column("source_id").astype(str),
        "owner_id": clean_owner_ids(column("owner_id")),
        "owner_name": clean_text(column("owner_name")),
        "title": clean_text(column("title")),
        "tags": tags,
        "label": given_label.where(given_label.notna(), tag_label),
        "tag_labels": tag_labels,
        "lat": lat,
        "lon": lon,
        "coord_issue": coord_issue,
        "geo_accuracy": geo_accuracy(column("geo_accuracy"), lat),
        "taken_at": parse_taken_at(column("taken_at")),
        "license": canonical_licences(clean_text(column("license"))),  # "4" -> cc-by-2.0; unknown text as given
        "url": shown(clean_text(column("url"))),
        "page_url": shown(clean_text(column("page_url"))),
        "status": schema.KEPT,
    })
    reason = column("drop_reason").where(~is_repeat, "duplicate_photo_id")
    rows = apply_drops(rows, reason, stage="ingest")
    # why, beside the reason: the source's word (a URL that is none), or that the id repeats an earlier row's
    detail = column("error_detail").astype(object).where(~is_repeat, "repeats an earlier row's photo id")
    if detail.notna().any():
        rows["error_detail"] = detail.where(detail.notna() & (rows["status"] == schema.DROPPED), None)
    return rows


def _redacted(urls: pd.Series) -> pd.Series:
    """`redact_url` of each non-null URL (nulls stay None)."""
    return urls.map(redact_url, na_action="ignore").astype(object).where(urls.notna(), None)


# Stages that drop photos, in pipeline order. A stage decides from what the stages before it kept.
DROPPING_STAGES = ("ingest", "filter", "prefilter")


def recomputed_stages(stage: str | None) -> tuple[str, ...]:
    """The stages whose drops a run of `stage` recomputes: itself and the later dropping stages it resets
    (`reset_stage`); none for a stage that drops nothing.

    >>> recomputed_stages("filter"), recomputed_stages("split"), recomputed_stages(None)
    (('filter', 'prefilter'), (), ())
    """
    return DROPPING_STAGES[DROPPING_STAGES.index(stage):] if stage in DROPPING_STAGES else ()


def reset_stage(catalog: pd.DataFrame, stage: str) -> pd.DataFrame:
    """Reinstate rows that `stage` or any later stage dropped, so `stage` decides again from
    scratch on exactly what the earlier stages kept (re-running the pipeline gives the same
    catalog; a later stage has to run again after an earlier one). The prefilter's relabels and
    geo rescues are undone first (`undo_prefilter_repairs`)."""
    catalog = undo_prefilter_repairs(catalog)
    mine = catalog["drop_stage"].isin(recomputed_stages(stage) or (stage,))
    catalog.loc[mine, ["status", "drop_reason", "drop_stage"]] = [schema.KEPT, None, None]
    return catalog


def prefilter_repaired(catalog: pd.DataFrame) -> bool:
    """Whether `undo_prefilter_repairs` would change a label or a drop (a relabel or a geo rescue is there):
    a reader that only looks can skip the undo's copy of the whole catalog otherwise (curate.freshness)."""
    return bool(("original_label" in catalog.columns and catalog["original_label"].notna().any())
                or ("geo_rescued" in catalog.columns and catalog["geo_rescued"].eq(True).any()))


def undo_prefilter_repairs(catalog: pd.DataFrame) -> pd.DataFrame:
    """A copy of the catalog as the stages before the prefilter left it: labels that
    `curate prefilter --relabel` replaced get their `original_label` back, and photos its geo
    rescue kept (`geo_rescued`) are geo outliers dropped by the filter again. Both columns are
    cleared. Resetting the prefilter or an earlier stage starts from here, so a re-run relabels
    from the original labels, and `curate.freshness` judges ingest and the filter on it.

    >>> rows = pd.DataFrame({"label": ["b", "c"], "original_label": ["a", None], "geo_rescued": [None, True],
    ...                      "status": ["kept", "kept"], "drop_reason": [None, None], "drop_stage": [None, None]})
    >>> undo_prefilter_repairs(rows)[["label", "status", "drop_reason"]].values.tolist()
    [['a', 'kept', None], ['c', 'dropped', 'geo_outlier']]
    """
    catalog = catalog.copy()
    if "original_label" in catalog.columns:
        relabelled = catalog["original_label"].notna().to_numpy()
        catalog.loc[relabelled, "label"] = catalog.loc[relabelled, "original_label"]
        catalog["original_label"] = None
    if "geo_rescued" in catalog.columns:
        rescued = catalog["geo_rescued"].eq(True).to_numpy() & (catalog["status"] == schema.KEPT).to_numpy()
        catalog.loc[rescued, ["status", "drop_reason", "drop_stage"]] = [schema.DROPPED, "geo_outlier", "filter"]
        catalog["geo_rescued"] = None
    return catalog


def apply_drops(rows: pd.DataFrame, reason: pd.Series, stage: str) -> pd.DataFrame:
    """Drop rows where `reason` is set and the row is still kept (first reason wins)."""
    rows = rows.copy()
    if "drop_reason" not in rows.columns:
        rows["drop_reason"] = None
        rows["drop_stage"] = None
    newly = reason.notna().to_numpy() & (rows["status"] == schema.KEPT).to_numpy()
    rows.loc[newly, "status"] = schema.DROPPED
    rows.loc[newly, "drop_reason"] = reason[newly]
    rows.loc[newly, "drop_stage"] = stage
    return rows


def one_label(value: object) -> object:
    """A label column's value as one label: a list (a JSON sidecar's, a Parquet list column) holding one label
    is that label; one holding several, or none, is no label (a photo has one label; `several_labels` finds
    them, for a warning). Any other value is left as it is.

    A CSV cell holding a JSON list (`["red"]`) is read as that list, as a tags cell is; an object (`{"x": 1}`)
    is no label (its text would be a class of its own).

    >>> one_label(["red"]), one_label(["red", "black"]), one_label([]), one_label("red")
    ('red', None, None, 'red')
    >>> one_label('["red"]'), one_label('["red", "black"]'), one_label("[]"), one_label({"x": 1})
    ('red', None, None, None)
    >>> one_label('[["cat"]]'), one_label("[true]"), one_label([7])
    (None, None, 7)
    """
    value = _listed(value)
    if isinstance(value, dict):
        return None
    items = _items(value)
    if items is None:
        return value
    one = items[0] if len(items) == 1 else None
    return one if isinstance(one, (str, int, float, np.integer, np.floating)) and not isinstance(one, bool) \
        else None  # a list inside a list, an object or a boolean is no label (audit J: "['cat']", "True")


def listed_labels(value: object) -> list[str]:
    """The labels a label column's value lists (for a warning's example).

    >>> listed_labels('["red", "black"]'), listed_labels(["a", None, "b"])
    (['red', 'black'], ['a', 'b'])
    """
    value = _listed(value)
    items = _items(value)
    if items is None:
        return [] if value is None else [str(value)]
    return [str(item) for item in items]


def _items(value: object) -> list | None:
    """The non-blank items of a list value (a list, tuple or array); None for any other value."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        return None
    return [item for item in value if item is not None and str(item).strip() and item == item]


def _listed(value: object) -> object:
    """A text value that is a JSON list as that list; anything else as it is."""
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return value
        return parsed if isinstance(parsed, list) else value
    return value


def several_labels(values: pd.Series) -> pd.Series:
    """Whether each value of a label column is a list of two or more labels (see `one_label`).

    >>> several_labels(pd.Series([["a", "b"], ["a"], "a", None, '["a", "b"]'])).tolist()
    [True, False, False, False, True]
    """
    return values.map(lambda value: len(_items(_listed(value)) or ()) >= 2)


def several_labels_warning(several: pd.Series, labels: pd.Series, examples: pd.Series, noun: str, column: str,
                           fix: str) -> str | None:
    """The warning that `several` (`several_labels` of `labels`) photos name several labels and so get none, with
    the first as an example (`examples`: how to name each row), or None when none does.

    >>> labels = pd.Series([["a"], ["b", "c"]])
    >>> several_labels_warning(several_labels(labels), labels, pd.Series(["x", "y"]), "row", "the label column",
    ...                        "keep one")
    '1 row names several labels in the label column (e.g. y: b, c); a photo has one label, so it gets none: keep one'
    """
    if not several.any():
        return None
    first, count = several.idxmax(), int(several.sum())
    return (f"{count:,} {noun}{'s name' if count != 1 else ' names'} several labels in {column} (e.g. "
            f"{examples[first]}: {', '.join(listed_labels(labels[first]))}); a photo has one label, so "
            f"{'they get' if count != 1 else 'it gets'} none: {fix}")


def _no_controls(value: object) -> object:
    r"""A label's control characters (a TAB or NUL from a hand-made CSV) as spaces, runs of them as one.

    >>> _no_controls("tab\there"), _no_controls("a\x00\x00b"), _no_controls(3)
    ('tab here', 'a b', 3)
    """
    if not isinstance(value, str):
        return value
    return re.sub(r"[\x00-\x1f\x7f]+", " ", value)


# owner ids that say the owner is not known (audit AB: `unknown` on 30 photos was taken for one photographer,
# named a label's top owner and capped to 5 photos): read as no owner, never one person
PLACEHOLDER_OWNERS = frozenset({"unknown", "none", "null", "nan", "n/a", "na", "-", "--", "?", "0", "-1", "undefined",
                                "anonymous", "unknown user", "[deleted]", "deleted"})


def clean_owner_ids(values: pd.Series) -> pd.Series:
    """`clean_text`, with the placeholders of PLACEHOLDER_OWNERS (any case) null.

    >>> clean_owner_ids(pd.Series([" 123@N01", "Unknown", "N/A", "0", None, "anon", "[deleted]"])).tolist()
    ['123@N01', None, None, None, None, 'anon', None]
    """
    text = clean_text(values)
    placeholder = [isinstance(value, str) and value.casefold() in PLACEHOLDER_OWNERS for value in text]
    return text.where(~np.array(placeholder, dtype=bool), None)


def clean_text(values: pd.Series) -> pd.Series:
    """NFC, trimmed strings; blanks and missing values become null (vectorised)."""
    if values.isna().all():
        return pd.Series(None, index=values.index, dtype=object)
    text = values.astype("string").str.normalize("NFC").str.strip()
    return text.where(text != "", pd.NA).astype(object).where(lambda s: s.notna(), None)
